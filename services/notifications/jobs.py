"""The notifications worker's background jobs, run in turn on each tick (`worker.py`): the
due deadline alerts written, then pending email, Notify and webhook deliveries sent, then the
statuses of Notify's unfinished notifications asked for."""

from __future__ import annotations

from datetime import datetime

from services.notifications.channels.deliveries import DeliveryProcessor
from services.notifications.config import Settings
from services.notifications.deadlines.alerts import alert_due
from shared.clock import utcnow
from shared.db import Database


async def write_due_alerts(
    db: Database, now: datetime, *, batch_size: int, worker: str, settings: Settings
) -> int:
    """Reminder, overdue and escalation alerts now due, exactly once per (deadline, stage)."""
    return await alert_due(db, now, batch_size=batch_size, worker=worker, settings=settings)


async def send_deliveries(deliveries: DeliveryProcessor, now: datetime) -> int:
    """Pending email, Notify and webhook deliveries, in batches of 100 until none is due (at
    most 100 batches a tick); returns how many were claimed."""
    sent = 0
    for _ in range(100):
        claimed = await deliveries.run_once(now=max(now, utcnow()), limit=100)
        sent += claimed
        if claimed == 0:
            break
    return sent


async def poll_notify_statuses(deliveries: DeliveryProcessor, now: datetime) -> int:
    """Notify's latest status of the notifications not yet final whose check is due (one
    batch of at most 100 a tick; each delivery's checks back off and end after
    `notify_max_polls`); returns how many were asked about."""
    return await deliveries.poll_notify(now=max(now, utcnow()), limit=100)
