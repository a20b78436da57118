"""The referrals service's background jobs, run in turn by the runtime's worker
(`shared.runtime.WorkerRuntime`): disclosures posted to the consent service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.referrals.disclosures import RELAY
from shared.runtime import Job

if TYPE_CHECKING:
    from services.referrals.runtime import ReferralsRuntime


async def deliver(runtime: ReferralsRuntime) -> int:
    """Post due disclosures to the consent service; returns how many were accepted."""
    return await RELAY.deliver(runtime.db, lambda: runtime.consent().record_disclosure)


JOBS: list[Job] = [deliver]
