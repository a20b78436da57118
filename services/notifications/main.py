"""The notifications service process: `create_app()` for uvicorn (the worker is `worker.py`)."""

from __future__ import annotations

from fastapi import FastAPI

from services.notifications.config import Settings, get_settings
from services.notifications.handlers import HANDLERS
from services.notifications.models import Base
from services.notifications.router import fhir, router
from services.notifications.runtime import NotificationsRuntime
from shared.runtime import bind_handlers, build_service_app
from shared.tokens import KeySet


def create_app(settings: Settings | None = None, *, keys: KeySet | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = NotificationsRuntime(settings, Base.metadata, source="notifications", keys=keys)
    runtime.event_handlers.update(bind_handlers(runtime, HANDLERS))
    return build_service_app(
        runtime,
        title="Early Help API - notifications",
        description="Deadline rules and deadlines on working days, alerts, the in-app feed, email and signed webhooks.",
        routers=[router, fhir],
    )
