"""Issue 21 item 6: `episode_review_fact`, the per-episode review facts the drift list and the
review cadence read, kept by the rule that records a review and filled for older reviews by
migration 0009's SQL - both giving the same rows (services/assessments/review_facts.py)."""

from __future__ import annotations

import csv
import importlib.util
import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, text

from services.assessments.models import EpisodeReviewFact
from services.assessments.review_facts import HeldReview, no_movement
from services.assessments.tests.conftest import EH, h, new_episode
from services.assessments.tests.test_timeliness_drift import at, review, with_plan

MIGRATION = Path(__file__).resolve().parents[1] / "migrations" / "versions" / "0009_episode_review_fact.py"


def _backfill_sql() -> str:
    spec = importlib.util.spec_from_file_location("review_fact_migration", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.BACKFILL)


async def facts(svc) -> dict[str, tuple[Any, ...]]:
    async with svc.runtime.db.session(write=False) as s:
        rows = (await s.execute(select(EpisodeReviewFact))).scalars()
        return {
            f.episode_id: (f.reviews, f.first_review_on, f.last_review_on, bool(f.no_movement)) for f in rows
        }


async def _world(svc) -> dict[str, str]:
    """Episodes whose reviews test the edges: none, two, stalled, improved in the latest three
    only, recorded out of order, several on one day, no scores at all."""
    ids: dict[str, str] = {}
    at(2026, 1, 5, 10)
    for name in ("none", "two", "stalled", "late_rise", "out_of_order", "same_day", "no_scores"):
        eid, outcomes, _ = await with_plan(svc)
        ids[name] = eid
        ids[name + ".o"] = outcomes[0]
        ids[name + ".p"] = outcomes[1]
    at(2026, 6, 1, 9)

    def sc(name: str, a: int, b: int | None = None) -> dict[str, int]:
        return {ids[name + ".o"]: a} | ({} if b is None else {ids[name + ".p"]: b})

    await review(svc, ids["two"], "2026-02-01", sc("two", 3))
    await review(svc, ids["two"], "2026-03-01", sc("two", 3))
    for day in ("2026-02-01", "2026-03-01", "2026-04-01"):
        await review(svc, ids["stalled"], day, sc("stalled", 4, 6))
    for day, score in (("2026-02-01", 5), ("2026-03-01", 2), ("2026-04-01", 2), ("2026-05-01", 3)):
        await review(svc, ids["late_rise"], day, sc("late_rise", score))
    # Recorded newest first: the latest three by day are 5, 5, 5 though 7 was recorded last.
    for day, score in (("2026-05-01", 5), ("2026-04-01", 5), ("2026-03-01", 5), ("2026-02-01", 7)):
        await review(svc, ids["out_of_order"], day, sc("out_of_order", score))
    # Two reviews on one day: the one recorded later is the later.
    at(2026, 6, 1, 9)
    await review(svc, ids["same_day"], "2026-03-01", sc("same_day", 2))
    await review(svc, ids["same_day"], "2026-04-01", sc("same_day", 4))
    at(2026, 6, 1, 10)
    await review(svc, ids["same_day"], "2026-04-01", sc("same_day", 4))
    for day in ("2026-02-01", "2026-03-01", "2026-04-01"):
        await review(svc, ids["no_scores"], day)
    return ids


async def test_the_facts_follow_each_review_recorded(svc):
    ids = await _world(svc)
    got = await facts(svc)
    d = date.fromisoformat
    assert ids["none"] not in got
    assert got[ids["two"]] == (2, d("2026-02-01"), d("2026-03-01"), False)
    assert got[ids["stalled"]] == (3, d("2026-02-01"), d("2026-04-01"), True)
    assert got[ids["late_rise"]] == (4, d("2026-02-01"), d("2026-05-01"), False)
    assert got[ids["out_of_order"]] == (4, d("2026-02-01"), d("2026-05-01"), True)
    assert got[ids["same_day"]] == (3, d("2026-03-01"), d("2026-04-01"), False)
    assert got[ids["no_scores"]] == (3, d("2026-02-01"), d("2026-04-01"), True)
    # One more review that moves an outcome: no longer stalled.
    await review(svc, ids["stalled"], "2026-05-01", {ids["stalled.p"]: 7})
    assert (await facts(svc))[ids["stalled"]] == (4, d("2026-02-01"), d("2026-05-01"), False)


async def test_closing_an_episode_keeps_its_facts(svc):
    ids = await _world(svc)
    before = await facts(svc)
    r = await svc.client.post(
        f"/v1/episodes/{ids['stalled']}/close", json={"reason": "disengaged"}, headers=h(svc, EH)
    )
    assert r.status_code == 200, r.text
    assert await facts(svc) == before
    # ... and it leaves the drift list, which reads open episodes only.
    rows = (await svc.client.get("/v1/reports/drift", headers=h(svc, EH))).json()["items"]
    assert ids["stalled"] not in {row["episode_id"] for row in rows}


async def test_the_migration_fills_the_same_rows(svc):
    await _world(svc)
    kept = await facts(svc)
    async with svc.runtime.db.session() as s:
        await s.execute(delete(EpisodeReviewFact))
        await s.execute(text(_backfill_sql()))
    assert await facts(svc) == kept


def test_no_movement():
    def r(*scores: tuple[str, int]) -> HeldReview:
        return HeldReview(date(2026, 1, 1), datetime(2026, 1, 1, tzinfo=UTC), "r", scores)

    assert not no_movement([r(("a", 1)), r(("a", 1))])  # fewer than three
    assert no_movement([r(), r(), r()])
    assert no_movement([r(("a", 3)), r(("a", 5)), r(("a", 3))])  # rose and fell back
    assert no_movement([r(("a", 1)), r(("a", 9), ("b", 2)), r(("a", 9)), r(("a", 9), ("b", 2))])
    assert not no_movement([r(("a", 3)), r(("b", 2)), r(("a", 4))])


async def test_the_drift_csv_cells_are_the_json_values(svc):
    """The CSV is written without building each row's model: its cells are still the JSON's."""
    from services.assessments.tests.test_timeliness_drift import _drift_world

    await _drift_world(svc)
    at(2026, 3, 1, 10, 0, 0, 250000)  # a fraction of a second: opened_at keeps its digits
    fraction = (await new_episode(svc))["id"]
    svc.runtime.settings.drift_open_months = 0
    at(2026, 3, 2, 10)
    items = (await svc.client.get("/v1/reports/drift", params={"limit": 100}, headers=h(svc, EH))).json()[
        "items"
    ]
    r = await svc.client.get("/v1/reports/drift", params={"format": "csv"}, headers=h(svc, EH))
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(items) >= 4
    for item, row in zip(items, rows, strict=True):
        expected = {
            k: "" if v is None else ";".join(v) if isinstance(v, list) else str(v) for k, v in item.items()
        }
        assert row == expected
    assert any(row["episode_id"] == fraction and ".25" in row["opened_at"] for row in rows)
