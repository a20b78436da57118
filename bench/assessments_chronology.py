"""The episode chronology of ~500 items on PostgreSQL, measured in-process (issue 20).

    out=$(python -m devtools.pg start)
    python -m bench.assessments_chronology --pg-url "$(echo "$out" | head -1)" [--requests 1000]
    python -m devtools.pg stop "$(echo "$out" | tail -1)"
    # without --pg-url (or EH_BENCH_PG_URL / EH_TEST_PG_URL) a throwaway server is started and stopped

Builds a fresh database with the assessments service's real Alembic migrations and loads, with
the service's own models, one episode of ~500 chronology items: 3 lead professionals, 12 TAF
memberships (4 ended), 220 contacts, 220 case notes (one in five restricted, one in ten
amended), 3 assessments (submitted, returned, approved), 10 plan versions, 20 reviews, a
step-up, and closure; plus `--other-episodes` (200) episodes of ~50 items each, so the
queries run among other episodes' rows. Then times `GET /v1/episodes/{id}/chronology` through
the whole app (token verification, FastAPI, the access check, the merge, the response model)
with `httpx.ASGITransport`, as early help (which sees restricted notes; no consent call):
- a baseline: `GET /v1/episodes/{id}` of the same episode (an ordinary read, same machine, same moment);
- `limit=500` (the whole chronology in one page), `limit=200` newest first, `limit=50` (the default page), `order=asc`
  with a `kind` filter, and the walk of every page at `limit=200` (3 requests);
Prints p50/p95/p99/max in milliseconds (warm-up excluded) and this process's CPU ms per
request (the service's own cost, whatever else the machine runs; PostgreSQL's is not in it). The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from bench.consent_access_check import percentiles
from bench.pgdb import add_pg_url_argument, migrated_database
from services.assessments.config import Settings
from services.assessments.main import create_app
from services.assessments.models import (
    Assessment,
    CaseNote,
    CaseNoteVersion,
    Contact,
    Episode,
    EpisodePerson,
    LeadProfessional,
    Plan,
    Review,
    StepUp,
    TafMember,
)
from shared.testing import TestSigner

SERVICE_DIR = Path(__file__).resolve().parents[1] / "services" / "assessments"
EH = {"agency_type": "early_help", "agency_id": "eh-team", "scopes": "episodes:read"}


def uid() -> str:
    return str(uuid.uuid4())


def episode_rows(rng: random.Random, n: int, scale: float, closed: bool) -> tuple[str, list]:
    """One episode and its rows; `scale` 1.0 is ~500 chronology items."""
    start = datetime.now(UTC) - timedelta(days=400)
    at = lambda: start + timedelta(seconds=rng.randint(0, 399 * 86_400))  # noqa: E731
    eid = uid()
    rows: list = [
        Episode(
            id=eid,
            reference=f"EH-2026-{n:06d}",
            referral_id=uid(),
            origin="referral",
            level_of_need="partnership_plus",
            status="closed" if closed else "open",
            opened_at=start,
            first_contact_due_at=start + timedelta(hours=72),
            assessment_start_due_at=start + timedelta(days=14),
            assessment_complete_due_at=start + timedelta(days=63),
            closed_at=start + timedelta(days=399) if closed else None,
            close_reason="needs_met" if closed else None,
            version=1,
        ),
        EpisodePerson(episode_id=eid, person_id=uid()),
        EpisodePerson(episode_id=eid, person_id=uid()),
    ]
    for i in range(3):
        rows.append(
            LeadProfessional(
                id=uid(),
                episode_id=eid,
                name="Bench Lead",
                agency_id="eh-team",
                email="lead@council.example",
                family_agreed=True,
                assigned_at=start + timedelta(days=100 * i),
                assigned_by_agency_id="eh-team",
                ended_at=None if i == 2 else start + timedelta(days=100 * (i + 1)),
            )
        )
    for i in range(12):
        rows.append(
            TafMember(
                id=uid(),
                episode_id=eid,
                agency_id=f"agency-{i}",
                agency_type="education",
                name="Bench Member",
                role="member",
                added_at=at(),
                removed_at=at() if i < 4 else None,
            )
        )
    for i in range(int(220 * scale)):
        rows.append(
            Contact(
                id=uid(),
                episode_id=eid,
                contact_at=at(),
                method="home_visit",
                notes="Bench contact notes " * 10,
                first=i == 0,
                recorded_by_agency_id="eh-team",
                created_at=start,
            )
        )
    for i in range(int(220 * scale)):
        note_id, version = uid(), 2 if i % 10 == 0 else 1
        when = at()
        rows.append(
            CaseNote(
                id=note_id,
                episode_id=eid,
                kind=rng.choice(["contact", "visit", "meeting", "phone_call", "other"]),
                occurred_at=when,
                text="Bench case note text " * 30,
                restricted=i % 5 == 0,
                author_practitioner_id="p-bench",
                author_agency_id="eh-team",
                author_client_id="bench",
                created_at=when,
                amended_at=when if version == 2 else None,
                version=version,
            )
        )
        for v in range(1, version + 1):
            rows.append(
                CaseNoteVersion(
                    note_id=note_id,
                    version=v,
                    kind="visit",
                    occurred_at=when,
                    text="Bench case note text " * 30,
                    restricted=i % 5 == 0,
                    recorded_at=when,
                    recorded_by_agency_id="eh-team",
                    recorded_by_client_id="bench",
                    reason=None if v == 1 else "bench",
                )
            )
    for _ in range(3 if scale >= 1 else 1):
        t = at()
        rows.append(
            Assessment(
                id=uid(),
                episode_id=eid,
                status="approved",
                started_at=t,
                due_on=date.today(),
                submitted_at=t + timedelta(days=5),
                returned_at=t + timedelta(days=7),
                approved_at=t + timedelta(days=9),
                family_members=[{"person_id": uid(), "section": "x" * 500}],
                baseline={"notes": "y" * 1000},
                version=1,
            )
        )
    for v in range(1, (10 if scale >= 1 else 2) + 1):
        rows.append(Plan(id=uid(), episode_id=eid, version=v, agreed_at=at(), agreed_by_agency_id="eh-team"))
    for _ in range(20 if scale >= 1 else 2):
        held = at().date()
        rows.append(
            Review(
                id=uid(),
                episode_id=eid,
                held_on=held,
                next_review_on=held + timedelta(weeks=6),
                attendees=["A", "B"],
                created_at=start,
            )
        )
    rows.append(
        StepUp(
            id=uid(),
            episode_id=eid,
            reason="bench",
            agency_id="eh-team",
            agency_type="early_help",
            requested_at=at(),
            status="sent",
            referral_id=uid(),
            sent_at=at(),
            next_attempt_at=start,
        )
    )
    return eid, rows


async def load(app, rng: random.Random, others: int) -> str:
    db = app.state.runtime.db
    started = time.perf_counter()
    async with db.session() as session:
        eid, rows = episode_rows(rng, 1, 1.0, closed=True)
        session.add_all([r for r in rows if isinstance(r, Episode)])
        await session.flush()
        session.add_all([r for r in rows if not isinstance(r, Episode | CaseNoteVersion)])
        await session.flush()
        session.add_all([r for r in rows if isinstance(r, CaseNoteVersion)])
    for n in range(others):
        async with db.session() as session:
            _, rows = episode_rows(rng, n + 2, 0.1, closed=False)
            session.add_all([r for r in rows if isinstance(r, Episode)])
            await session.flush()
            session.add_all([r for r in rows if not isinstance(r, Episode | CaseNoteVersion)])
            await session.flush()
            session.add_all([r for r in rows if isinstance(r, CaseNoteVersion)])
    print(f"loaded 1 + {others} episodes in {time.perf_counter() - started:.1f} s")
    return eid


async def time_requests(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], params: dict, n: int, *, walk: bool = False
) -> tuple[list[float], int, float]:
    """Wall-clock samples, the items of the last answer, and this process's CPU ms per request
    (the service's own cost, whatever else the machine runs; PostgreSQL's is not in it)."""
    samples, items, cpu = [], 0, 0.0
    for i in range(n + 50):
        if i == 50:
            cpu = time.process_time()
        t0 = time.perf_counter()
        count, cursor = 0, None
        while True:
            resp = await client.get(
                url, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers
            )
            assert resp.status_code == 200, resp.text
            body = resp.json()
            count += len(body.get("items", []))
            cursor = body.get("next_cursor")
            if not walk or cursor is None:
                break
        if i >= 50:  # warm-up excluded
            samples.append(time.perf_counter() - t0)
            items = count
    return samples, items, (time.process_time() - cpu) * 1000 / n


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_pg_url_argument(ap)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--other-episodes", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    async with migrated_database(SERVICE_DIR, "bench_chronology", args.pg_url) as (url, dsn):
        signer = TestSigner()
        settings = Settings(
            database_url=url,
            environment="test",
            log_level="WARNING",
            gateway_url="http://127.0.0.1:9",
            delivery_interval_seconds=3600,
        )
        app = create_app(settings, keys=signer.keyset())
        async with app.router.lifespan_context(app):
            eid = await load(app, rng, args.other_episodes)
            conn = await asyncpg.connect(dsn)
            await conn.execute("ANALYZE")
            await conn.close()
            headers = signer.auth_header(**EH)
            path = f"/v1/episodes/{eid}/chronology"
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://assessments"
            ) as client:
                results = []
                cases: list[tuple[str, str, dict, bool]] = [
                    ("baseline: GET /v1/episodes/{id}", f"/v1/episodes/{eid}", {}, False),
                    ("limit=500: the whole chronology", path, {"limit": 500}, False),
                    ("limit=200, newest first", path, {"limit": 200}, False),
                    ("limit=50 (default page)", path, {}, False),
                    (
                        "order=asc, kind=case_note,contact",
                        path,
                        {"order": "asc", "kind": ["case_note", "contact"]},
                        False,
                    ),
                    ("every page at limit=200 (walk)", path, {"limit": 200}, True),
                ]
                for name, url_path, params, walk in cases:
                    samples, items, cpu = await time_requests(
                        client, url_path, headers, params, args.requests, walk=walk
                    )
                    results.append((name, items, cpu, percentiles(samples)))
        print(
            f"one episode of ~500 items among {args.other_episodes} others, {args.requests:,} requests each"
        )
        print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        for name, items, cpu, p in results:
            print(
                f"{name:36s} {items:4d} items  p50 {p['p50']:.2f} ms  p95 {p['p95']:.2f} ms  "
                f"p99 {p['p99']:.2f} ms  max {p['max']:.2f} ms  CPU {cpu:.2f} ms/req"
            )


if __name__ == "__main__":
    asyncio.run(main())
