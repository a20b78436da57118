"""The assessments service's runtime: the shared runtime plus its access cache and the
background worker that delivers disclosures and pending step-ups."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from services.assessments.access_cache import AccessCache
from services.assessments.clients.consent import ConsentClient
from services.assessments.clients.referrals import ReferralsClient
from services.assessments.config import Settings
from shared.runtime import WorkerRuntime


class AssessmentsRuntime(WorkerRuntime):
    settings: Settings

    def __init__(self, settings: Settings, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            settings,
            *args,
            worker="assessments-worker",
            interval=settings.delivery_interval_seconds,
            **kwargs,
        )
        self.access_cache = AccessCache(settings.access_cache_seconds)

    def consent(self) -> ConsentClient:
        return ConsentClient(self.client("consent", self.settings.consent_url))

    def referrals(self) -> ReferralsClient:
        return ReferralsClient(self.client("referrals", self.settings.referrals_url))


async def assessments_runtime(request: Request) -> AssessmentsRuntime:
    return request.app.state.runtime  # type: ignore[no-any-return]


AppRuntimeDep = Annotated[AssessmentsRuntime, Depends(assessments_runtime)]
