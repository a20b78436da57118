"""The assessments service process: `create_app()` for uvicorn."""

from __future__ import annotations

from fastapi import FastAPI

from services.assessments.app_runtime import AssessmentsRuntime
from services.assessments.config import Settings, get_settings
from services.assessments.handlers import HANDLERS
from services.assessments.jobs import JOBS
from services.assessments.models import Base
from services.assessments.router import fhir, internal, router
from shared.runtime import bind_handlers, build_service_app
from shared.tokens import KeySet


def create_app(settings: Settings | None = None, *, keys: KeySet | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = AssessmentsRuntime(settings, Base.metadata, source="assessments", keys=keys)
    runtime.event_handlers.update(bind_handlers(runtime, HANDLERS))
    runtime.jobs = list(JOBS)
    return build_service_app(
        runtime,
        title="Early Help API - assessments",
        description="Episodes, lead professional, assessments, TAF plans, reviews, step-up/down and closure.",
        routers=[router, internal, fhir],
    )
