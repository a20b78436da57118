"""The consent access check with 1,000,000 consent rows on PostgreSQL, measured in-process.

    out=$(python -m devtools.pg start)
    python -m bench.consent_access_check --pg-url "$(echo "$out" | head -1)" [--rows 1000000] [--checks 5000]
    python -m devtools.pg stop "$(echo "$out" | tail -1)"
    # without --pg-url (or EH_BENCH_PG_URL / EH_TEST_PG_URL) a throwaway server is started and stopped

Builds a fresh database with the consent service's real Alembic migrations, loads the rows
with COPY (asyncpg `copy_records_to_table`): consents for ~rows/2.5 people, 5% of them
withdrawn, a sharing decision for 1 person in 20 (a tenth of them corrected), then times:
- `service`: `service.check_access()` on a session, as the endpoint calls it;
- `app`: `GET /v1/access-checks` through the whole app (token verification, FastAPI,
  response model) with `httpx.ASGITransport`.
Each check picks a random known person, agency and purpose, so answers mix allowed and denied
through both rules. Prints p50/p95/p99/max in milliseconds. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from bench.pgdb import add_pg_url_argument, migrated_database
from services.consent import policy, service
from services.consent.config import Settings
from services.consent.main import create_app
from shared.testing import TestSigner

SERVICE_DIR = Path(__file__).resolve().parents[1] / "services" / "consent"
AGENCIES = [f"agency-{i}" for i in range(40)]
PURPOSES = ["early_help_service", "information_sharing"]
BATCH = 100_000


def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)

    def at(p: float) -> float:
        return s[min(len(s) - 1, int(p * len(s)))] * 1000

    return {
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": s[-1] * 1000,
        "mean": statistics.fmean(s) * 1000,
    }


def consent_rows(people: list[str], n: int, rng: random.Random):
    now = datetime.now(UTC)
    today = date.today()
    for i in range(n):
        person = people[i % len(people)]
        if rng.random() < 0.5:
            agencies = ["team_around_the_family"]
        else:
            agencies = rng.sample(AGENCIES, rng.randint(1, 4))
        purposes = PURPOSES if rng.random() < 0.7 else [rng.choice(PURPOSES)]
        expires = None if rng.random() < 0.6 else today + timedelta(days=rng.randint(-200, 700))
        obtained = now - timedelta(days=rng.randint(1, 900), seconds=rng.randint(0, 86_400))
        yield (
            str(uuid.uuid4()),
            person,
            "Bench Person",
            "parent",
            "parental",
            json.dumps(purposes),
            json.dumps(agencies),
            "written",
            obtained,
            expires,
            "agency-eh",
            "bench",
            now,
        )


async def load(dsn: str, rows: int, rng: random.Random) -> list[str]:
    conn = await asyncpg.connect(dsn)
    people = [str(uuid.uuid4()) for _ in range(max(1, int(rows / 2.5)))]
    consent_cols = [
        "id",
        "person_id",
        "given_by_name",
        "given_by_relationship",
        "competence",
        "purposes",
        "agencies",
        "method",
        "obtained_at",
        "expires_on",
        "recorded_by_agency_id",
        "recorded_by_client_id",
        "created_at",
    ]
    started = time.perf_counter()
    batch: list[tuple] = []
    withdrawals: list[tuple] = []
    now = datetime.now(UTC)
    for row in consent_rows(people, rows, rng):
        batch.append(row)
        if rng.random() < 0.05:
            withdrawals.append((str(uuid.uuid4()), row[0], "bench", now, "agency-eh", "bench"))
        if len(batch) >= BATCH:
            await conn.copy_records_to_table("consent", records=batch, columns=consent_cols)
            batch.clear()
    if batch:
        await conn.copy_records_to_table("consent", records=batch, columns=consent_cols)
    await conn.copy_records_to_table(
        "consent_withdrawal",
        records=withdrawals,
        columns=[
            "id",
            "consent_id",
            "reason",
            "withdrawn_at",
            "recorded_by_agency_id",
            "recorded_by_client_id",
        ],
    )
    decisions: list[tuple] = []
    corrections: list[tuple] = []
    for person in people[::20]:
        did = str(uuid.uuid4())
        agency, purpose = rng.choice(AGENCIES), rng.choice(PURPOSES)
        decided = now - timedelta(days=rng.randint(2, 300))
        decisions.append(
            (
                did,
                person,
                agency,
                purpose,
                rng.choice(["share", "do_not_share"]),
                "public_task_safeguarding",
                "bench",
                "a@x",
                "m@x",
                None,
                decided,
                "agency-eh",
                "bench",
                now,
            )
        )
        if rng.random() < 0.1:
            corrections.append(
                (
                    str(uuid.uuid4()),
                    person,
                    agency,
                    purpose,
                    "do_not_share",
                    None,
                    "bench",
                    "a@x",
                    None,
                    did,
                    decided + timedelta(days=1),
                    "agency-eh",
                    "bench",
                    now,
                )
            )
    decision_cols = [
        "id",
        "person_id",
        "agency_id",
        "purpose",
        "decision",
        "lawful_basis",
        "justification",
        "decided_by",
        "approved_by",
        "supersedes_id",
        "decided_at",
        "recorded_by_agency_id",
        "recorded_by_client_id",
        "created_at",
    ]
    await conn.copy_records_to_table("sharing_decision", records=decisions, columns=decision_cols)
    await conn.copy_records_to_table("sharing_decision", records=corrections, columns=decision_cols)
    await conn.execute("ANALYZE")
    count = await conn.fetchval("SELECT count(*) FROM consent")
    print(
        f"loaded {count:,} consents, {len(withdrawals):,} withdrawals, "
        f"{len(decisions) + len(corrections):,} decisions in {time.perf_counter() - started:.1f} s"
    )
    plan = await conn.fetch(
        "EXPLAIN SELECT id, purposes, agencies FROM consent WHERE person_id = $1 "
        "AND (expires_on IS NULL OR expires_on >= CURRENT_DATE) AND NOT EXISTS "
        "(SELECT 1 FROM consent_withdrawal w WHERE w.consent_id = consent.id) ORDER BY obtained_at DESC",
        people[0],
    )
    print("plan:", " / ".join(r[0].strip() for r in plan[:3]))
    await conn.close()
    return people


async def time_floor(dsn: str, checks: int) -> list[float]:
    """The machine's floor: one `SELECT 1` round trip on a bare asyncpg connection."""
    conn = await asyncpg.connect(dsn)
    samples = []
    for i in range(checks + 200):
        t0 = time.perf_counter()
        await conn.fetchval("SELECT 1")
        if i >= 200:
            samples.append(time.perf_counter() - t0)
    await conn.close()
    return samples


async def time_service(app, people: list[str], checks: int, rng: random.Random) -> list[float]:
    db = app.state.runtime.db
    samples = []
    for i in range(checks + 200):
        person, agency, purpose = rng.choice(people), rng.choice(AGENCIES), rng.choice(PURPOSES)
        t0 = time.perf_counter()
        async with db.session(write=False) as session:
            ctx = service.Context.for_system(session, app.state.runtime)
            await service.check_access(
                ctx, person, agency, purpose, taf=policy.TafMembership(on_taf=rng.random() < 0.5)
            )
        if i >= 200:  # warm-up excluded
            samples.append(time.perf_counter() - t0)
    return samples


async def time_app(
    app, people: list[str], checks: int, rng: random.Random, signer: TestSigner
) -> tuple[list[float], int]:
    headers = signer.auth_header(agency_type="service", audience="early-help-api", client_id="assessments")
    samples, allowed = [], 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://consent") as client:
        for i in range(checks + 200):
            params = {
                "person_id": rng.choice(people),
                "agency_id": rng.choice(AGENCIES),
                "purpose": rng.choice(PURPOSES),
                "on_team_around_the_family": "true" if rng.random() < 0.5 else "false",
            }
            t0 = time.perf_counter()
            resp = await client.get("/v1/access-checks", params=params, headers=headers)
            elapsed = time.perf_counter() - t0
            assert resp.status_code == 200, resp.text
            if i >= 200:
                samples.append(elapsed)
                allowed += resp.json()["allowed"]
    return samples, allowed


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_pg_url_argument(ap)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--checks", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    async with migrated_database(SERVICE_DIR, "bench_consent", args.pg_url) as (url, dsn):
        people = await load(dsn, args.rows, rng)
        signer = TestSigner()
        settings = Settings(
            database_url=url, environment="test", expiry_scan_interval_seconds=0, log_level="WARNING"
        )
        app = create_app(settings, keys=signer.keyset())
        floor = percentiles(await time_floor(dsn, args.checks))
        async with app.router.lifespan_context(app):
            svc = percentiles(await time_service(app, people, args.checks, rng))
            app_samples, allowed = await time_app(app, people, args.checks, rng, signer)
            via_app = percentiles(app_samples)
        print(
            f"{args.rows:,} consent rows, {args.checks:,} checks each ({allowed:,} allowed through the app)"
        )
        print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        for name, p in (
            ("floor: asyncpg SELECT 1", floor),
            ("service.check_access", svc),
            ("GET /v1/access-checks (ASGI)", via_app),
        ):
            print(
                f"{name:32s} p50 {p['p50']:.2f} ms  p95 {p['p95']:.2f} ms  p99 {p['p99']:.2f} ms  "
                f"max {p['max']:.2f} ms  mean {p['mean']:.2f} ms"
            )


if __name__ == "__main__":
    asyncio.run(main())
