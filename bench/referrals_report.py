"""Benchmark: the referral report over a synthetic 1,000,000 referrals on PostgreSQL.

    .venv/bin/python -m bench.referrals_report --referrals 1000000
    # or against a running server:  EH_BENCH_PG_URL=postgresql+asyncpg://postgres@127.0.0.1:PORT ...

Three years of referrals (2024-2026) about a pool of children large enough that about a
quarter come back (re-referrals), with realistic statuses and outcomes, step-ups and the
episodes TAF decisions opened, loaded with COPY into a database built by the service's own
migrations. The children's timeline facts are then computed for every row at once (what the
migration's backfill does; the service keeps them current as each referral, decision, merge
and episode arrives, and the benchmark times that per-child refresh too). Then times
`reports.referral_report` (the same code the endpoint runs) for the last 12 months and for
all three years. Target: under 2 s for 1,000,000 referrals.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import text

from bench.pgdb import backend_cpu_seconds
from bench.referrals_common import (
    GIVEN,
    SYLLABLES_A,
    SYLLABLES_B,
    district_postcodes,
    migrated_database,
    surname,
)
from services.referrals import reports
from services.referrals.codes import OUTCOME_LEVELS
from services.referrals.identifiers import format_postcode
from services.referrals.matching import normalise_name, phonetic_key
from services.referrals.service import Context
from shared.codes import NEED_CODES
from shared.db import Database

START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 3 * 365 * 86400
SOURCES = [("education", "2A", 30), ("health", "3F", 15), ("police", "6", 25), ("housing", "4", 5),
           ("voluntary", "8", 8), ("social_care", "5A", 5), ("early_help", "5D", 7), ("mash", "5B", 5)]  # fmt: skip
MASH_MANAGERS = [f"p-mash-manager-{i:02d}" for i in range(12)]
COMMON_NEEDS = {"parental_mental_health": 30, "domestic_abuse": 28, "parental_substance_misuse": 14,
                "substance_misuse": 8}  # fmt: skip
NEEDS = list(NEED_CODES)
NEED_WEIGHTS = [COMMON_NEEDS.get(need, 4) for need in NEEDS]
OUTCOMES = [("no_further_action", 30), ("signpost_universal", 20), ("single_agency_early_help", 15),
            ("team_around_the_family", 20), ("social_care_assessment", 10), ("strategy_discussion", 5)]  # fmt: skip
REFERRAL_COLUMNS = [
    "id", "reference", "referral_type", "status", "urgent", "significant_harm_suspected", "source_agency_id",
    "source_agency_type", "source_client_id", "source_code", "referrer", "address", "postcode", "needs", "summary",
    "consent", "received_at", "decision_due_at", "linked_referral_id", "open_episode_id", "episode_id",
    "level_of_need", "outcome", "rag", "rationale", "decided_by", "agency_checks", "decided_at",
    "decided_by_client_id", "decided_within_timescale", "withdrawn_at", "withdrawal_reason", "step_up_id",
    "step_up_episode_id", "version", "decided_by_practitioner_id", "updated_at",
]  # fmt: skip
PERSON_COLUMNS = ["id", "kind", "given_name", "family_name", "given_name_norm", "family_name_norm", "given_key",
                  "family_key", "date_of_birth", "postcode", "created_at"]  # fmt: skip
RP_COLUMNS = ["referral_id", "role", "position", "person_id", "original_person_id", "match", "given_name",
              "family_name", "date_of_birth", "received_at", "source_code", "from_step_up", "level_of_need",
              "outcome", "decided_at"]  # fmt: skip


def weighted(rng: random.Random, table: list[tuple]) -> tuple:
    return rng.choices(table, weights=[t[-1] for t in table])[0]


def pick_needs(rng: random.Random) -> list[str]:
    """One to three need codes, parental mental health, domestic abuse and substance misuse
    the most common (as in referrals to a front door)."""
    wanted = rng.choice((1, 1, 2, 2, 2, 3))
    out: list[str] = []
    while len(out) < wanted:
        need = rng.choices(NEEDS, weights=NEED_WEIGHTS)[0]
        if need not in out:
            out.append(need)
    return out


def households(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """`n` (address as JSON, postcode as stored) in ~40 postcode districts, ~15 households a postcode."""
    postcodes = district_postcodes(rng, max(10, n // 15))
    streets = [f"{rng.choice(SYLLABLES_A)}{rng.choice(SYLLABLES_B)} {kind}" for kind in ("Road", "Street", "Close")
               for _ in range(60)]  # fmt: skip
    out = []
    for _ in range(n):
        postcode = rng.choice(postcodes)
        line1 = f"{rng.randint(1, 240)} {rng.choice(streets)}"
        out.append(
            (json.dumps({"line1": line1, "town": "Town", "postcode": format_postcode(postcode)}), postcode)
        )
    return out


def generate(n: int, rng: random.Random):
    """(people, referrals, referral_person, episodes, episode_person) rows."""
    pool = int(n * 0.8)
    # A child lives in one household all along (two children in three share one with a
    # sibling), so a child referred again is a family referred again.
    homes = households(rng, max(10, int(pool * 0.7)))
    home_of = [rng.randrange(len(homes)) for _ in range(pool)]
    now = datetime.now(UTC)
    people = []
    for i in range(pool):
        g, f = rng.choice(GIVEN), surname(rng)
        gn, fn = normalise_name(g), normalise_name(f)
        dob = date(2026, 1, 1) - timedelta(days=rng.randint(0, 18 * 365))
        people.append((str(uuid.uuid4()), "child", g, f, gn, fn, phonetic_key(gn), phonetic_key(fn), dob,
                       homes[home_of[i]][1], now))  # fmt: skip
    times = sorted(START + timedelta(seconds=rng.randrange(SPAN_SECONDS)) for _ in range(n))
    people_index = {p[0]: i for i, p in enumerate(people)}
    referrals, rp, episodes, episode_people = [], [], [], []
    seen: list[tuple] = []
    referrer = json.dumps({"name": "Referrer", "role": "DSL"})
    for i, received in enumerate(times):
        rid = str(uuid.uuid4())
        agency_type, code, _ = weighted(rng, SOURCES)
        roll = rng.random()
        status = (
            "decided"
            if roll < 0.85
            else "withdrawn"
            if roll < 0.9
            else "linked"
            if roll < 0.95
            else "received"
        )
        outcome = level = decided_at = within = episode_id = withdrawn_at = None
        if status == "decided":
            outcome = weighted(rng, OUTCOMES)[0]
            level = sorted(OUTCOME_LEVELS[outcome])[0]
            decided_at = received + timedelta(hours=rng.uniform(0.5, 40))
            within = decided_at <= received + timedelta(days=1)
        elif status == "withdrawn":
            withdrawn_at = received + timedelta(hours=2)
        # About a quarter of referrals are about a child referred before.
        children = [rng.choice(seen) if seen and rng.random() < 0.25 else people[len(seen) % pool]]
        if rng.random() < 0.3:  # a sibling
            children.append(people[(len(seen) + pool // 2) % pool])
        seen.extend(children)
        address, postcode = homes[home_of[people_index[children[0][0]]]]
        if outcome == "team_around_the_family":
            episode_id = str(uuid.uuid4())
            episodes.append((episode_id, rid, "referral", level, decided_at + timedelta(days=1)))
            episode_people.extend((episode_id, c[0], c[0]) for c in dict.fromkeys(children))
        step_up = str(uuid.uuid4()) if rng.random() < 0.02 else None
        urgent = step_up is not None or rng.random() < 0.1
        referrals.append((
            rid, f"RFS-{received.year}-{i:07d}", "safeguarding_concern" if urgent else "request_for_support",
            status, urgent, urgent, f"agency-{agency_type}", agency_type, f"client-{agency_type}", code,
            referrer, address, postcode, json.dumps(pick_needs(rng)), "Synthetic referral.", None,
            received, received + timedelta(days=1), None, None, episode_id, level, outcome, None,
            "Synthetic decision." if outcome else None, None, None, decided_at, None, within, withdrawn_at,
            None, step_up, None, 1, rng.choice(MASH_MANAGERS) if outcome else None,
            decided_at or withdrawn_at or received,
        ))  # fmt: skip
        for pos, c in enumerate(dict.fromkeys(children)):
            rp.append((rid, "child", pos, c[0], c[0], "certain", c[2], c[3], c[8], received, code,
                       step_up is not None, level, outcome, decided_at))  # fmt: skip
    return people, referrals, rp, episodes, episode_people


async def copy_generated(
    conn: asyncpg.Connection, people: list, referrals: list, rp: list, episodes: list, episode_people: list
) -> None:
    """What `generate` made, into the database with COPY."""
    await conn.copy_records_to_table("person", records=people, columns=PERSON_COLUMNS)
    await conn.copy_records_to_table("referral", records=referrals, columns=REFERRAL_COLUMNS)
    await conn.copy_records_to_table("referral_person", records=rp, columns=RP_COLUMNS)
    await conn.copy_records_to_table(
        "episode", records=episodes, columns=["id", "referral_id", "origin", "level_of_need", "opened_at"]
    )
    await conn.copy_records_to_table(
        "episode_person", records=episode_people, columns=["episode_id", "original_person_id", "person_id"]
    )


def report_context(session: Any) -> Context:
    """The report reads only its context's session; the benchmark has no service runtime."""
    return Context(session, None, None, datetime.now(UTC))  # type: ignore[arg-type]


async def refresh_benchmark(db: Database, rng: random.Random, child_ids: list[str], n: int = 1000) -> None:
    """The write-side cost: `refresh_follow_ups` for one child, as intake, a decision or an
    episode runs it in its own transaction (rolled back here, so the data stay as loaded)."""
    timings = []
    for pid in rng.sample(child_ids, min(n, len(child_ids))):
        async with db.write_sessions() as s:
            t = time.perf_counter()
            await reports.refresh_follow_ups(s, [pid])
            timings.append(time.perf_counter() - t)
            await s.rollback()
    timings.sort()
    print(
        f"refreshing one child's facts ({len(timings)} children): p50 {timings[len(timings) // 2] * 1000:.2f} ms, "
        f"p99 {timings[int(len(timings) * 0.99)] * 1000:.2f} ms"
    )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--referrals", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--explain", action="store_true", help="print the plan of each report")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    t = time.perf_counter()
    people, referrals, rp, episodes, episode_people = generate(args.referrals, rng)
    print(f"generated {len(referrals):,} referrals naming {len(rp):,} children ({len(people):,} people), "
          f"{len(episodes):,} episodes in {time.perf_counter() - t:.1f} s")  # fmt: skip
    async with migrated_database("bench_report") as (url, dsn):
        conn = await asyncpg.connect(dsn)
        t = time.perf_counter()
        await copy_generated(conn, people, referrals, rp, episodes, episode_people)
        print(f"loaded with COPY in {time.perf_counter() - t:.1f} s")
        await conn.close()

        db = Database(url)
        t = time.perf_counter()
        async with db.session() as s:
            await s.execute(reports.follow_up_facts())
        print(f"children's timeline facts computed for all {len(rp):,} rows in {time.perf_counter() - t:.1f} s "
              "(once, as the migration's backfill)")  # fmt: skip
        conn = await asyncpg.connect(dsn)
        await conn.execute("VACUUM ANALYZE")
        await conn.close()
        await refresh_benchmark(db, rng, [row[3] for row in rp])
        periods = {"last 12 months": (date(2026, 1, 1), date(2026, 12, 31)),
                   "all three years": (date(2024, 1, 1), date(2026, 12, 31))}  # fmt: skip
        for label, (start_on, end_on) in periods.items():
            if args.explain:
                query = reports.report_query("postgresql", start_on, end_on)
                async with db.session(write=False) as s:
                    for statement in reports.POSTGRES_REPORT_SETTINGS:
                        await s.execute(text(statement))
                    await s.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
                    sql = str(
                        query.compile(dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True})
                    )
                    plan = (await s.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql))).scalars().all()
                print(f"\nplan, {label}:\n" + "\n".join(plan))
            timings, cpu = [], []
            for _ in range(args.runs):
                async with db.session(write=False) as s:
                    # Parallel workers off: the backend's own CPU time is then the query's cost,
                    # a figure other load on the machine does not inflate (wall time is shown too).
                    await s.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
                    pid = (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                    cpu_before = backend_cpu_seconds(pid)
                    t = time.perf_counter()
                    report = await reports.referral_report(report_context(s), start_on, end_on)
                    timings.append(time.perf_counter() - t)
                    cpu_after = backend_cpu_seconds(pid)
                    if cpu_before is not None and cpu_after is not None:
                        cpu.append(cpu_after - cpu_before)
            timings.sort()
            cpu.sort()
            cpu_text = f", database CPU median {cpu[len(cpu) // 2]:.2f} s" if cpu else ""
            print(
                f"\nreport, {label} ({report.totals.received:,} referrals in the period): "
                f"wall best {timings[0]:.2f} s, median {timings[len(timings) // 2]:.2f} s{cpu_text} "
                f"(target < 2 s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
            )
            print(f"  re-referrals {report.re_referrals_within_12_months.model_dump()}")
            print(f"  NFA follow-up {report.no_further_action_follow_up.model_dump()}")
            # As the endpoint runs it on a server with PostgreSQL's defaults (parallel workers on).
            defaults = []
            for _ in range(args.runs):
                async with db.session(write=False) as s:
                    t = time.perf_counter()
                    await reports.referral_report(report_context(s), start_on, end_on)
                    defaults.append(time.perf_counter() - t)
            defaults.sort()
            print(
                f"  with PostgreSQL's default parallel workers: wall best {defaults[0]:.2f} s, "
                f"median {defaults[len(defaults) // 2]:.2f} s"
            )
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
