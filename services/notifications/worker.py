"""The notifications worker: `python -m services.notifications.worker`.

Each tick runs the jobs of `jobs.py`: it writes the due deadline alerts (reminder, overdue,
escalation; exactly once per (deadline, stage)), then sends pending email, GOV.UK Notify and
webhook deliveries and asks Notify for the status of what it has not finished. Beside the loop it
serves `/healthz`, `/readyz` and `/metrics` on `EH_NOTIFICATIONS_WORKER_PORT`. Any number of
workers may run at once (see `deadlines/alerts.py` and `channels/deliveries.py`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import datetime

import uvicorn
from fastapi import FastAPI

from services.notifications import jobs
from services.notifications.channels.deliveries import DeliveryProcessor
from services.notifications.config import Settings, get_settings
from shared.app import create_service_app
from shared.clock import utcnow
from shared.db import Database
from shared.logs import configure_logging

log = logging.getLogger("notifications.worker")


class Worker:
    def __init__(self, settings: Settings, db: Database | None = None, *, name: str | None = None) -> None:
        self.settings = settings
        self.db = db or Database(settings.db_url)
        self._own_db = db is None
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.deliveries = DeliveryProcessor(self.db, settings)
        self.alerts_total = 0
        self.deliveries_total = 0
        self.ticks = 0

    async def tick(self, now: datetime | None = None) -> tuple[int, int]:
        """One pass: alerts written, deliveries sent."""
        now = now or utcnow()
        alerts = await jobs.write_due_alerts(
            self.db, now, batch_size=self.settings.worker_batch_size, worker=self.name, settings=self.settings
        )
        sent = await jobs.send_deliveries(self.deliveries, now)
        if self.settings.uses_notify:
            await jobs.poll_notify_statuses(self.deliveries, now)
        self.ticks += 1
        self.alerts_total += alerts
        self.deliveries_total += sent
        return alerts, sent

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                alerts, sent = await self.tick()
                if alerts or sent:
                    log.info("tick", extra={"alerts": alerts, "deliveries": sent})
            except Exception:
                log.exception("worker tick failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.settings.worker_tick_seconds)
            except TimeoutError:
                pass

    async def aclose(self) -> None:
        await self.deliveries.aclose()
        if self._own_db:
            await self.db.dispose()


def create_worker_app(worker: Worker) -> FastAPI:
    async def ready(_app: FastAPI) -> bool:
        return await worker.db.ping()

    app = create_service_app(
        title="Early Help API - notifications worker", service="notifications-worker", ready_check=ready
    )
    metrics = app.state.metrics
    ticks = metrics.counter("notifications_worker_ticks_total", "Worker ticks", ["service"])
    alerts = metrics.counter("notifications_alerts_total", "Deadline alerts written", ["service"])
    sent = metrics.counter("notifications_deliveries_total", "Email/webhook deliveries sent", ["service"])
    app.state.counters = (ticks, alerts, sent)
    return app


async def main() -> None:
    settings = get_settings()
    configure_logging("notifications-worker", settings.log_level)
    worker = Worker(settings)
    app = create_worker_app(worker)
    ticks, alerts, sent = app.state.counters
    original_tick = worker.tick

    async def counted_tick(now: datetime | None = None) -> tuple[int, int]:
        a, s = await original_tick(now)
        ticks.labels("notifications-worker").inc()
        alerts.labels("notifications-worker").inc(a)
        sent.labels("notifications-worker").inc(s)
        return a, s

    worker.tick = counted_tick  # type: ignore[method-assign]
    server = uvicorn.Server(
        uvicorn.Config(app, host=settings.host, port=settings.worker_port, log_config=None, access_log=False)
    )
    stop = asyncio.Event()
    loop_task = asyncio.create_task(worker.run(stop), name="notifications-worker-loop")
    try:
        await server.serve()  # returns on SIGINT/SIGTERM
    finally:
        stop.set()
        await loop_task
        await worker.aclose()


if __name__ == "__main__":
    asyncio.run(main())
