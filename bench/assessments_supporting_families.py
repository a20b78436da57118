"""The Supporting Families reports over 200,000 episodes on PostgreSQL (issue 21 item 1).

    out=$(python -m devtools.pg start)
    python -m bench.assessments_supporting_families --pg-url "$(echo "$out" | head -1)" [--episodes 200000]
    python -m devtools.pg stop "$(echo "$out" | tail -1)"

Builds a fresh database with the service's Alembic migrations and loads, in SQL
(`generate_series`), `--episodes` episodes opened over two years: two family members each (one
in five shares a member with another episode, so re-referrals happen), two or three needs, a
first plan of two outcomes with score targets, two reviews, and closure with outcomes for
three in five. Then times, through the whole app in-process, the summary of a quarter (JSON),
the claims CSV of a year and the first page of the per-family list: the median of `--repeat`
runs each, in milliseconds. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from services.assessments.config import Settings
from services.assessments.main import create_app
from shared.db import alembic_upgrade
from shared.testing import TestSigner

SERVICE_DIR = Path(__file__).resolve().parents[1] / "services" / "assessments"
EH = {"agency_type": "early_help", "agency_id": "eh-team", "scopes": "reports:read"}

LOAD = """
INSERT INTO episode (id, reference, origin, level_of_need, status, opened_at, updated_at,
    first_contact_due_at, assessment_start_due_at, assessment_complete_due_at,
    social_care_involved, closed_at, close_reason, version)
SELECT 'e' || g, 'EH-B-' || g, 'referral', 'partnership_plus',
    CASE WHEN g % 5 < 3 THEN 'closed' ELSE 'open' END,
    TIMESTAMPTZ '2025-01-01' + (g % 730) * INTERVAL '1 day', now(), now(), now(), now(), false,
    CASE WHEN g % 5 < 3 THEN TIMESTAMPTZ '2025-01-01' + (g % 730 + 120) * INTERVAL '1 day' END,
    CASE WHEN g % 5 < 3 THEN 'needs_met' END, 1
FROM generate_series(1, $1) g;

INSERT INTO episode_family_member (episode_id, person_id, role, added_at)
SELECT 'e' || g, 'c' || g, 'child', now() FROM generate_series(1, $1) g
UNION ALL
SELECT 'e' || g, 'a' || CASE WHEN g % 5 = 0 THEN g - 1 ELSE g END, 'adult', now() FROM generate_series(1, $1) g;

INSERT INTO episode_need (episode_id, need, headline)
SELECT 'e' || g, n.need, n.headline FROM generate_series(1, $1) g
JOIN (VALUES (0, 'school_attendance', 'good_education'), (1, 'housing', 'secure_housing'),
             (2, 'domestic_abuse', 'safe_from_domestic_abuse')) n(k, need, headline)
  ON n.k < 2 + g % 2;

INSERT INTO plan (id, episode_id, version, agreed_at, agreed_by_agency_id)
SELECT 'p' || g, 'e' || g, 1, now(), 'eh' FROM generate_series(1, $1) g;

INSERT INTO plan_outcome (row_id, plan_id, outcome_id, position, headline, description, measure,
    baseline, target, target_on)
SELECT 'po' || g || '-' || k, 'p' || g, 'o' || g || '-' || k, k,
    CASE k WHEN 0 THEN 'good_education' ELSE 'secure_housing' END, 'd', 'm', '3', '7/10', DATE '2027-01-01'
FROM generate_series(1, $1) g, generate_series(0, 1) k;

INSERT INTO review (id, episode_id, held_on, next_review_on, attendees, created_at)
SELECT 'r' || g || '-' || k, 'e' || g, DATE '2025-01-01' + (g % 730 + 40 * k), DATE '2025-01-01' + (g % 730 + 40 * k + 42),
    '[]', now()
FROM generate_series(1, $1) g, generate_series(1, 2) k;

INSERT INTO review_score (review_id, outcome_id, score)
SELECT 'r' || g || '-' || k, 'o' || g || '-' || j, (g + k + j) % 11
FROM generate_series(1, $1) g, generate_series(1, 2) k, generate_series(0, 1) j;

INSERT INTO closure_outcome (episode_id, outcome_id, headline)
SELECT 'e' || g, 'o' || g || '-' || k, CASE k WHEN 0 THEN 'good_education' ELSE 'secure_housing' END
FROM generate_series(1, $1) g, generate_series(0, 1) k WHERE g % 5 < 3;
"""


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--pg-url", default=os.environ.get("EH_TEST_PG_URL"), help="postgresql+asyncpg://user@host:port"
    )
    ap.add_argument("--episodes", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not args.pg_url:
        raise SystemExit("--pg-url (or EH_TEST_PG_URL) is required")
    base = args.pg_url.rstrip("/")
    plain = base.replace("postgresql+asyncpg", "postgresql")
    dbname = f"bench_sf_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(plain + "/postgres")
    await admin.execute(f'CREATE DATABASE "{dbname}"')
    try:
        url = f"{base}/{dbname}"
        await asyncio.to_thread(alembic_upgrade, SERVICE_DIR, url)
        conn = await asyncpg.connect(f"{plain}/{dbname}")
        started = time.perf_counter()
        for statement in LOAD.split(";\n"):
            if statement.strip():
                await conn.execute(statement, args.episodes)
        await conn.execute("ANALYZE")
        await conn.close()
        print(f"loaded {args.episodes:,} episodes in {time.perf_counter() - started:.1f} s")
        signer = TestSigner()
        settings = Settings(
            database_url=url, environment="test", log_level="WARNING", gateway_url="http://127.0.0.1:9"
        )
        app = create_app(settings, keys=signer.keyset())
        headers = signer.auth_header(**EH)
        cases = [
            ("summary 2026-Q1 (JSON)", "/v1/reports/supporting-families/summary", {"quarter": "2026-Q1"}),
            (
                "claims CSV, a year",
                "/v1/reports/supporting-families/claims",
                {"from": "2025-01-01", "to": "2025-12-31"},
            ),
            ("families, first page of 50", "/v1/reports/supporting-families", {"from": "2025-06-01"}),
        ]
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://assessments", timeout=120
            ) as client:
                for name, path, params in cases:
                    samples = []
                    for _ in range(args.repeat):
                        t = time.perf_counter()
                        r = await client.get(path, params=params, headers=headers)
                        samples.append((time.perf_counter() - t) * 1000)
                        assert r.status_code == 200, r.text
                    print(
                        f"{name:30s} median {statistics.median(samples):8.0f} ms  ({len(r.content):,} bytes)"
                    )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
