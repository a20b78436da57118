"""The assessments service process: `create_app()` for uvicorn."""

from __future__ import annotations

from fastapi import FastAPI

from services.assessments import service
from services.assessments.access import deliver_disclosures
from services.assessments.app_runtime import AssessmentsRuntime
from services.assessments.config import Settings, get_settings
from services.assessments.models import Base
from services.assessments.router import internal, router
from shared.events import EventEnvelope
from shared.runtime import build_service_app
from shared.tokens import KeySet


def create_app(settings: Settings | None = None, *, keys: KeySet | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = AssessmentsRuntime(settings, Base.metadata, source="assessments", keys=keys)

    async def referral_decided(session, envelope: EventEnvelope) -> None:  # type: ignore[no-untyped-def]
        await service.on_referral_decided(session, runtime, envelope)

    async def consent_withdrawn(session, envelope: EventEnvelope) -> None:  # type: ignore[no-untyped-def]
        await service.on_consent_withdrawn(session, runtime, envelope)

    runtime.event_handlers.update(
        {"referral.decided": referral_decided, "consent.withdrawn": consent_withdrawn}
    )
    runtime.jobs = [deliver_disclosures, service.retry_pending_step_ups]
    return build_service_app(
        runtime,
        title="Early Help API - assessments",
        description="Episodes, lead professional, assessments, TAF plans, reviews, step-up/down and closure.",
        routers=[router, internal],
    )
