"""The consent service's background jobs, run by the runtime's periodic scan: consents
nearing expiry announced (`consent.expiring`, once per consent)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from services.consent import service
from shared.clock import utcnow

if TYPE_CHECKING:
    from services.consent.runtime import ConsentRuntime


async def announce_expiring(
    runtime: ConsentRuntime, *, now: datetime | None = None, batch_size: int = 200
) -> int:
    """Announce the consents that expire within the configured notice of `now` (default: the
    scan's start); returns how many. One transaction per batch (`service.announce_expiring`)."""
    now = now or utcnow()
    announced = 0
    while True:
        try:
            async with runtime.db.session() as session:
                ctx = service.Context.for_system(session, runtime, now)
                done = await service.announce_expiring(
                    ctx, notice_days=runtime.settings.expiry_notice_days, batch_size=batch_size
                )
        except IntegrityError:
            # Another replica announced some of these first; the next pass skips them.
            await asyncio.sleep(0)
            continue
        if not done:
            return announced
        announced += done
