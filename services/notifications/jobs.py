"""The notifications worker's background jobs, run in turn on each tick (`worker.py`): the
due deadline alerts written, then pending email and webhook deliveries sent."""

from __future__ import annotations

from datetime import datetime

from services.notifications.channels.deliveries import DeliveryProcessor
from services.notifications.deadlines.alerts import alert_due
from shared.clock import utcnow
from shared.db import Database


async def write_due_alerts(db: Database, now: datetime, *, batch_size: int, worker: str) -> int:
    """Reminder, overdue and escalation alerts now due, exactly once per (deadline, stage)."""
    return await alert_due(db, now, batch_size=batch_size, worker=worker)


async def send_deliveries(deliveries: DeliveryProcessor, now: datetime) -> int:
    """Pending email and webhook deliveries, in batches of 100 until none is due (at most 100
    batches a tick); returns how many were claimed."""
    sent = 0
    for _ in range(100):
        claimed = await deliveries.run_once(now=max(now, utcnow()), limit=100)
        sent += claimed
        if claimed == 0:
            break
    return sent
