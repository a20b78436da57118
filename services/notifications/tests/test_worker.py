"""The worker: reminder, overdue and escalation, each (deadline, stage) exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from services.notifications.models import Deadline, DeadlineAlert, Delivery, Notification
from services.notifications.worker import Worker

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # Monday 10:00 London


async def test_stages_in_order_each_once(notif):
    body = {
        "amount": 1,
        "unit": "working_days",
        "reminder_lead_hours": 4,
        "escalation_delay_hours": 4,
        "escalation_target": "mash.manager@council.example",
    }
    await notif.client.put(
        "/v1/deadline-rules/front_door_decision", json=body, headers=notif.headers("admin", scopes="admin")
    )
    await notif.event(
        "referral.received", {"referral_id": "r1", "reference": "R-1", "received_at": T0.isoformat()}
    )
    d = await notif.deadline("front_door_decision")
    due = datetime.fromisoformat(d["due_at"])
    assert due == T0 + timedelta(days=1)
    worker = Worker(notif.settings, notif.db, name="w-test")
    try:
        assert await worker.tick(now=due - timedelta(hours=5)) == (0, 0)
        assert (await worker.tick(now=due - timedelta(hours=3)))[0] == 1
        assert (await worker.tick(now=due - timedelta(hours=2)))[0] == 0  # not twice
        assert (await worker.tick(now=due + timedelta(minutes=1)))[0] == 1
        assert (await worker.tick(now=due + timedelta(hours=5)))[0] == 1
        assert (await worker.tick(now=due + timedelta(days=5)))[0] == 0
    finally:
        await worker.aclose()
    kinds = [n["kind"] for n in await notif.feed("mash", "mash-1") if n["kind"].startswith("deadline.")]
    assert kinds == ["deadline.escalated", "deadline.overdue", "deadline.reminder"]
    async with notif.db.session() as s:
        emails = (await s.scalars(select(Delivery).where(Delivery.channel == "email"))).all()
        assert [e.recipient_email for e in emails] == ["mash.manager@council.example"]
        assert "R-1" in emails[0].payload["subject"] and "front_door_decision" in emails[0].payload["subject"]


async def test_late_worker_skips_the_reminder_and_met_deadlines_stay_quiet(notif):
    await notif.event("referral.received", {"referral_id": "late", "received_at": T0.isoformat()})
    await notif.event("referral.received", {"referral_id": "done", "received_at": T0.isoformat()})
    await notif.event("referral.decided", {"referral_id": "done", "decided_at": T0.isoformat()})
    worker = Worker(notif.settings, notif.db)
    try:
        alerts, _ = await worker.tick(now=T0 + timedelta(days=30))
    finally:
        await worker.aclose()
    assert alerts == 2  # overdue + escalation of "late" only
    feed = [n for n in await notif.feed("mash") if n["kind"].startswith("deadline.")]
    assert sorted(n["data"]["stage"] for n in feed) == ["escalation", "overdue"]
    assert {n["referral_id"] for n in feed} == {"late"}


# --- real worker processes ---


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_worker(db_url: str, tmp: Path, *, batch: int = 50) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        **os.environ,
        "EH_NOTIFICATIONS_DATABASE_URL": db_url,
        "EH_NOTIFICATIONS_ENVIRONMENT": "test",
        "EH_NOTIFICATIONS_DATA_DIR": str(tmp),
        "EH_NOTIFICATIONS_WORKER_PORT": str(port),
        "EH_NOTIFICATIONS_WORKER_TICK_SECONDS": "0.1",
        "EH_NOTIFICATIONS_WORKER_BATCH_SIZE": str(batch),
        "EH_NOTIFICATIONS_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.notifications.worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, port


async def seed_overdue(notif, n: int) -> None:
    """n front-door deadlines long overdue: each owes an overdue and an escalation alert."""
    for i in range(n):
        await notif.event("referral.received", {"referral_id": f"r{i}", "received_at": T0.isoformat()})


async def counts(notif) -> tuple[int, int, int, int]:
    async with notif.db.session(write=False) as s:
        pending = await s.scalar(
            select(func.count()).select_from(Deadline).where(Deadline.next_check_at.is_not(None))
        )
        alerts = await s.scalar(select(func.count()).select_from(DeadlineAlert))
        # The deadlines' alerts (the change feed's items, issue 20, name no deadline).
        notes = await s.scalar(
            select(func.count()).select_from(Notification).where(Notification.deadline_id.is_not(None))
        )
        dupes = await s.scalar(
            select(func.count()).select_from(
                select(Notification.deadline_id, Notification.kind)
                .where(Notification.deadline_id.is_not(None))
                .group_by(Notification.deadline_id, Notification.kind)
                .having(func.count() > 1)
                .subquery()
            )
        )
    return pending, alerts, notes, dupes


async def wait_done(notif, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await counts(notif))[0] == 0:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"workers did not finish: {await counts(notif)}")


async def wait_healthy(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    metrics = await client.get(f"http://127.0.0.1:{port}/metrics")
                    assert "notifications_worker_ticks_total" in metrics.text
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("worker did not become ready")


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.mark.postgres_only
async def test_three_concurrent_workers_alert_each_stage_once(notif, tmp_path):
    n = 300
    await seed_overdue(notif, n)
    procs = [start_worker(notif.svc.db_url, tmp_path, batch=20) for _ in range(3)]
    try:
        await wait_done(notif)
    finally:
        stop([p for p, _ in procs])
    pending, alerts, notes, dupes = await counts(notif)
    assert (pending, alerts, notes, dupes) == (0, 2 * n, 2 * n, 0)


async def test_one_worker_process_then_killed_mid_batch_and_restarted(notif, tmp_path):
    n = 300
    await seed_overdue(notif, n)
    proc, _ = start_worker(notif.svc.db_url, tmp_path, batch=5)
    try:
        # Kill it hard as soon as it has written something, while work is still left (it is
        # watched from its start: by the time it answers /readyz it may be done).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (await counts(notif))[1] == 0:
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        stop([proc])
    pending, alerts, _notes, _ = await counts(notif)
    assert 0 < alerts < 2 * n and pending > 0, (pending, alerts)
    proc2, port = start_worker(notif.svc.db_url, tmp_path, batch=5)
    try:
        await wait_healthy(port)
        await wait_done(notif)
    finally:
        stop([proc2])
    assert await counts(notif) == (0, 2 * n, 2 * n, 0)
