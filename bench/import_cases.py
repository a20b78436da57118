"""Benchmark: the bulk import (issue 22 item 2) of 100,000 rows on PostgreSQL, whole stack.

    .venv/bin/python -m bench.import_cases --rows 100000

Starts a throwaway PostgreSQL and the whole stack on it (as `bench.mixed` does), writes a CSV
of synthetic families of the incumbent system - a child, a parent, their relationship, the
decided referral, the open episode with its lead professional and a TAF member: six rows each,
2% of the children a second record of an earlier child (linked by matching, not doubled) -
then times `python -m devtools.case_import import` end to end through the gateway (as the
council's admin client), and the re-run that finds every row imported. Target: 100,000 rows
in under 5 minutes (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.referrals_common import GIVEN, postcode_pool, surname
from devtools import case_import, pg

# Every column of the format, in the order docs/import.md lists them.
HEADER = [
    "record_type",
    "source_id",
    *dict.fromkeys(c for required, optional in case_import.COLUMNS.values() for c in (*required, *optional)),
]
TODAY = date(2026, 11, 23)


def family(n: int, *, child: tuple[str, str, str], postcode: str) -> list[dict[str, Any]]:
    """One family of the incumbent system: a child (given, family name, date of birth), her
    mother, the referral, the open episode with its lead professional, a TAF member."""
    given, family_name, dob = child
    cid = f"C{n}"
    return [
        {
            "record_type": "person",
            "source_id": cid,
            "kind": "child",
            "given_name": given,
            "family_name": family_name,
            "date_of_birth": dob,
            "postcode": postcode,
        },
        {
            "record_type": "person",
            "source_id": f"M{n}",
            "kind": "adult",
            "given_name": "Kath",
            "family_name": family_name,
            "postcode": postcode,
        },
        {
            "record_type": "relationship",
            "source_id": f"R{n}",
            "person": f"M{n}",
            "type": "mother_of",
            "related_person": cid,
        },
        {
            "record_type": "referral",
            "source_id": f"F{n}",
            "referral_type": "request_for_support",
            "source_agency_id": "oakfield-school",
            "source_agency_type": "education",
            "referrer_name": "Jo Clarke",
            "referrer_role": "DSL",
            "children": cid,
            "adults": f"M{n}:mother",
            "address_line1": f"{n} Ash Road",
            "postcode": postcode,
            "needs": "school_attendance;parental_mental_health",
            "summary": "Attendance 80%.",
            "received_at": "2026-06-01T09:00:00Z",
            "level_of_need": "partnership_plus",
            "outcome": "team_around_the_family",
            "rationale": "Several needs.",
            "decided_by_name": "Pat MASH",
            "decided_by_role": "Team manager",
            "decided_at": "2026-06-02T09:00:00Z",
        },
        {
            "record_type": "episode",
            "source_id": f"E{n}",
            "referral": f"F{n}",
            "children": cid,
            "adults": f"M{n}",
            "level_of_need": "partnership_plus",
            "opened_at": "2026-06-03T10:00:00Z",
            "lead_name": "Lee Lead",
            "lead_agency_id": "eh-team",
            "lead_email": "lee@eh.example",
            "family_agreed": "true",
        },
        {
            "record_type": "taf_member",
            "source_id": f"T{n}",
            "episode": f"E{n}",
            "agency_id": "oakfield-school",
            "agency_type": "education",
            "name": "Jo Clarke",
            "role": "DSL",
        },
    ]


def write_csv(path: Path, records: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=HEADER)
        out.writeheader()
        out.writerows(records)
    return path


def synthetic(rows: int, seed: int = 7) -> list[dict[str, Any]]:
    """People first, then the rest of each kind, as an export of the incumbent system is."""
    rng = random.Random(seed)
    postcodes = postcode_pool(rng, max(10, rows // 60))
    children: list[tuple[str, str, str, str]] = []
    records: list[dict[str, Any]] = []
    for n in range(rows // 6):
        if children and rng.random() < 0.02:
            # The incumbent system holds this child twice: the import links the second record.
            given, family_name, dob, postcode = rng.choice(children)
        else:
            dob = (TODAY - timedelta(days=rng.randint(365, 17 * 365))).isoformat()
            given, family_name, postcode = rng.choice(GIVEN), surname(rng), rng.choice(postcodes)
            children.append((given, family_name, dob, postcode))
        records += family(n, child=(given, family_name, dob), postcode=postcode)
    order = {t: i for i, t in enumerate(case_import.COLUMNS)}
    return sorted(records, key=lambda r: order[r["record_type"]])


async def timed_import(gateway: str, path: Path, batch_size: int) -> tuple[float, case_import.Outcome]:
    async with case_import.gateway_client(gateway, "demo-admin", "demo-admin-secret") as client:
        started = time.perf_counter()
        outcome = await case_import.import_file(
            path,
            client,
            dry_run=False,
            report=path.with_suffix(".errors.csv"),
            batch_size=batch_size,
            progress=True,
        )
        return time.perf_counter() - started, outcome


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_report(before: dict[str, float], after: dict[str, float]) -> str:
    """CPU seconds each process (with its children: PostgreSQL's backends, uvicorn's workers)
    spent in a phase: what a loaded machine does not inflate, unlike the wall time."""
    spent = {k: after[k] - before.get(k, 0.0) for k in after if k not in ("steal",)}
    return ", ".join(f"{k} {v:.1f}" for k, v in spent.items())


async def events_handled(
    pg_base: str, ports: dict[str, int], started: float, timeout: float
) -> tuple[float, int, int]:
    """Seconds from `started` (a perf_counter) until every event the assessments service
    published (the imported episodes') has been handled by its receivers - the notifications
    service then holds the episodes' deadlines, the referrals service its projection - or
    `timeout`; with how many of them were handled by then, of how many."""
    plain = pg_base.rstrip("/").replace("postgresql+asyncpg", "postgresql")
    by_port = {str(port): name for name, port in ports.items()}
    source = await asyncpg.connect(f"{plain}/eh_assessments")
    try:
        sent = await source.fetch("SELECT destination, count(*) AS n FROM outbox_event GROUP BY destination")
    finally:
        await source.close()
    want = {by_port[r["destination"].split(":")[2].split("/")[0]]: int(r["n"]) for r in sent}
    conns = {name: await asyncpg.connect(f"{plain}/eh_{name}") for name in want}
    try:
        while True:
            # The bench's own events besides these are few; each receiver records every event it handled.
            got = {n: int(await c.fetchval("SELECT count(*) FROM processed_event")) for n, c in conns.items()}
            done = sum(min(got[n], want[n]) for n in want)
            if done >= sum(want.values()) or time.perf_counter() - started > timeout:
                return time.perf_counter() - started, done, sum(want.values())
            await asyncio.sleep(1.0)
    finally:
        for conn in conns.values():
            await conn.close()


def workers_of(spec: str) -> dict[str, int]:
    """`referrals=2,assessments=2` -> {"referrals": 2, "assessments": 2}."""
    return {name: int(n) for name, n in (item.split("=") for item in spec.split(",") if item)}


def main() -> int:
    from bench.mixed import Processes, start_stack

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--batch-size", type=int, default=case_import.BATCH)
    ap.add_argument(
        "--workers", default="", help="uvicorn workers per process, e.g. referrals=2,assessments=2"
    )
    ap.add_argument(
        "--events-timeout",
        type=float,
        default=600.0,
        help="seconds from the start to wait for the episodes' events to be handled (deadlines)",
    )
    args = ap.parse_args()
    stack, tmp, pg_root, postmaster = start_stack("postgres", "WARNING", workers=workers_of(args.workers))
    try:
        stack.start_all()
        stack.wait_ready(timeout=120)
        procs = Processes({n: r.popen.pid for n, r in stack.running.items()}, postmaster)
        path = write_csv(tmp / "cases.csv", synthetic(args.rows))
        rows = sum(1 for _ in path.open()) - 1
        print(f"{rows} rows in {path}")
        print(f"load average before: {loadavg()}")
        before = procs.cpu()
        started = time.perf_counter()
        seconds, outcome = asyncio.run(timed_import(stack.gateway_url, path, args.batch_size))
        print(f"load average after: {loadavg()}")
        print(f"  CPU seconds: {cpu_report(before, procs.cpu())}")
        assert not outcome.errors, outcome.errors[:5]
        print(f"import: {seconds:.1f} s ({rows / seconds:.0f} rows/s), created {dict(outcome.created)}")
        print("  seconds by record type: " + ", ".join(f"{k} {v:.1f}" for k, v in outcome.seconds.items()))
        assert stack.pg_base is not None
        handled, done, published = asyncio.run(
            events_handled(stack.pg_base, stack.ports, started, args.events_timeout)
        )
        print(
            f"events of the imported episodes handled by their receivers: {done} of {published}, "
            f"{handled:.1f} s after the start (load average {loadavg()})"
        )
        print(f"  CPU seconds to then: {cpu_report(before, procs.cpu())}")
        again, second = asyncio.run(timed_import(stack.gateway_url, path, args.batch_size))
        assert sum(second.created.values()) == 0
        print(f"re-run: {again:.1f} s, created nothing, already imported {sum(second.skipped.values())}")
        print(f"people rows linked to a person already in the index (matching): {outcome.linked}")
    finally:
        stack.stop_all()
        if pg_root is not None:
            pg.stop(pg_root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
