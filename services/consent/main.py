"""The consent service process: `create_app()` for uvicorn."""

from __future__ import annotations

from fastapi import FastAPI

from services.consent.config import Settings, get_settings
from services.consent.handlers import HANDLERS
from services.consent.router import fhir, internal_router, router
from services.consent.runtime import ConsentRuntime
from shared.runtime import build_service_app
from shared.tokens import KeySet


def create_app(settings: Settings | None = None, *, keys: KeySet | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = ConsentRuntime(settings, keys=keys, event_handlers=HANDLERS)
    return build_service_app(
        runtime,
        title="Early Help API - consent",
        description="Consent records, sharing decisions, access checks and the disclosure log.",
        routers=[router, internal_router, fhir],
    )
