"""`jsna_family_period` (migration 0010): the families the JSNA feed counts, kept at intake.

The feed counts the rows of this table (jsna.counts_query); they must be exactly the distinct
(period, need, district, family) of `referral_need`, which the first version of the feed
de-duplicated on every request. Same families as test_jsna.py (its fixture).
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from services.referrals import jsna
from services.referrals.models import JsnaFamilyPeriod, ReferralNeed
from services.referrals.tests import test_jsna
from services.referrals.tests.conftest import SERVICE_DIR, london
from services.referrals.tests.test_jsna import APR, JAN, raw_counts, refer
from services.referrals.tests.test_migration import alembic_downgrade
from shared.db import alembic_upgrade

families = test_jsna.families  # the fixture: the same five families


async def stored(svc) -> list[tuple]:
    f = JsnaFamilyPeriod
    query = select(f.kind, f.period, f.need, f.district, f.family_key).order_by(
        f.kind, f.period, f.need, f.district, f.family_key
    )
    async with svc.runtime.db.session(write=False) as s:
        return [tuple(r) for r in (await s.execute(query)).all()]


async def from_need_rows(svc) -> list[tuple]:
    """What the table must hold: each need row's family in its month and its quarter, once."""
    async with svc.runtime.db.session(write=False) as s:
        needs = (await s.scalars(select(ReferralNeed))).all()
    rows = {tuple(r.values()) for r in jsna.family_period_rows(list(needs))}
    return sorted(rows)


async def old_counts(svc, kind: str, first_month: int, last_month: int) -> dict:
    """The first version's counts: the need rows' families de-duplicated per cell, then counted."""
    n = ReferralNeed.__table__.c
    period = (n.month // jsna.MONTHS_IN[kind]).label("period")
    cells = (
        select(period, n.need, n.district, n.family_key)
        .where(n.month >= first_month, n.month <= last_month)
        .distinct()
        .subquery()
    )
    query = select(cells.c.period, cells.c.need, cells.c.district, func.count()).group_by(
        cells.c.period, cells.c.need, cells.c.district
    )
    async with svc.runtime.db.session(write=False) as s:
        rows = (await s.execute(query)).all()
    return {(jsna.period_label(p, kind), need, place): count for p, need, place, count in rows}


async def test_intake_keeps_each_family_once_per_cell(families):
    rows = await stored(families)
    assert rows == await from_need_rows(families)
    # Family A: two referrals in January both naming parental mental health: one row a kind.
    pmh_january = [r for r in rows if r[1] in (JAN, JAN // 3) and r[2] == "parental_mental_health"]
    assert len([r for r in pmh_january if r[0] == "month"]) == 2  # families A and B
    assert len([r for r in pmh_january if r[0] == "quarter"]) == 2
    # Family E: housing in February and April: two months, two quarters.
    housing = [r for r in rows if r[2] == "housing"]
    assert sorted((r[0], r[1]) for r in housing) == [
        ("month", JAN + 1),
        ("month", APR),
        ("quarter", JAN // 3),
        ("quarter", APR // 3),
    ]


@pytest.mark.parametrize("kind", ["month", "quarter"])
async def test_the_counts_are_the_first_versions(families, kind):
    assert await raw_counts(families, kind, JAN, APR + 2) == await old_counts(families, kind, JAN, APR + 2)


async def test_a_family_referred_again_in_the_period_adds_no_row(families):
    before = await stored(families)
    await refer(families, london(2026, 1, 28, 10), "B", ["parental_mental_health"], "Noah", "2015-06-01")
    assert await stored(families) == before
    await refer(families, london(2026, 1, 29, 10), "B", ["domestic_abuse"], "Noah", "2015-06-01")
    added = sorted(set(await stored(families)) - set(before))
    assert [(r[0], r[2]) for r in added] == [("month", "domestic_abuse"), ("quarter", "domestic_abuse")]


async def test_migration_0010_backfills_what_intake_writes(families):
    kept = await stored(families)
    assert len(kept) == 16
    db = families.runtime.db
    for engine in {db.write_engine, db.read_engine}:
        await engine.dispose()
    await asyncio.to_thread(alembic_downgrade, db.url, "0009")
    await db.write_engine.dispose()
    await asyncio.to_thread(alembic_upgrade, SERVICE_DIR, db.url, "head")
    assert await stored(families) == kept
