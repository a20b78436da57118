"""The notifications service process: `create_app()` for uvicorn (the worker is `worker.py`)."""

from __future__ import annotations

from fastapi import FastAPI

from services.notifications.config import Settings, get_settings
from services.notifications.events import build_handlers
from services.notifications.models import Base
from services.notifications.router import router
from shared.calendar import WorkingCalendar
from shared.runtime import ServiceRuntime, build_service_app
from shared.tokens import KeySet


def create_app(settings: Settings | None = None, *, keys: KeySet | None = None) -> FastAPI:
    settings = settings or get_settings()
    calendar = WorkingCalendar(settings.calendar_nation, settings.local_closure_days)
    handlers = build_handlers(calendar, early_help_managers_email=settings.early_help_managers_email or None)
    runtime = ServiceRuntime(
        settings, Base.metadata, source="notifications", keys=keys, event_handlers=handlers
    )
    return build_service_app(
        runtime,
        title="Early Help API - notifications",
        description="Deadline rules and deadlines on working days, alerts, the in-app feed, email and signed webhooks.",
        routers=[router],
    )
