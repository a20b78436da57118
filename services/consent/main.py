"""The consent service process: `create_app()` for uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from services.consent import service
from services.consent.config import Settings, get_settings
from services.consent.models import Base
from services.consent.router import internal_router, router
from shared.runtime import ServiceRuntime, build_service_app
from shared.tokens import KeySet

log = logging.getLogger("consent")


class ConsentRuntime(ServiceRuntime):
    """The platform runtime plus the background scan that announces consents nearing expiry."""

    settings: Settings

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        super().__init__(settings, Base.metadata, source="consent", **kwargs)  # type: ignore[arg-type]
        self._expiry_task: asyncio.Task[None] | None = None

    async def announce_expiring(self) -> int:
        return await service.announce_expiring(self.db, self, notice_days=self.settings.expiry_notice_days)

    async def _expiry_loop(self) -> None:
        while True:
            try:
                await self.announce_expiring()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("consent expiry scan failed")
            await asyncio.sleep(self.settings.expiry_scan_interval_seconds)

    async def start(self) -> None:
        await super().start()
        if self.settings.expiry_scan_interval_seconds > 0:
            self._expiry_task = asyncio.create_task(self._expiry_loop(), name="consent-expiry-scan")

    async def stop(self) -> None:
        if self._expiry_task is not None:
            self._expiry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._expiry_task
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
