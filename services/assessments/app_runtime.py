"""The assessments service's runtime: the shared runtime plus its access cache and the
background worker that delivers disclosures and pending step-ups."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from services.assessments.access_cache import AccessCache
from services.assessments.clients.consent import ConsentClient
from services.assessments.clients.referrals import ReferralsClient
from services.assessments.config import Settings
from shared.background import PeriodicTask
from shared.runtime import ServiceRuntime

log = logging.getLogger("assessments.worker")

Job = Callable[["AssessmentsRuntime"], Awaitable[object]]


class AssessmentsRuntime(ServiceRuntime):
    settings: Settings

    def __init__(self, settings: Settings, *args: object, **kwargs: object) -> None:
        super().__init__(settings, *args, **kwargs)  # type: ignore[arg-type]
        self.access_cache = AccessCache(settings.access_cache_seconds)
        self.jobs: list[Job] = []
        # Passes never overlap in one process: a pass called directly waits for a woken one
        # that is still sending, instead of finding its rows leased and returning early.
        self._jobs_lock = asyncio.Lock()
        self._worker = PeriodicTask(
            "assessments-worker", self.run_jobs_once, settings.delivery_interval_seconds
        )

    def consent(self) -> ConsentClient:
        return ConsentClient(self.client("consent", self.settings.consent_url))

    def referrals(self) -> ReferralsClient:
        return ReferralsClient(self.client("referrals", self.settings.referrals_url))

    def wake_worker(self) -> None:
        self._worker.wake()

    async def run_jobs_once(self) -> None:
        async with self._jobs_lock:
            for job in self.jobs:
                try:
                    await job(self)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("background job failed", extra={"job": getattr(job, "__name__", "job")})

    async def start(self) -> None:
        await super().start()
        if self.relay_enabled:
            self._worker.start()

    async def stop(self) -> None:
        await self._worker.stop()
        await super().stop()


async def assessments_runtime(request: Request) -> AssessmentsRuntime:
    return request.app.state.runtime  # type: ignore[no-any-return]


AppRuntimeDep = Annotated[AssessmentsRuntime, Depends(assessments_runtime)]
