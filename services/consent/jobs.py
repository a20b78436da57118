"""The consent service's background jobs, run by the runtime's periodic scan: consents
nearing expiry announced (`consent.expiring`, once per consent)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.consent import service

if TYPE_CHECKING:
    from services.consent.runtime import ConsentRuntime


async def announce_expiring(runtime: ConsentRuntime) -> int:
    """Announce the consents that expire within the configured notice; returns how many."""
    return await service.announce_expiring(
        runtime.db, runtime, notice_days=runtime.settings.expiry_notice_days
    )
