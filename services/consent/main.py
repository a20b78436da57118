"""The consent service process: `create_app()` for uvicorn."""

from __future__ import annotations

from fastapi import FastAPI

from services.consent.config import Settings, get_settings
from services.consent.models import Base
from services.consent.router import router
from shared.runtime import ServiceRuntime, build_service_app
from shared.tokens import KeySet


def create_app(settings: Settings | None = None, *, keys: KeySet | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = ServiceRuntime(settings, Base.metadata, source="consent", keys=keys)
    return build_service_app(
        runtime,
        title="Early Help API - consent",
        description="Consent records, sharing decisions, access checks and the disclosure log.",
        routers=[router],
    )
