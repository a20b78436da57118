"""Benchmark: the referrals service's insight reports over 1,000,000 referrals on PostgreSQL (issue 21).

    .venv/bin/python -m bench.referrals_insight --referrals 1000000
    # or against a running server: --pg-url postgresql+asyncpg://postgres@127.0.0.1:PORT

The referrals of `bench.referrals_report` (three years, 2024-2026; each naming one to three
need codes, parental mental health, domestic abuse and substance misuse the most common; an
address in one of ~40 postcode districts, the household of the first child, so a child
referred again is a family referred again; the MASH manager who decided), loaded with COPY
into a database built by the service's own migrations, with what intake writes beside them
(`jsna.need_rows` and `jsna.family_period_rows`, the very functions intake calls) and ten
threshold audits, one a quarter from 2024 to mid-2026, each sampling 5% of the quarter's
decisions, nine in ten reviewed and most agreed. Then times, each as its endpoint runs it (the
same rule function, its own session; `bench.pgdb.time_report`: wall best and median, the
database backend's CPU):
- the referral report, the last 12 months and all three years;
- the JSNA feed by month and by quarter, the last 12 months and all three years, as JSON
  (suppression included) and by month over three years as CSV;
- the threshold-audit report, the last 12 months and all three years;
- drawing a threshold-audit sample (`threshold_audit.draw`: 3% of a month, 0.3% of a year) over a month and over a year of
  decisions (rolled back after each run, so every run draws from the same decisions);
- the JSNA feed over three years through the service's app (httpx.ASGITransport: routing,
  authentication, the route's serialisation, what a caller receives), by month as JSON and
  CSV and by quarter as JSON; the database CPU is that of the app's connections.
Target: under 2 s each. `--explain` prints the JSNA feed's plans (EXPLAIN ANALYZE, BUFFERS).
Generating 1,000,000 referrals takes ~10 minutes and loading them as long: `--keep` (with
`--pg-url`) keeps the database and prints its URL, `--reuse-db URL` times against it again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.pgdb import add_pg_url_argument, existing_database, migrated_database, time_http, time_report
from bench.referrals_common import SERVICE_DIR
from bench.referrals_report import MASH_MANAGERS, REFERRAL_COLUMNS, copy_generated, generate
from services.referrals import jsna, reports, threshold_audit
from services.referrals.codes import OUTCOME_LEVELS
from services.referrals.config import Settings
from services.referrals.main import create_app
from services.referrals.models import Base
from services.referrals.schemas import ThresholdAuditCreate
from services.referrals.service import Context
from shared.clock import LONDON, clock
from shared.db import Database
from shared.identity import Identity
from shared.roles import MASH, MASH_MANAGER
from shared.testing import TestSigner

# After the three years' last day, so every month and quarter of them has ended.
NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
COL = {name: i for i, name in enumerate(REFERRAL_COLUMNS)}
AUDIT_SHARE = 0.05
MANAGER = Identity(
    sub="p-mash-manager-00",
    client_id="bench",
    agency_id="mash",
    agency_type=MASH,
    practitioner_id="p-mash-manager-00",
    roles=frozenset({MASH_MANAGER}),
)


def columns(table: str) -> list[str]:
    return [c.name for c in Base.metadata.tables[table].columns]


def intake_rows(referrals: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """What intake writes for the JSNA feed beside each referral, by intake's own functions."""
    needs: list[tuple] = []
    families: set[tuple] = set()
    need_columns, family_columns = columns("referral_need"), columns("jsna_family_period")
    for r in referrals:
        referral = SimpleNamespace(
            id=r[COL["id"]],
            address=json.loads(r[COL["address"]]),
            postcode=r[COL["postcode"]],
            needs=json.loads(r[COL["needs"]]),
            received_at=r[COL["received_at"]],
        )
        rows = jsna.need_rows(referral)  # type: ignore[arg-type]
        needs.extend(tuple(getattr(row, c) for c in need_columns) for row in rows)
        families.update(tuple(row[c] for c in family_columns) for row in jsna.family_period_rows(rows))
    return needs, sorted(families)


def audit_rows(rng: random.Random, referrals: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """Ten quarterly audits (2024-Q1 to 2026-Q2) of 5% of each outcome's decisions."""
    audits, items = [], []
    audit_columns, item_columns = columns("threshold_audit"), columns("threshold_audit_item")
    decided = [r for r in referrals if r[COL["outcome"]] is not None]
    for quarter in range(10):
        first = date(2024 + quarter // 4, quarter % 4 * 3 + 1, 1)
        last = date(first.year + (first.month + 3 > 12), (first.month + 2) % 12 + 1, 1) - timedelta(days=1)
        by_outcome: dict[str, list[tuple]] = {}
        for r in decided:
            if first <= r[COL["decided_at"]].astimezone(LONDON).date() <= last:
                by_outcome.setdefault(r[COL["outcome"]], []).append(r)
        audit_id = str(uuid.uuid4())
        created = datetime.combine(last + timedelta(days=7), datetime.min.time(), UTC)
        strata: list[dict[str, Any]] = []
        for outcome, rows in sorted(by_outcome.items()):
            picked = rng.sample(rows, threshold_audit.stratum_size(len(rows), AUDIT_SHARE))
            strata.append({"outcome": outcome, "decisions": len(rows), "sampled": len(picked)})
            for r in picked:
                day = r[COL["decided_at"]].astimezone(LONDON).date()
                decider = r[COL["decided_by_practitioner_id"]]
                reviewer = rng.choice([m for m in MASH_MANAGERS if m != decider])
                reviewed = created + timedelta(days=rng.randint(1, 40)) if rng.random() < 0.9 else None
                agrees = (rng.random() < 0.85) if reviewed and rng.random() < 0.95 else None
                own = outcome if agrees or rng.random() < 0.3 else rng.choice(sorted(OUTCOME_LEVELS))
                item = {
                    "id": str(uuid.uuid4()),
                    "audit_id": audit_id,
                    "referral_id": r[COL["id"]],
                    "outcome": outcome,
                    "level_of_need": r[COL["level_of_need"]],
                    "decided_at": r[COL["decided_at"]],
                    "decided_on": day,
                    "decided_month": f"{day:%Y-%m}",
                    "decided_by_practitioner_id": decider,
                    "reviewer_id": reviewer,
                    "review_level_of_need": sorted(OUTCOME_LEVELS[own])[0] if reviewed else None,
                    "review_outcome": own if reviewed else None,
                    "reviewed_at": reviewed,
                    "agrees": agrees,
                    "reason": "The threshold was not met." if agrees is False else None,
                    "agreement_at": reviewed + timedelta(minutes=5)
                    if agrees is not None and reviewed
                    else None,
                    "updated_at": reviewed or created,
                }
                items.append(tuple(item[c] for c in item_columns))
        audit = {
            "id": audit_id,
            "agency_id": "mash",
            "decided_from": first,
            "decided_to": last,
            "share": AUDIT_SHARE,
            "seed": quarter,
            "decisions": sum(s["decisions"] for s in strata),
            "strata": json.dumps(strata),
            "created_at": created,
            "created_by": MASH_MANAGERS[quarter % len(MASH_MANAGERS)],
            "created_by_client_id": "bench",
            "updated_at": created,
        }
        audits.append(tuple(audit[c] for c in audit_columns))
    return audits, items


async def explain_jsna(db: Database, kind: str, first: int, last: int) -> None:
    async with db.session(write=False) as s:
        for statement in reports.POSTGRES_REPORT_SETTINGS:
            await s.execute(text(statement))
        query = jsna.counts_query(kind, first, last)
        sql = str(query.compile(dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True}))
        plan = (await s.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql))).scalars().all()
    print(f"\nplan, JSNA by {kind}, months {first}..{last}:\n" + "\n".join(plan) + "\n", flush=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_pg_url_argument(ap)
    ap.add_argument("--referrals", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--explain", action="store_true", help="print the JSNA feed's plans")
    ap.add_argument("--keep", action="store_true", help="keep the database (with --pg-url): print its URL")
    ap.add_argument("--reuse-db", help="time against a database an earlier --keep run loaded (its URL)")
    args = ap.parse_args()
    if args.reuse_db:
        url, dsn = existing_database(args.reuse_db)
        await time_all(url, args)
        return
    rng = random.Random(args.seed)
    t = time.perf_counter()
    people, referrals, rp, episodes, episode_people = generate(args.referrals, rng)
    needs, families = intake_rows(referrals)
    audits, items = audit_rows(rng, referrals)
    print(
        f"generated in {time.perf_counter() - t:.1f} s: {len(referrals):,} referrals, {len(needs):,} "
        f"need rows, {len(families):,} family-period rows, {len({n[4] for n in needs})} districts, "
        f"{len(audits)} audits with {len(items):,} sampled decisions",
        flush=True,
    )
    async with migrated_database(SERVICE_DIR, "bench_insight", args.pg_url, keep=args.keep) as (url, dsn):
        conn = await asyncpg.connect(dsn)
        t = time.perf_counter()
        await copy_generated(conn, people, referrals, rp, episodes, episode_people)
        for table, rows in (
            ("referral_need", needs),
            ("jsna_family_period", families),
            ("threshold_audit", audits),
            ("threshold_audit_item", items),
        ):
            await conn.copy_records_to_table(table, records=rows, columns=columns(table))
        print(f"loaded with COPY in {time.perf_counter() - t:.1f} s", flush=True)
        await conn.close()
        db = Database(url)
        async with db.session() as s:
            await s.execute(reports.follow_up_facts())
        await db.dispose()
        conn = await asyncpg.connect(dsn)
        await conn.execute("VACUUM ANALYZE")
        await conn.close()
        del people, referrals, rp, episodes, episode_people, needs, families, audits, items
        await time_all(url, args)


async def time_all(url: str, args: argparse.Namespace) -> None:
    db = Database(url)
    runtime = SimpleNamespace(settings=Settings(database_url=url, environment="test", log_level="WARNING"))

    def timed(report: Callable[[Context], Awaitable[Any]]) -> Callable[[AsyncSession], Awaitable[Any]]:
        async def call(session: AsyncSession) -> Any:
            # The reports read only the session, the settings, the caller and the clock.
            return await report(Context(session, runtime, MANAGER, NOW))  # type: ignore[arg-type]

        return call

    year, three = (date(2026, 1, 1), date(2026, 12, 31)), (date(2024, 1, 1), date(2026, 12, 31))
    try:
        if args.explain:
            for kind in ("month", "quarter"):
                await explain_jsna(db, kind, 2024 * 12, 2026 * 12 + 11)
        for label, (start, end) in (("last 12 months", year), ("all three years", three)):

            async def referral_report(ctx: Context, start: date = start, end: date = end) -> Any:
                return await reports.referral_report(ctx, start, end)

            await time_report(db, f"referral report, {label}", timed(referral_report), args.runs)
        for kind in ("month", "quarter"):
            for label, (start, end) in (("last 12 months", year), ("all three years", three)):

                async def as_json(
                    ctx: Context, start: date = start, end: date = end, kind: Any = kind
                ) -> Any:
                    return (await jsna.feed(ctx, start, end, kind)).json()

                await time_report(db, f"JSNA feed by {kind}, {label}, JSON", timed(as_json), args.runs)

        async def as_csv(ctx: Context) -> Any:
            return jsna.to_csv(await jsna.feed(ctx, *three, "month"))

        await time_report(db, "JSNA feed by month, all three years, CSV", timed(as_csv), args.runs)
        for label, (start, end) in (("last 12 months", year), ("all three years", three)):

            async def audit_report(ctx: Context, start: date = start, end: date = end) -> Any:
                return await threshold_audit.report(ctx, start, end)

            await time_report(db, f"threshold-audit report, {label}", timed(audit_report), args.runs)
        # An audit samples at most threshold_audit.MAX_AUDIT_ITEMS (1,000) decisions: a month
        # at 3% and a year at 0.3% are each about 700 of 1,000,000 referrals' decisions.
        draws = {
            "a month": (date(2026, 10, 1), date(2026, 10, 31), 0.03),
            "a year": (date(2025, 12, 1), date(2026, 11, 30), 0.003),
        }
        for label, (start, end, share) in draws.items():
            body = ThresholdAuditCreate(
                decided_from=start, decided_to=end, share=share, seed=7, reviewer_ids=MASH_MANAGERS
            )

            async def draw(ctx: Context, body: ThresholdAuditCreate = body) -> Any:
                return await threshold_audit.draw(ctx, body)

            await time_report(
                db,
                f"threshold-audit draw ({body.share:.1%}), {label} of decisions",
                timed(draw),
                args.runs,
                write=True,
            )
        await time_over_http(url, args.runs)
    finally:
        await db.dispose()


async def time_over_http(url: str, runs: int) -> None:
    """The JSNA feed through the service's app, as a caller gets it (httpx.ASGITransport: the
    route, its authentication, FastAPI's own work, the bytes of the answer), the clock at NOW."""
    signer = TestSigner()
    app = create_app(
        Settings(database_url=url, environment="test", log_level="WARNING"), keys=signer.keyset()
    )
    headers = signer.auth_header(agency_type=MASH, agency_id="mash", client_id="bench", scopes="reports:read")
    clock.set(NOW)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://service", timeout=120
            ) as client,
        ):
            for kind in ("month", "quarter"):
                for fmt in ("json", "csv") if kind == "month" else ("json",):
                    params = {"from": "2024-01-01", "to": "2026-12-31", "period": kind, "format": fmt}

                    async def get(params: dict[str, str] = params) -> None:
                        resp = await client.get("/v1/reports/jsna", params=params, headers=headers)
                        assert resp.status_code == 200, resp.text
                        assert len(resp.content) > 1000

                    label = f"JSNA feed by {kind}, all three years, {fmt.upper()}"
                    await time_http(url.replace("postgresql+asyncpg", "postgresql"), label, get, runs)
    finally:
        clock.reset()


if __name__ == "__main__":
    asyncio.run(main())
