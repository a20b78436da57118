"""Issue 21 item 6: the per-episode facts the episode report reads - `episode_report_fact`
(first assessment started and approved, first plan agreed, current plan version) and
`episode_review_gap` (the months each review came after the one before) - kept by the rules
that change them and filled for older rows by migration 0011's SQL, both giving the same rows
(services/assessments/report_facts.py, review_facts.py)."""

from __future__ import annotations

import runpy
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, select, text

from services.assessments.models import EpisodeReportFact, EpisodeReviewGap
from services.assessments.review_facts import months_needed, review_gaps
from services.assessments.tests.conftest import EH, h, new_episode
from services.assessments.tests.test_assessments import FULL, start
from services.assessments.tests.test_import_plans import URL as IMPORT_PLANS
from services.assessments.tests.test_import_plans import an_episode, plan_row
from services.assessments.tests.test_imports import IMPORTER
from services.assessments.tests.test_timeliness_drift import _stopped_clock, at, plan_body, review, with_plan

__all__ = ["_stopped_clock"]  # the clock is reset after each test here too

MIGRATION = Path(__file__).resolve().parents[1] / "migrations" / "versions" / "0011_episode_report_fact.py"


def _migration() -> Any:
    return SimpleNamespace(**runpy.run_path(str(MIGRATION)))


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=None)


async def report_facts(svc) -> dict[str, tuple[Any, ...]]:
    async with svc.runtime.db.session(write=False) as s:
        rows = (await s.execute(select(EpisodeReportFact))).scalars()
        return {
            f.episode_id: (
                _utc(f.first_assessment_started_at),
                _utc(f.first_assessment_approved_at),
                _utc(f.first_plan_agreed_at),
                f.current_plan_id,
            )
            for f in rows
        }


async def gap_rows(svc) -> dict[str, dict[int, int]]:
    async with svc.runtime.db.session(write=False) as s:
        got: dict[str, dict[int, int]] = {}
        for g in (await s.execute(select(EpisodeReviewGap))).scalars():
            got.setdefault(g.episode_id, {})[g.months] = g.reviews
        return got


async def _approve(svc, eid: str) -> None:
    await _finish(svc, await start(svc, eid))


async def _finish(svc, started: Any) -> None:
    """Fill in, submit and approve the assessment of the response `started`."""
    assert started.status_code == 201, started.text
    url = f"/v1/assessments/{started.json()['id']}"
    ok = await svc.client.patch(url, json=FULL, headers=h(svc, EH, **{"If-Match": started.headers["etag"]}))
    assert ok.status_code == 200, ok.text
    assert (await svc.client.post(f"{url}/submit", headers=h(svc, EH))).status_code == 200
    r = await svc.client.post(
        f"{url}/approve", json={"approved_by": {"name": "M", "role": "manager"}}, headers=h(svc, EH)
    )
    assert r.status_code == 200, r.text


async def test_first_steps_follow_each_assessment_and_plan(svc):
    started = at(2026, 1, 5, 10)
    eid = (await new_episode(svc))["id"]
    bare = (await new_episode(svc))["id"]
    assert await report_facts(svc) == {}
    draft = await start(svc, eid)
    assert (await report_facts(svc))[eid] == (_utc(started), None, None, None)
    at(2026, 1, 6, 10)
    await _finish(svc, draft)
    approved = datetime(2026, 1, 6, 10)
    assert (await report_facts(svc))[eid] == (_utc(started), approved, None, None)
    agreed = at(2026, 1, 10, 9)
    r = await svc.client.put(f"/v1/episodes/{eid}/plan", json=plan_body(), headers=h(svc, EH))
    assert r.status_code in (200, 201), r.text
    first_plan = r.json()["id"]
    assert (await report_facts(svc))[eid] == (_utc(started), approved, _utc(agreed), first_plan)
    # A new plan version: the first agreed stays, the current plan moves on.
    at(2026, 2, 10, 9)
    r = await svc.client.put(f"/v1/episodes/{eid}/plan", json=plan_body(), headers=h(svc, EH))
    assert r.status_code in (200, 201), r.text
    assert r.json()["id"] != first_plan
    assert (await report_facts(svc))[eid] == (_utc(started), approved, _utc(agreed), r.json()["id"])
    assert bare not in await report_facts(svc)


async def test_an_imported_plan_keeps_its_agreed_day(svc):
    at(2026, 11, 1, 9)
    episode = await an_episode(svc)
    r = await svc.client.post(
        IMPORT_PLANS, json={"plans": [plan_row("P1", episode)]}, headers=h(svc, IMPORTER)
    )
    assert r.status_code == 200, r.text
    got = (await report_facts(svc))[episode]
    assert got[:3] == (None, None, datetime(2026, 9, 10, 10)) and got[3] is not None


async def test_review_gaps_follow_each_review_recorded(svc):
    at(2026, 1, 5, 10)
    eid, _, _ = await with_plan(svc)
    other, _, _ = await with_plan(svc)
    at(2026, 8, 1, 9)
    await review(svc, eid, "2026-01-31")
    assert await gap_rows(svc) == {}  # one review: no gap yet
    await review(svc, eid, "2026-02-28")  # Jan 31 + 1 month is Feb 28: one month
    await review(svc, eid, "2026-05-31")  # Feb 28 + 3 months is May 28: four months
    assert (await gap_rows(svc))[eid] == {1: 1, 4: 1}
    # Recorded out of order: it lands between the two it was held between.
    await review(svc, eid, "2026-04-01")  # Feb 28 -> Apr 1: two months; Apr 1 -> May 31: two
    assert (await gap_rows(svc))[eid] == {1: 1, 2: 2}
    await review(svc, other, "2026-03-01")
    await review(svc, other, "2026-03-01")  # the same day: no months at all
    assert (await gap_rows(svc))[other] == {0: 1}


async def test_the_migration_fills_the_same_rows(svc):
    at(2026, 1, 5, 10)
    eid, _, _ = await with_plan(svc)
    await _approve(svc, (await new_episode(svc))["id"])
    at(2026, 2, 1, 9)
    r = await svc.client.put(f"/v1/episodes/{eid}/plan", json=plan_body(), headers=h(svc, EH))
    assert r.status_code in (200, 201), r.text
    at(2026, 8, 1, 9)
    for day in ("2026-02-27", "2026-01-31", "2026-05-31", "2026-05-31", "2026-07-30"):
        await review(svc, eid, day)
    kept, gaps = await report_facts(svc), await gap_rows(svc)
    assert len(kept) == 2 and gaps[eid] == {1: 1, 4: 1, 0: 1, 2: 1}
    module = _migration()
    async with svc.runtime.db.session() as s:
        await s.execute(delete(EpisodeReportFact))
        await s.execute(delete(EpisodeReviewGap))
        await s.execute(text(module.REPORT_FACTS))
        await s.execute(text(module.review_gaps_sql(s.get_bind().dialect.name)))
    assert await report_facts(svc) == kept
    assert await gap_rows(svc) == gaps


def test_months_needed_is_the_cadence_comparison():
    """Within N months (the day clamped to the month's end) exactly when N or fewer are needed."""

    def within(earlier: date, later: date, months: int) -> bool:
        gap = (later.year * 12 + later.month) - (earlier.year * 12 + earlier.month)
        return gap < months or (gap == months and later.day <= earlier.day)

    days = [date(2025, 11, 30), date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 1), date(2026, 12, 31)]
    for earlier in days:
        for later in days:
            if later < earlier:
                continue
            needed = months_needed(earlier, later)
            assert all(within(earlier, later, n) == (needed <= n) for n in range(0, 15))
    assert months_needed(date(2025, 11, 30), date(2026, 2, 28)) == 3
    assert months_needed(date(2026, 1, 31), date(2026, 3, 1)) == 2
    assert review_gaps([date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 2)]) == {1: 1, 2: 1}
