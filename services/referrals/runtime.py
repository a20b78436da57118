"""The referrals service's runtime: the shared runtime plus the background worker that
posts disclosures to the consent service (`disclosures.deliver`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from services.referrals.clients.consent import ConsentClient
from services.referrals.config import Settings
from shared.background import PeriodicTask
from shared.runtime import ServiceRuntime

log = logging.getLogger("referrals.worker")


class ReferralsRuntime(ServiceRuntime):
    settings: Settings

    def __init__(self, settings: Settings, *args: Any, **kwargs: Any) -> None:
        super().__init__(settings, *args, **kwargs)
        # Passes never overlap: a pass called directly (tests) waits for a woken one.
        self._pass_lock = asyncio.Lock()
        self._worker = PeriodicTask(
            "referrals-disclosures", self.deliver_once, settings.disclosure_interval_seconds
        )

    def consent(self) -> ConsentClient:
        return ConsentClient(self.client("consent", self.settings.consent_url))

    def wake_worker(self) -> None:
        self._worker.wake()

    async def deliver_once(self) -> int:
        from services.referrals.disclosures import deliver

        async with self._pass_lock:
            return await deliver(self)

    async def start(self) -> None:
        await super().start()
        if self.relay_enabled:
            self._worker.start()

    async def stop(self) -> None:
        await self._worker.stop()
        await super().stop()
