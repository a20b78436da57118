"""The consent service process: `create_app()` for uvicorn."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from services.consent import service
from services.consent.config import Settings, get_settings
from services.consent.models import Base
from services.consent.router import internal_router, router
from shared.background import PeriodicTask
from shared.runtime import ServiceRuntime, build_service_app
from shared.tokens import KeySet

log = logging.getLogger("consent")


class ConsentRuntime(ServiceRuntime):
    """The platform runtime plus the background scan that announces consents nearing expiry."""

    settings: Settings

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        super().__init__(settings, Base.metadata, source="consent", **kwargs)  # type: ignore[arg-type]
        self._expiry = PeriodicTask(
            "consent-expiry-scan", self.announce_expiring, settings.expiry_scan_interval_seconds
        )

    async def announce_expiring(self) -> int:
        return await service.announce_expiring(self.db, self, notice_days=self.settings.expiry_notice_days)

    async def start(self) -> None:
        await super().start()
        if self.settings.expiry_scan_interval_seconds > 0:
            self._expiry.start()

    async def stop(self) -> None:
        await self._expiry.stop()
        await super().stop()


def create_app(settings: Settings | None = None, *, keys: KeySet | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = ConsentRuntime(settings, keys=keys)
    return build_service_app(
        runtime,
        title="Early Help API - consent",
        description="Consent records, sharing decisions, access checks and the disclosure log.",
        routers=[router, internal_router],
    )
