"""The referrals service process: `create_app()` for uvicorn."""

from __future__ import annotations

from fastapi import FastAPI

from services.referrals.config import Settings, get_settings
from services.referrals.handlers import HANDLERS
from services.referrals.models import Base
from services.referrals.router import fhir, internal, router
from services.referrals.runtime import ReferralsRuntime
from shared.runtime import bind_handlers, build_service_app
from shared.tokens import KeySet


def create_app(settings: Settings | None = None, *, keys: KeySet | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = ReferralsRuntime(settings, Base.metadata, source="referrals", keys=keys)
    runtime.event_handlers.update(bind_handlers(runtime, HANDLERS))
    return build_service_app(
        runtime,
        title="Early Help API - referrals",
        description="Requests for Support, MASH triage and decisions, the person index, referral reports.",
        routers=[router, internal, fhir],
    )
