"""The Supporting Families facts table (`sf_headline`, sf_facts.py) kept on every write and
filled by `backfill` the same; and the quarter's summary as a chart (issue 21 items 1, 5, 6)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from services.assessments.models import Review, ReviewScore, SfHeadline
from services.assessments.sf_facts import backfill
from services.assessments.tests.conftest import EH, POLICE, h
from services.assessments.tests.test_supporting_families import SF, TWO, at, both_met, family
from shared.testing import assert_chart


async def rows(svc) -> list[tuple]:
    async with svc.runtime.db.session() as s:
        found = await s.execute(select(SfHeadline).order_by(SfHeadline.episode_id, SfHeadline.headline))
        return [
            (r.episode_id, r.headline, r.at_start, r.from_needs, r.from_plan, r.met_on,
             r.re_referral_after_on, r.review_below_after_on)
            for r in found.scalars()
        ]  # fmt: skip


async def test_kept_on_every_write_and_the_backfill_agrees(svc, clock):
    person = "p-shared"
    first = await both_met(svc, people=(person,))
    assert sorted(r[1:] for r in await rows(svc)) == [
        ("good_education", 1, 1, 0, date(2026, 1, 15), None, None),
        ("secure_housing", 1, 1, 0, date(2026, 1, 15), None, None),
    ]
    # A later episode of the same child naming a housing need: the first family's housing
    # headline gets its re-referral day (the facts of both episodes are recomputed).
    second = await family(svc, opened=at(date(2026, 3, 2)), needs=("housing",), people=(person,))
    facts = {(r[0], r[1]): r for r in await rows(svc)}
    assert facts[(first, "secure_housing")][6] == date(2026, 3, 2)
    assert facts[(first, "good_education")][6] is None
    assert facts[(second, "secure_housing")][2:6] == (1, 1, 0, None)
    # A review scoring an outcome below target, recorded after the plan: its day is kept.
    third = await family(
        svc, opened=at(date(2025, 9, 1)), needs=TWO, outcomes=(("o1", "good_education", "7"),),
        reviews=((date(2025, 11, 1), {"o1": 8}),),
    )  # fmt: skip
    async with svc.runtime.db.session() as s:
        s.add(Review(id="r-late", episode_id=third, held_on=date(2025, 12, 1), next_review_on=date(2026, 1, 1),
                     created_at=at(date(2025, 12, 1))))  # fmt: skip
        await s.flush()
        s.add(ReviewScore(review_id="r-late", outcome_id="o1", score=5))
    facts = {(r[0], r[1]): r for r in await rows(svc)}
    assert facts[(third, "good_education")][4:] == (1, date(2025, 11, 1), None, date(2025, 12, 1))

    kept = await rows(svc)
    async with svc.runtime.db.session() as s:
        await s.run_sync(lambda sync: backfill(sync.connection()))
    assert await rows(svc) == kept


async def test_the_quarter_as_a_chart(svc, clock):
    await family(svc, opened=at(date(2026, 7, 1)), needs=TWO)
    await both_met(svc, date(2026, 3, 31))
    clock.set(at(date(2026, 12, 1)))
    resp = await svc.client.get(
        f"{SF}/summary", params={"quarter": "2026-Q3", "format": "svg"}, headers=h(svc, EH)
    )
    svg = assert_chart(
        resp, "supporting-families-2026-Q3.svg", "Supporting Families 2026-Q3 (2026-07-01 to 2026-09-30)"
    )
    assert (
        "1 families started, 1 with multiple needs; 0 met a first headline, 1 sustained one (6 months)" in svg
    )
    for text in (
        "Families in the quarter",
        "Became claimable",
        "By Supporting Families headline",
        "Sustained",
    ):
        assert text in svg, text
    png = await svc.client.get(
        f"{SF}/summary", params={"quarter": "2026-Q3", "format": "png"}, headers=h(svc, EH)
    )
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    refused = await svc.client.get(
        f"{SF}/summary", params={"quarter": "2026-Q3", "format": "svg"}, headers=h(svc, POLICE)
    )
    assert refused.status_code == 403
