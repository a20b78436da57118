"""Benchmark: person matching against a synthetic person index on PostgreSQL.

    .venv/bin/python -m bench.referrals_people --people 1000000 --lookups 2000
    # or against a running server:  EH_BENCH_PG_URL=postgresql+asyncpg://postgres@127.0.0.1:PORT ...

Generates `--people` synthetic people (children with dates of birth, some NHS numbers, adults,
a few unborn children; Zipf-weighted common surnames with a long tail; ~15 people per
postcode), loads them with COPY into a database built by the service's own migrations, then
times the match lookup intake makes for every person a referral names: the indexed candidate
query (`repository.find_candidates`) plus scoring (`matching.rank`), one session per lookup as
a request has. Target: p50 < 20 ms at 1,000,000 people.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
from sqlalchemy import text

from bench.referrals_common import GIVEN, migrated_database, nhs_numbers, percentile, postcode_pool, surname
from services.referrals import repository as repo
from services.referrals.matching import Facts, normalise_name, phonetic_key, rank
from shared.db import Database

TODAY = date(2026, 11, 23)
COLUMNS = [
    "id", "kind", "given_name", "family_name", "given_name_norm", "family_name_norm", "given_key", "family_key",
    "date_of_birth", "unborn_expected_on", "nhs_number", "postcode", "gender", "merged_into_id", "created_at",
]  # fmt: skip


def people(n: int, rng: random.Random, sample_every: int, samples: list[tuple]):
    postcodes = postcode_pool(rng, max(10, n // 15))
    nhs = nhs_numbers()
    now = datetime.now(UTC)
    for i in range(n):
        roll = rng.random()
        kind = "adult" if roll < 0.28 else ("unborn" if roll < 0.29 else "child")
        given = None if kind == "unborn" else rng.choice(GIVEN)
        family = surname(rng)
        dob = TODAY - timedelta(days=rng.randint(0, 25 * 365)) if kind == "child" else None
        expected = TODAY + timedelta(days=rng.randint(1, 200)) if kind == "unborn" else None
        number = next(nhs) if kind == "child" and rng.random() < 0.6 else None
        pc = rng.choice(postcodes)
        g, f = normalise_name(given), normalise_name(family)
        row = (str(uuid.uuid4()), kind, given, family, g, f, phonetic_key(g), phonetic_key(f), dob, expected, number,
               pc, None, None, now)  # fmt: skip
        if i % sample_every == 0:
            samples.append(row)
        yield row


def misspell(name: str, rng: random.Random) -> str:
    if len(name) < 4:
        return name + name[-1]
    i = rng.randint(1, len(name) - 2)
    return name[:i] + name[i + 1 :] if rng.random() < 0.5 else name[:i] + name[i] + name[i:]


def probes(samples: list[tuple], rng: random.Random) -> list[tuple[str, Facts]]:
    """Lookups as intake makes them: exact repeats, misspellings, NHS numbers, new children, adults."""
    out: list[tuple[str, Facts]] = []
    postcodes = [s[11] for s in samples]
    for row in samples:
        _, kind, given, family, *_rest = row
        dob, expected, number, pc = row[8], row[9], row[10], row[11]
        if kind == "adult":
            out.append(("adult, name + postcode", Facts.of("adult", given, family, postcode=pc)))
            continue
        if kind == "unborn":
            out.append(("unborn", Facts.of("unborn", None, family, unborn_expected_on=expected, postcode=pc)))
            continue
        variant = rng.random()
        if variant < 0.3:
            out.append(
                ("child, exact repeat", Facts.of("child", given, family, date_of_birth=dob, postcode=pc))
            )
        elif variant < 0.6:
            out.append(("child, misspelt", Facts.of("child", misspell(given, rng), misspell(family, rng),
                                                     date_of_birth=dob, postcode=pc)))  # fmt: skip
        elif variant < 0.8 and number:
            out.append(("child, NHS number", Facts.of("child", given, family, date_of_birth=dob, nhs_number=number,
                                                       postcode=rng.choice(postcodes))))  # fmt: skip
        else:
            new_dob = TODAY - timedelta(days=rng.randint(0, 25 * 365))
            out.append(("child, new to the index", Facts.of("child", rng.choice(GIVEN), surname(rng),
                                                             date_of_birth=new_dob, postcode=rng.choice(postcodes))))  # fmt: skip
    rng.shuffle(out)
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    async with migrated_database("bench_people") as (url, dsn):
        samples: list[tuple] = []
        conn = await asyncpg.connect(dsn)
        t = time.perf_counter()
        await conn.copy_records_to_table(
            "person",
            records=people(args.people, rng, max(1, args.people // args.lookups), samples),
            columns=COLUMNS,
        )
        loaded = time.perf_counter() - t
        await conn.execute("ANALYZE person")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('person'))")
        await conn.close()
        print(f"loaded {args.people:,} people with COPY in {loaded:.1f} s ({size} with indexes)")

        db = Database(url)
        lookups = probes(samples, rng)
        # Warm the pool and the cache the way a running service would be.
        for _, probe in lookups[:50]:
            async with db.session(write=False) as s:
                await repo.find_candidates(s, probe)
        timings: dict[str, list[float]] = {}
        outcomes = {"certain": 0, "possible only": 0, "none": 0}
        for label, probe in lookups:
            t = time.perf_counter()
            async with db.session(write=False) as s:
                ranked = rank(probe, await repo.find_candidates(s, probe), certain_threshold=0.92, floor=0.75)
            timings.setdefault(label, []).append((time.perf_counter() - t) * 1000)
            outcomes[
                "certain" if ranked and ranked[0].certain else ("possible only" if ranked else "none")
            ] += 1
        every = [v for vs in timings.values() for v in vs]
        print(f"\n{len(every):,} match lookups (candidate query + scoring, one session each):")
        print(f"  {'kind':<26} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
        for label, vs in [*sorted(timings.items()), ("all", every)]:
            print(f"  {label:<26} {len(vs):>6} {percentile(vs, 50):>8.2f} {percentile(vs, 95):>8.2f} "
                  f"{percentile(vs, 99):>8.2f}")  # fmt: skip
        print(f"  outcomes: {outcomes}")
        verdict = "met" if percentile(every, 50) < 20 else "MISSED"
        print(f"  target p50 < 20 ms at 1,000,000 people: {verdict} at {args.people:,}")

        probe = next(p for label, p in lookups if label == "child, NHS number")
        found = repo.find_candidates_statement(probe)
        assert found is not None
        stmt, params = found
        async with db.session(write=False) as s:
            bound = stmt.params(params)
            sql = str(bound.compile(dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True}))
            plan = (await s.execute(text("EXPLAIN ANALYZE " + sql))).scalars().all()
        print("\nplan of one lookup:\n  " + "\n  ".join(plan))
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
