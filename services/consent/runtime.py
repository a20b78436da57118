"""The consent service's runtime: the shared runtime plus the background scan that announces
consents nearing expiry (`jobs.announce_expiring`)."""

from __future__ import annotations

from services.consent.config import Settings
from services.consent.jobs import announce_expiring
from services.consent.models import Base
from shared.background import PeriodicTask
from shared.runtime import ServiceRuntime


class ConsentRuntime(ServiceRuntime):
    settings: Settings

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        super().__init__(settings, Base.metadata, source="consent", **kwargs)  # type: ignore[arg-type]
        self._expiry = PeriodicTask(
            "consent-expiry-scan", self.announce_expiring, settings.expiry_scan_interval_seconds
        )

    async def announce_expiring(self) -> int:
        return await announce_expiring(self)

    async def start(self) -> None:
        await super().start()
        if self.settings.expiry_scan_interval_seconds > 0:
            self._expiry.start()

    async def stop(self) -> None:
        await self._expiry.stop()
        await super().stop()
