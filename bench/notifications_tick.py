"""Benchmark: one worker tick against 1,000,000 open deadlines on PostgreSQL.

    out=$(.venv/bin/python -m devtools.pg start)
    EH_BENCH_PG_URL=$(echo "$out"|head -1) .venv/bin/python -m bench.notifications_tick --deadlines 1000000 --due 10000
    .venv/bin/python -m devtools.pg stop $(echo "$out"|tail -1)

Loads the deadlines with COPY into a fresh database migrated by the real Alembic
migrations, then times (1) the worker's due query (the claim, FOR UPDATE SKIP LOCKED, one
batch) and (2) a full alert pass that takes `--due` reminders to the feed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import text

from services.notifications.config import Settings
from services.notifications.deadlines.alerts import alert_due
from services.notifications.deadlines.repository import due_query
from shared.db import Database, alembic_upgrade

SERVICE_DIR = Path(__file__).resolve().parent.parent / "services" / "notifications"
COLUMNS = [
    "id",
    "kind",
    "subject_type",
    "subject_id",
    "referral_id",
    "team",
    "escalation_target",
    "status",
    "opened_at",
    "due_at",
    "reminder_at",
    "escalation_at",
    "next_stage",
    "next_check_at",
    "created_at",
]


def rows(n: int, due: int, now: datetime):
    for i in range(n):
        rid = f"r{i}"
        if i < due:
            reminder = now - timedelta(minutes=1 + i % 50)
            due_at = reminder + timedelta(hours=4)
        else:
            due_at = now + timedelta(days=1 + i % 300, minutes=i % 1440)
            reminder = due_at - timedelta(hours=4)
        yield (
            str(uuid.uuid4()),
            "front_door_decision",
            "referral",
            rid,
            rid,
            "mash",
            "mash",
            "open",
            now - timedelta(days=1),
            due_at,
            reminder,
            due_at + timedelta(hours=4),
            "reminder",
            reminder,
            now,
        )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deadlines", type=int, default=1_000_000)
    ap.add_argument("--due", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    base = os.environ["EH_BENCH_PG_URL"]
    name = f"bench_notif_{uuid.uuid4().hex[:8]}"
    plain = base.replace("postgresql+asyncpg", "postgresql")
    admin = await asyncpg.connect(plain + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{base}/{name}"
    try:
        await asyncio.to_thread(alembic_upgrade, SERVICE_DIR, url)
        now = datetime.now(UTC)
        conn = await asyncpg.connect(f"{plain}/{name}")
        t = time.perf_counter()
        await conn.copy_records_to_table(
            "deadline", records=rows(args.deadlines, args.due, now), columns=COLUMNS
        )
        await conn.execute("ANALYZE deadline")
        print(f"loaded {args.deadlines:,} open deadlines with COPY in {time.perf_counter() - t:.1f} s")
        await conn.close()

        db = Database(url)
        stmt = due_query(now, args.batch, postgres=True)
        async with db.session() as s:
            plan = (
                (
                    await s.execute(
                        text(
                            "EXPLAIN ANALYZE "
                            + str(
                                stmt.compile(dialect=s.bind.dialect, compile_kwargs={"literal_binds": True})
                            )
                        )
                    )
                )
                .scalars()
                .all()
            )
        timings = []
        for _ in range(5):
            async with db.session() as s:
                t = time.perf_counter()
                got = (await s.execute(stmt)).all()
                timings.append((time.perf_counter() - t) * 1000)
                await s.rollback()
        print(
            f"due query (claim {len(got)} of {args.due:,} due among {args.deadlines:,}): "
            f"best {min(timings):.1f} ms, median {sorted(timings)[2]:.1f} ms (target < 200 ms)"
        )
        print("plan:", " | ".join(p.strip() for p in plan[:4]))
        t = time.perf_counter()
        alerts = await alert_due(db, now, batch_size=args.batch, settings=Settings(), worker="bench")
        elapsed = time.perf_counter() - t
        async with db.session(write=False) as s:
            feed = (await s.execute(text("SELECT count(*) FROM notification"))).scalar_one()
        print(f"{alerts:,} reminders -> {feed:,} feed rows in {elapsed:.2f} s (target < 10 s)")
        await db.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
