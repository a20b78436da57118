"""The referrals service's runtime: the shared runtime plus the background worker that
posts disclosures to the consent service (`jobs.deliver`)."""

from __future__ import annotations

from typing import Any

from services.referrals.clients.consent import ConsentClient
from services.referrals.config import Settings
from services.referrals.jobs import JOBS, deliver
from shared.runtime import WorkerRuntime


class ReferralsRuntime(WorkerRuntime):
    settings: Settings

    def __init__(self, settings: Settings, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            settings,
            *args,
            worker="referrals-disclosures",
            interval=settings.disclosure_interval_seconds,
            **kwargs,
        )
        self.jobs = list(JOBS)

    def consent(self) -> ConsentClient:
        return ConsentClient(self.client("consent", self.settings.consent_url))

    async def deliver_once(self) -> int:
        """A delivery pass now (tests); it waits for a pass of the worker still sending."""
        return await self.run_job(lambda: deliver(self))
