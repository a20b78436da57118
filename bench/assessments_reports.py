"""Benchmark: the assessments service's reports over a synthetic 200,000 episodes on PostgreSQL.

    .venv/bin/python -m bench.assessments_reports --episodes 200000
    # or against a running server: --pg-url postgresql+asyncpg://postgres@127.0.0.1:PORT

Three years of episodes (2024 to 2026) as the service stores them: the children, the lead
professional, the assessment (most approved, some late), the TAF plan with two or three
outcomes under Supporting Families headlines and three actions (some overdue), reviews about
every eight weeks with a score per outcome (some families improving, some stuck), and closure
for about 60% with the outcomes achieved. Loaded with COPY into a database built by the
service's own migrations (the per-episode facts filled by migrations 0009's and 0011's SQL, as
the service keeps them when an assessment, plan or review is recorded), then each report is timed as its endpoint runs
it (the same rule function, its own session), for the last 12 months and for all three years.
Target: under 2 s each. `--explain MS`: first the analysed plan of every statement of MS ms or
more (auto_explain).

Generating and loading 200,000 episodes takes minutes: `--keep` (with `--pg-url`) keeps the
database and prints its URL, `--reuse-db URL` times against it again; `--only TEXT` times only
the reports whose name contains TEXT; `--answers FILE` writes each report's answer as JSON (to
compare two versions of a report).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
from sqlalchemy import Table

from bench.pgdb import add_pg_url_argument, existing_database, migrated_database, time_report
from services.assessments import models, sf_facts
from services.assessments.config import Settings
from services.assessments.context import Context
from shared.codes import HEADLINES, NEED_CODES
from shared.db import Database
from shared.identity import Identity

SERVICE_DIR = Path(__file__).resolve().parents[1] / "services" / "assessments"
START = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
SPAN_DAYS = (NOW - START).days - 7
LEVELS = ("universal_plus", "early_help", "targeted")
CLOSE_REASONS = [("needs_met", 55), ("stepped_up", 10), ("consent_withdrawn", 8), ("moved_away", 7),
                 ("disengaged", 10), ("stepped_down", 10)]  # fmt: skip
# The council's admin reading the reports (the Supporting Families ones check the caller).
READER = Identity("bench", "bench", "council", "admin", frozenset({"reports:read"}))
AGENCIES = ("eh-north", "eh-south", "school-a", "health-b", "housing-c")


class Rows:
    """Rows for one table, in its column order (missing columns are NULL), ready for COPY."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.columns = [c.name for c in table.columns]
        self.records: list[tuple[Any, ...]] = []

    def add(self, **values: Any) -> None:
        unknown = set(values) - set(self.columns)
        assert not unknown, f"{self.table.name} has no {unknown}"
        self.records.append(tuple(_pg(values.get(c)) for c in self.columns))


def _pg(value: Any) -> Any:
    """JSON columns travel as text in COPY."""
    return json.dumps(value) if isinstance(value, list | dict) else value


def generate(n: int, rng: random.Random) -> list[Rows]:
    t = {name: Rows(models.Base.metadata.tables[name]) for name in (
        "episode", "episode_person", "lead_professional", "assessment", "plan", "plan_outcome",
        "plan_action", "review", "review_score", "closure_outcome", "episode_family_member", "episode_need",
    )}  # fmt: skip
    headlines = list(HEADLINES)
    needs = list(NEED_CODES.items())
    people: list[str] = []  # earlier episodes' children: one family in five comes back
    reasons, weights = zip(*CLOSE_REASONS, strict=True)
    for i in range(n):
        eid = str(uuid.uuid4())
        opened = START + timedelta(days=rng.randrange(SPAN_DAYS), hours=rng.randrange(8, 18))
        # Closed after 2 to 20 months, or still open (all recent ones, some old ones: drift).
        length = timedelta(days=rng.randint(60, 600))
        closed = opened + length if opened + length < NOW and rng.random() < 0.75 else None
        contact = opened + timedelta(hours=rng.uniform(2, 110)) if rng.random() < 0.95 else None
        t["episode"].add(
            id=eid, reference=f"EH-{opened.year}-{i:07d}", referral_id=str(uuid.uuid4()), origin="referral",
            level_of_need=rng.choice(LEVELS), status="closed" if closed else "open", opened_at=opened,
            updated_at=closed or opened, opened_by_agency_id="mash", referral_received_at=opened - timedelta(days=1),
            first_contact_due_at=opened + timedelta(hours=72), first_contact_at=contact,
            assessment_start_due_at=opened + timedelta(days=14), assessment_complete_due_at=opened + timedelta(days=63),
            social_care_involved=False, closed_at=closed,
            close_reason=rng.choices(reasons, weights)[0] if closed else None, version=1,
        )  # fmt: skip
        children = [str(uuid.uuid4()) for _ in range(rng.choice((1, 1, 2, 3)))]
        if people and rng.random() < 0.2:
            children[0] = rng.choice(people)
        for pid in dict.fromkeys(children):
            t["episode_person"].add(episode_id=eid, person_id=pid)
            t["episode_family_member"].add(episode_id=eid, person_id=pid, role="child", added_at=opened)
            people.append(pid)
        for need, headline in rng.sample(
            needs, rng.choice((0, 1, 2, 2, 3))
        ):  # as `referral.decided` names them
            t["episode_need"].add(episode_id=eid, need=need, headline=headline)
        lead_agency = rng.choice(AGENCIES)
        t["lead_professional"].add(
            id=str(uuid.uuid4()), episode_id=eid, name="Lead Professional", agency_id=lead_agency,
            email="lead@example.org", family_agreed=True, assigned_at=opened + timedelta(days=2),
            assigned_by_agency_id="eh-north", manager_delegates=False,
        )  # fmt: skip
        started = opened + timedelta(days=rng.uniform(1, 20))
        if started > NOW:
            continue
        approved = started + timedelta(days=rng.uniform(10, 60))
        approved = approved if approved < NOW and rng.random() < 0.9 else None
        t["assessment"].add(
            id=str(uuid.uuid4()), episode_id=eid, status="approved" if approved else "draft", started_at=started,
            updated_at=approved or started, due_on=(opened + timedelta(days=63)).date(), approved_at=approved,
            family_members=[], baseline={}, factors=[], diversity={}, priorities=[], version=1,
        )  # fmt: skip
        if approved is None:
            continue
        plan_id, agreed = str(uuid.uuid4()), approved + timedelta(days=3)
        t["plan"].add(id=plan_id, episode_id=eid, version=1, agreed_at=agreed, agreed_by_agency_id="eh-north")
        outcomes = [(str(uuid.uuid4()), h) for h in rng.sample(headlines, rng.choice((1, 2, 2, 3)))]
        for pos, (oid, headline) in enumerate(outcomes):
            t["plan_outcome"].add(
                row_id=str(uuid.uuid4()), plan_id=plan_id, outcome_id=oid, position=pos, headline=headline,
                description="Synthetic outcome.", measure="Family Star", baseline="3", target="7",
                target_on=(agreed + timedelta(days=180)).date(),
            )  # fmt: skip
        for pos in range(3):
            due = (agreed + timedelta(days=rng.randint(14, 120))).date()
            done = rng.random() < 0.7 and due < NOW.date()
            t["plan_action"].add(
                row_id=str(uuid.uuid4()), plan_id=plan_id, action_id=str(uuid.uuid4()), position=pos,
                description="Synthetic action.", owner_agency_id=rng.choice(AGENCIES), owner_name="Owner",
                due_on=due, outcome_refs=[], status="done" if done else "open",
                completed_at=datetime.combine(due, datetime.min.time(), UTC) if done else None, version=1,
            )  # fmt: skip
        stuck = rng.random() < 0.15
        scores = {oid: rng.randint(2, 4) for oid, _ in outcomes}
        held = agreed.date() + timedelta(days=rng.randint(30, 60))
        end = (closed or NOW).date()
        while held < end:
            rid = str(uuid.uuid4())
            t["review"].add(
                id=rid, episode_id=eid, held_on=held, next_review_on=held + timedelta(days=56), attendees=[],
                created_at=datetime.combine(held, datetime.min.time(), UTC),
            )  # fmt: skip
            for oid in scores:
                if not stuck:
                    scores[oid] = min(10, scores[oid] + rng.choice((0, 1, 1, 2)))
                t["review_score"].add(review_id=rid, outcome_id=oid, score=scores[oid])
            held += timedelta(days=rng.randint(42, 100))
        if closed is not None:
            for oid, headline in outcomes:
                if scores[oid] >= 6:
                    t["closure_outcome"].add(episode_id=eid, outcome_id=oid, headline=headline)
    return list(t.values())


def _migration(name: str) -> Any:
    path = SERVICE_DIR / "migrations" / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def facts_backfill() -> list[str]:
    """Migrations 0009's and 0011's SQL that fill the per-episode facts from the stored rows:
    the facts the service keeps as each assessment, plan and review is recorded, for rows
    loaded with COPY."""
    later = _migration("0011_episode_report_fact")
    return [
        str(_migration("0009_episode_review_fact").BACKFILL),
        str(later.REPORT_FACTS),
        str(later.review_gaps_sql("postgresql")),
    ]


async def load(url: str, dsn: str, tables: Iterable[Rows]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for rows in tables:
            await conn.copy_records_to_table(rows.table.name, records=rows.records, columns=rows.columns)
        for sql in facts_backfill():
            await conn.execute(sql)
        await conn.execute("ANALYZE")  # the backfill's plan needs the tables' statistics
    finally:
        await conn.close()
    # The Supporting Families facts and evidence, as migration 0010 fills them from the data
    # already stored (the same statements; a test compares the two).
    db = Database(url)
    try:
        async with db.write_engine.begin() as sconn:
            await sconn.run_sync(sf_facts.backfill)
    finally:
        await db.dispose()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


Report = Callable[[Context, date | None, date | None], Awaitable[Any]]


def reports() -> dict[str, tuple[Report, bool]]:
    """Each report as its endpoint calls it: (call, whether it takes a period of episodes opened)."""
    from services.assessments import drift
    from services.assessments import reports as episode_reports
    from services.assessments import supporting_families as sf
    from shared.pagination import PageParams

    return {
        "episode report (timeliness, reviews, actions, closures, outcomes)": (
            episode_reports.episode_report,
            True,
        ),
        "drift list, first page": (lambda ctx, _s, _e: drift.drift_list(ctx, PageParams(limit=50)), False),
        "drift list, every row as CSV": (lambda ctx, _s, _e: drift.drift_csv(ctx), False),
        "Supporting Families, first page of 50 families": (
            lambda ctx, s, e: sf.families(ctx, s, e, PageParams(limit=50)),
            True,
        ),
        "Supporting Families claims CSV": (sf.claims_csv, True),
        "Supporting Families claims CSV written by Python (SQLite's path, PostgreSQL's before)": (
            lambda ctx, s, e: sf.claims_csv_python(ctx, sf._scope(s, e)),
            True,
        ),
        "Supporting Families summary of 2026-Q3": (lambda ctx, _s, _e: sf.summary(ctx, "2026-Q3"), False),
    }


async def explain(
    db: Database, label: str, call: Callable[[Any], Awaitable[Any]], min_ms: int, transaction: bool
) -> None:
    """One run of `call` with PostgreSQL's auto_explain on: prints the analysed plan of each
    statement that took `min_ms` or more (`--explain`)."""
    plans: list[str] = []
    async with db.session(write=False, transaction=transaction) as session:
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        assert raw is not None
        raw.add_log_listener(lambda _conn, message: plans.append(message.message))
        for setting in (
            "LOAD 'auto_explain'",
            f"SET auto_explain.log_min_duration = {min_ms}",
            "SET auto_explain.log_analyze = on",
            "SET auto_explain.log_buffers = on",
            "SET auto_explain.log_timing = off",  # row counts, not per-node times: less overhead
            "SET client_min_messages = log",
        ):
            await raw.execute(setting)
        await call(session)
        await raw.execute("SET client_min_messages = notice")
    print(f"--- {label}: {len(plans)} statement(s) of {min_ms} ms or more")
    for plan in plans:
        print(plan)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_pg_url_argument(ap)
    ap.add_argument("--episodes", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument(
        "--explain", type=int, metavar="MS", help="print the analysed plan of each statement of MS ms or more"
    )
    ap.add_argument("--keep", action="store_true", help="keep the database (with --pg-url): print its URL")
    ap.add_argument("--reuse-db", help="time against a database an earlier --keep run loaded (its URL)")
    ap.add_argument("--only", help="time only the reports whose name contains this text")
    ap.add_argument("--answers", help="write each report's answer as JSON to this file")
    ap.add_argument(
        "--check-claims", action="store_true", help="compare the claims CSV of both paths byte for byte"
    )
    args = ap.parse_args()
    if args.reuse_db:
        await time_all(*existing_database(args.reuse_db), args)
        return
    rng = random.Random(args.seed)
    t = time.perf_counter()
    tables = generate(args.episodes, rng)
    print(
        f"generated in {time.perf_counter() - t:.1f} s: "
        + ", ".join(f"{len(r.records):,} {r.table.name}" for r in tables)
    )
    async with migrated_database(SERVICE_DIR, "bench_eh_reports", args.pg_url, keep=args.keep) as (url, dsn):
        t = time.perf_counter()
        await load(url, dsn, tables)
        print(f"loaded with COPY, backfilled and analysed in {time.perf_counter() - t:.1f} s", flush=True)
        del tables
        await time_all(url, dsn, args)


async def check_claims(
    db: Database, runtime: Any, periods: dict[str, tuple[date | None, date | None]]
) -> None:
    """The claims CSV PostgreSQL writes against the one Python writes, byte for byte."""
    from services.assessments import supporting_families as sf

    for label, (start, end) in periods.items():
        async with db.session(write=False, transaction=True) as session:
            ctx = Context(session, runtime, READER, NOW, None)  # type: ignore[arg-type]
            new = (await sf.claims_csv(ctx, start, end)).encode()
            old = (await sf.claims_csv_python(ctx, sf._scope(start, end))).encode()
        print(
            f"claims CSV, {label}: {'byte-identical' if new == old else 'DIFFERENT'} "
            f"({len(new):,} and {len(old):,} bytes, sha256 {hashlib.sha256(new).hexdigest()[:16]})",
            flush=True,
        )


async def time_all(url: str, dsn: str, args: argparse.Namespace) -> None:
    """Times each report (or those `--only` names) against the loaded database."""
    settings = Settings(database_url=url, environment="test", log_level="WARNING")
    db = Database(url)
    runtime = SimpleNamespace(settings=settings)
    periods: dict[str, tuple[date | None, date | None]] = {
        "last 12 months": (date(2025, 12, 1), date(2026, 11, 30)),
        "all three years": (date(2024, 1, 1), date(2026, 12, 31)),
    }
    answers: dict[str, Any] = {}
    try:
        if args.check_claims:
            await check_claims(db, runtime, periods)
        for name, (report, periodic) in reports().items():
            if args.only and args.only not in name:
                continue
            for label, (start, end) in periods.items() if periodic else [("now", (None, None))]:

                async def call(
                    session: Any, start: date = start, end: date = end, report: Any = report
                ) -> Any:
                    # The reports read only the session, the settings and the clock.
                    ctx = Context(session, runtime, READER, NOW, None)  # type: ignore[arg-type]
                    return await report(ctx, start, end)

                # The episode report runs in a transaction of its own, as its endpoint runs it.
                if args.explain is not None:
                    await explain(db, f"{name}, {label}", call, args.explain, periodic)
                if args.answers:
                    async with db.session(write=False, transaction=periodic) as session:
                        answers[f"{name}, {label}"] = _plain(await call(session))
                await time_report(db, f"{name}, {label}", call, args.runs, transaction=periodic)
    finally:
        await db.dispose()
    if args.answers:
        Path(args.answers).write_text(json.dumps(answers, indent=1, sort_keys=True, default=str))
        print(f"answers written to {args.answers}")


def _plain(answer: Any) -> Any:
    """A report's answer as JSON-ready values (Pydantic models dumped; CSV text as is)."""
    if hasattr(answer, "model_dump"):
        return answer.model_dump(mode="json")
    if isinstance(answer, str | bytes):
        return answer if isinstance(answer, str) else answer.decode()
    if isinstance(answer, list | tuple):
        return [_plain(a) for a in answer]
    if isinstance(answer, dict):
        return {str(k): _plain(v) for k, v in answer.items()}
    return answer


if __name__ == "__main__":
    asyncio.run(main())
