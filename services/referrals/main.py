"""The referrals service process: `create_app()` for uvicorn."""

from __future__ import annotations

from fastapi import FastAPI

from services.referrals.config import Settings, get_settings
from services.referrals.models import Base
from services.referrals.router import router
from shared.runtime import ServiceRuntime, build_service_app
from shared.tokens import KeySet


def create_app(settings: Settings | None = None, *, keys: KeySet | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = ServiceRuntime(settings, Base.metadata, source="referrals", keys=keys)
    return build_service_app(
        runtime,
        title="Early Help API - referrals",
        description="Requests for Support, MASH triage and decisions, the person index.",
        routers=[router],
    )
