"""Benchmark: the FHIR deadline search (`GET /fhir/Task?...`, docs/fhir.md) against many
deadlines on PostgreSQL: the query and the Task mapping of one Bundle (at most 50).

    out=$(.venv/bin/python -m devtools.pg start)
    EH_BENCH_PG_URL=$(echo "$out"|head -1) .venv/bin/python -m bench.notifications_fhir_search --deadlines 200000
    .venv/bin/python -m devtools.pg stop $(echo "$out"|tail -1)

Loads the deadlines with COPY into a fresh database migrated by the real Alembic migrations
(four kinds; open, met and cancelled; one referral or episode subject each), then times each
search shape with `bench.pgdb.time_report` (wall best/median, the backend's CPU, load average)
and prints its plan's first line.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.pgdb import add_pg_url_argument, migrated_database, time_report
from services.notifications.fhir import search_query, task_of
from shared.db import Database

SERVICE_DIR = Path(__file__).resolve().parent.parent / "services" / "notifications"
KINDS = ("front_door_decision", "initial_assessment", "plan_review", "consent_renewal")
COLUMNS = ["id", "kind", "subject_type", "subject_id", "referral_id", "episode_id", "team"]
COLUMNS += ["escalation_target", "status", "opened_at", "due_at", "escalation_at", "created_at", "updated_at"]


def rows(n: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    for i in range(n):
        on_episode = i % 2 == 1
        subject = f"e{i // 4}" if on_episode else f"r{i // 4}"
        due = now + timedelta(days=(i % 400) - 100, minutes=i % 1440)
        status = ("open", "open", "open", "met", "cancelled")[i % 5]
        yield (
            str(uuid.uuid4()),
            KINDS[i % 4],
            "episode" if on_episode else "referral",
            subject,
            None if on_episode else subject,
            subject if on_episode else None,
            "early_help" if on_episode else "mash",
            "mash",
            status,
            due - timedelta(days=10),
            due,
            due + timedelta(hours=4),
            now,
            now,
        )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deadlines", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=7)
    add_pg_url_argument(ap)
    args = ap.parse_args()
    async with migrated_database(SERVICE_DIR, "bench_fhir_deadlines", args.pg_url) as (url, dsn):
        now = datetime.now(UTC)
        conn = await asyncpg.connect(dsn)
        await conn.copy_records_to_table("deadline", records=rows(args.deadlines, now), columns=COLUMNS)
        await conn.execute("ANALYZE deadline")
        await conn.close()
        print(f"loaded {args.deadlines:,} deadlines")
        db = Database(url)
        shapes = {
            "focus=ServiceRequest/r1234": {"focus": "ServiceRequest/r1234"},
            "focus=CareTeam/e1234&business-status=overdue": {
                "focus": "CareTeam/e1234",
                "business_status": "overdue",
            },
            "business-status=overdue": {"business_status": "overdue"},
            "code=plan_review&status=in-progress": {"code": "plan_review", "status": "in-progress"},
            "code=consent_renewal (any status)": {"code": "consent_renewal"},
        }
        for label, params in shapes.items():
            stmt = search_query(
                now, **{"focus": None, "status": None, "business_status": None, "code": None, **params}
            )
            stmt = stmt.limit(50)

            async def run(session: AsyncSession, stmt: Any = stmt) -> None:
                found = (await session.scalars(stmt)).all()
                [task_of(d, now) for d in found]

            await time_report(db, f"GET /fhir/Task?{label}", run, args.runs)
            async with db.session(write=False) as s:
                sql = str(stmt.compile(dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True}))
                plan = (await s.execute(text("EXPLAIN ANALYZE " + sql))).scalars().all()
            print("   plan:", plan[0].strip(), "|", next(p.strip() for p in plan if "Scan" in p))
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
