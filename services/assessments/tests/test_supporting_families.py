"""Supporting Families (issue 21 item 1): hand-built families at the edges of the rule
(docs/assessments.md, "Supporting Families")."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.assessments.models import (
    ClosureOutcome,
    Episode,
    EpisodeFamilyMember,
    EpisodeNeed,
    Plan,
    PlanOutcome,
    Review,
    ReviewScore,
)
from services.assessments.sf_repository import add_months
from services.assessments.supporting_families import quarter_days
from services.assessments.tests.conftest import EH, MASH, decided_event, deliver, h
from shared.codes import NEED_CODES

ADMIN = {"agency_type": "admin", "agency_id": "council", "scopes": "reports:read"}
POLICE_WITH_REPORTS = {"agency_type": "police", "agency_id": "police-1", "scopes": "reports:read"}
SF = "/v1/reports/supporting-families"


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def family(
    svc,
    *,
    opened: datetime,
    needs: tuple[str, ...] = (),
    people: tuple[str, ...] = (),
    closed: date | None = None,
    closure: tuple[str, ...] = (),
    outcomes: tuple[tuple[str, str, str], ...] = (),
    reviews: tuple[tuple[date, dict[str, int]], ...] = (),
) -> str:
    """An episode as the service would hold it: its family, the referral's needs, a first plan
    (`outcomes`: outcome id, headline, target), reviews (`{outcome id: score}`), a closure with
    the outcomes achieved (`closure`: headlines)."""
    eid = str(uuid.uuid4())
    async with svc.runtime.db.session() as s:
        s.add(
            Episode(
                id=eid,
                reference=f"EH-2026-{uuid.uuid4().int % 1_000_000:06d}",
                origin="referral",
                level_of_need="partnership_plus",
                status="closed" if closed else "open",
                opened_at=opened,
                updated_at=opened,
                first_contact_due_at=opened,
                assessment_start_due_at=opened,
                assessment_complete_due_at=opened,
                closed_at=at(closed) if closed else None,
                close_reason="needs_met" if closed else None,
                version=1,
            )
        )
        await s.flush()
        for pid in people or (str(uuid.uuid4()),):
            s.add(EpisodeFamilyMember(episode_id=eid, person_id=pid, role="child", added_at=opened))
        for need in needs:
            s.add(EpisodeNeed(episode_id=eid, need=need, headline=NEED_CODES[need]))
        if outcomes:
            plan = Plan(
                id=str(uuid.uuid4()), episode_id=eid, version=1, agreed_at=opened, agreed_by_agency_id="eh"
            )
            s.add(plan)
            await s.flush()
            for i, (oid, headline, target) in enumerate(outcomes):
                s.add(
                    PlanOutcome(
                        row_id=str(uuid.uuid4()),
                        plan_id=plan.id,
                        outcome_id=oid,
                        position=i,
                        headline=headline,
                        description="d",
                        measure="m",
                        baseline="3",
                        target=target,
                        target_on=opened.date() + timedelta(days=90),
                    )
                )
        for held_on, scores in reviews:
            rid = str(uuid.uuid4())
            s.add(
                Review(
                    id=rid, episode_id=eid, held_on=held_on, next_review_on=held_on, created_at=at(held_on)
                )
            )
            await s.flush()
            for oid, score in scores.items():
                s.add(ReviewScore(review_id=rid, outcome_id=oid, score=score))
        for headline in closure:
            s.add(ClosureOutcome(episode_id=eid, outcome_id=str(uuid.uuid4()), headline=headline))
    return eid


async def one(svc, eid: str, **params: str) -> dict:
    r = await svc.client.get(SF, params={"limit": "200", **params}, headers=h(svc, EH))
    assert r.status_code == 200, r.text
    [fam] = [f for f in r.json()["families"] if f["episode_id"] == eid]
    return fam


def by_headline(fam: dict) -> dict[str, dict]:
    return {x["headline"]: x for x in fam["headlines"]}


TWO = ("school_attendance", "housing")  # good_education, secure_housing
CLOSED = date(2026, 1, 15)


async def both_met(svc, closed: date = CLOSED, **kw) -> str:
    """A family opened 1 October 2025 with two start headlines, both achieved at closure."""
    kw.setdefault("opened", at(date(2025, 10, 1)))
    return await family(svc, needs=TWO, closed=closed, closure=("good_education", "secure_housing"), **kw)


async def test_sustained_exactly_at_six_months_not_one_day_short(svc, clock):
    eid = await both_met(svc, CLOSED)
    clock.set(at(date(2026, 7, 14)))  # one day short of 15 January + 6 months
    fam = await one(svc, eid)
    assert fam["headlines_at_start"] == ["good_education", "secure_housing"] and fam["multiple_needs"]
    assert fam["met"] == ["good_education", "secure_housing"] and fam["sustained"] == []
    edu = by_headline(fam)["good_education"]
    assert edu["status"] == "met" and edu["met_on"] == "2026-01-15" and edu["window_ends_on"] == "2026-07-15"
    assert edu["start_sources"] == ["referral_needs"]
    assert [e["kind"] for e in edu["evidence"]] == ["closure_outcome"]
    assert not fam["eligible_for_claim"] and fam["claimable_on"] is None

    clock.set(at(date(2026, 7, 15)))  # exactly six months
    fam = await one(svc, eid)
    assert fam["sustained"] == ["good_education", "secure_housing"]
    assert by_headline(fam)["secure_housing"]["sustained_on"] == "2026-07-15"
    assert fam["eligible_for_claim"] and fam["claimable_on"] == "2026-07-15"
    assert fam["needs_recorded"] is True


async def test_the_window_follows_the_setting_and_clamps_to_the_month_end(svc, clock):
    svc.runtime.settings.sf_sustain_months = 3
    eid = await family(
        svc, opened=at(date(2025, 9, 1)), needs=TWO, closed=date(2025, 11, 30), closure=("good_education",)
    )
    clock.set(at(date(2026, 2, 27)))
    edu = by_headline(await one(svc, eid))["good_education"]
    assert edu["window_ends_on"] == "2026-02-28" and edu["status"] == "met"  # 30 Nov + 3 months
    clock.set(at(date(2026, 2, 28)))
    fam = await one(svc, eid)
    assert by_headline(fam)["good_education"]["status"] == "sustained"
    # secure_housing was never met: the claim is blocked.
    assert by_headline(fam)["secure_housing"]["status"] == "not_met" and not fam["eligible_for_claim"]


def test_add_months_clamps_like_postgresql():
    assert add_months(date(2025, 8, 31), 6) == date(2026, 2, 28)
    assert add_months(date(2026, 1, 15), 6) == date(2026, 7, 15)
    assert add_months(date(2025, 12, 31), 2) == date(2026, 2, 28)
    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)


async def test_a_re_referral_inside_the_window_breaks_sustainment(svc, clock):
    mother = str(uuid.uuid4())
    eid = await family(
        svc,
        opened=at(date(2025, 10, 1)),
        needs=TWO,
        people=(str(uuid.uuid4()), mother),
        closed=CLOSED,
        closure=("good_education", "secure_housing"),
    )
    # The mother is referred again on 1 March with a housing need; and on 1 August (after the
    # window) with a school one; neither counts for the other headline.
    await family(svc, opened=at(date(2026, 3, 1)), needs=("homelessness_risk",), people=(mother,))
    await family(svc, opened=at(date(2026, 8, 1)), needs=("exclusion",), people=(mother,))
    clock.set(at(date(2026, 9, 1)))
    fam = await one(svc, eid, to="2025-12-31")
    hs = by_headline(fam)
    assert hs["secure_housing"]["status"] == "not_sustained"
    assert (
        hs["secure_housing"]["broken_by"] == "re_referral"
        and hs["secure_housing"]["broken_on"] == "2026-03-01"
    )
    assert hs["good_education"]["status"] == "sustained"
    assert not fam["eligible_for_claim"] and fam["sustained"] == ["good_education"]


async def test_a_re_referral_on_the_window_end_still_breaks_it_the_day_after_does_not(svc, clock):
    child = str(uuid.uuid4())
    eid = await both_met(svc, CLOSED, people=(child,))
    await family(svc, opened=at(date(2026, 7, 15)), needs=("housing",), people=(child,))
    await family(svc, opened=at(date(2026, 7, 16)), needs=("school_attendance",), people=(child,))
    clock.set(at(date(2026, 8, 1)))
    hs = by_headline(await one(svc, eid, to="2025-12-31"))
    assert hs["secure_housing"]["broken_on"] == "2026-07-15"
    assert hs["good_education"]["status"] == "sustained"


async def test_a_review_reaching_the_target_meets_and_a_later_one_below_breaks(svc, clock):
    edu, home = str(uuid.uuid4()), str(uuid.uuid4())
    eid = await family(
        svc,
        opened=at(date(2025, 10, 1)),
        outcomes=((edu, "good_education", "7/10"), (home, "secure_housing", "8")),
        reviews=(
            (date(2025, 12, 1), {edu: 7, home: 6}),
            (date(2026, 1, 10), {edu: 8, home: 8}),
            (date(2026, 3, 1), {edu: 8, home: 5}),
        ),
    )
    clock.set(at(date(2026, 9, 1)))
    fam = await one(svc, eid)
    assert fam["needs_recorded"] is False  # opened before the needs reached this service
    hs = by_headline(fam)
    assert hs["good_education"]["start_sources"] == ["first_plan"]
    assert hs["good_education"]["met_on"] == "2025-12-01" and hs["good_education"]["status"] == "sustained"
    first, *_later = hs["good_education"]["evidence"]
    assert len(_later) == 2
    assert first["kind"] == "review" and first["score"] == 7 and first["target_score"] == 7
    assert hs["secure_housing"]["met_on"] == "2026-01-10"
    assert hs["secure_housing"]["broken_by"] == "review_below_target"
    assert hs["secure_housing"]["broken_on"] == "2026-03-01"
    assert not fam["eligible_for_claim"]


async def test_a_single_need_family_is_not_multiple_needs(svc, clock):
    eid = await family(
        svc,
        opened=at(date(2025, 10, 1)),
        needs=("school_attendance", "exclusion"),
        closed=CLOSED,
        closure=("good_education",),
    )
    clock.set(at(date(2026, 9, 1)))
    fam = await one(svc, eid)
    assert fam["headlines_at_start"] == ["good_education"]  # two needs, one headline
    assert fam["sustained"] == ["good_education"]
    assert not fam["multiple_needs"] and not fam["eligible_for_claim"]
    svc.runtime.settings.sf_multiple_needs_headlines = 1
    assert (await one(svc, eid))["eligible_for_claim"]


async def test_claims_csv_lists_claimable_families_with_their_evidence(svc, clock):
    ok = await both_met(svc, CLOSED)
    # One start headline (domestic abuse) not met blocks the claim.
    blocked = await family(
        svc,
        opened=at(date(2025, 10, 2)),
        needs=(*TWO, "domestic_abuse"),
        closed=CLOSED,
        closure=("good_education", "secure_housing"),
    )
    single = await family(
        svc, opened=at(date(2025, 10, 3)), needs=("housing",), closed=CLOSED, closure=("secure_housing",)
    )
    clock.set(at(date(2026, 9, 1)))
    r = await svc.client.get(f"{SF}/claims", params={"from": "2025-10-01"}, headers=h(svc, EH))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["episode_id"] for row in rows] == [ok]
    [row] = rows
    assert row["headlines_at_start"] == "good_education;secure_housing" and row["headline_count"] == "2"
    assert row["claimable_on"] == "2026-07-15" and row["closed_on"] == "2026-01-15"
    assert row["sustained"] == "good_education@2026-07-15;secure_housing@2026-07-15"
    assert row["evidence"].count("=closure_outcome:") == 2
    fams = {f["episode_id"]: f for f in (await svc.client.get(SF, headers=h(svc, EH))).json()["families"]}
    assert not fams[blocked]["eligible_for_claim"] and fams[blocked]["met"] == [
        "good_education",
        "secure_housing",
    ]
    assert not fams[single]["eligible_for_claim"]
    assert "Ann" not in r.text and "given_name" not in r.text


async def test_quarter_boundaries(svc, clock):
    # Opened 23:59 on 30 June and 00:00 on 1 July (UTC): Q2 and Q3.
    await family(svc, opened=datetime(2026, 6, 30, 23, 59, tzinfo=UTC), needs=TWO)
    q3 = await family(svc, opened=datetime(2026, 7, 1, 0, 0, tzinfo=UTC), needs=TWO)
    # Sustained on 30 September (met 31 March) and on 1 October (met 1 April).
    await both_met(svc, date(2026, 3, 31))
    await both_met(svc, date(2026, 4, 1))
    clock.set(at(date(2026, 12, 1)))
    q = (await svc.client.get(f"{SF}/summary", params={"quarter": "2026-Q3"}, headers=h(svc, EH))).json()
    assert (q["first_day"], q["last_day"]) == ("2026-07-01", "2026-09-30")
    assert q["families_started"] == 1 and q["with_multiple_needs"] == 1 and q["needs_not_recorded"] == 0
    assert q["families_sustained"] == 1 and q["families_claimable"] == 1 and q["families_met"] == 0
    assert q["by_headline"]["secure_housing"] == {"started": 1, "met": 0, "sustained": 1}
    assert q["by_headline"]["financial_stability"] == {"started": 0, "met": 0, "sustained": 0}
    assert len(q["by_headline"]) == 10
    q2 = (await svc.client.get(f"{SF}/summary", params={"quarter": "2026-Q2"}, headers=h(svc, EH))).json()
    assert q2["families_started"] == 1 and q2["families_met"] == 1 and q2["families_sustained"] == 0
    q4 = (await svc.client.get(f"{SF}/summary", params={"quarter": "2026-Q4"}, headers=h(svc, EH))).json()
    assert q4["families_sustained"] == 1 and q4["families_claimable"] == 1
    page = (await svc.client.get(SF, params={"from": "2026-07-01"}, headers=h(svc, EH))).json()
    assert [f["episode_id"] for f in page["families"]] == [q3]
    c = await svc.client.get(
        f"{SF}/summary", params={"quarter": "2026-Q3", "format": "csv"}, headers=h(svc, EH)
    )
    assert c.headers["content-type"].startswith("text/csv")
    assert "families,started,1\r\n" in c.text and "secure_housing,sustained,1\r\n" in c.text


def test_quarter_days():
    assert quarter_days("2026-Q1") == (date(2026, 1, 1), date(2026, 3, 31))
    assert quarter_days("2026-Q4") == (date(2026, 10, 1), date(2026, 12, 31))


@pytest.mark.parametrize("quarter", ["2026-Q5", "2026Q3", "26-Q1", "2026-q3", "1999-Q1"])
async def test_a_bad_quarter_is_422_naming_it(svc, quarter):
    r = await svc.client.get(f"{SF}/summary", params={"quarter": quarter}, headers=h(svc, EH))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "quarter"


async def test_the_quarter_is_required_and_from_must_not_follow_to(svc):
    r = await svc.client.get(f"{SF}/summary", headers=h(svc, EH))
    assert r.status_code == 422 and "quarter" in r.text
    r = await svc.client.get(SF, params={"from": "2026-02-01", "to": "2026-01-01"}, headers=h(svc, EH))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to"


async def test_pages_oldest_first(svc):
    ids = [await family(svc, opened=at(date(2026, 1, d)), needs=TWO) for d in (1, 2, 3)]
    first = (await svc.client.get(SF, params={"limit": "2"}, headers=h(svc, EH))).json()
    assert [f["episode_id"] for f in first["families"]] == ids[:2] and first["next_cursor"]
    rest = (
        await svc.client.get(SF, params={"limit": "2", "cursor": first["next_cursor"]}, headers=h(svc, EH))
    ).json()
    assert [f["episode_id"] for f in rest["families"]] == ids[2:] and rest["next_cursor"] is None


async def test_the_referrals_needs_reach_the_episode(svc, clock):
    env = decided_event(needs=["school_attendance", "domestic_abuse", "not_a_code"])
    assert (await deliver(svc, env)).status_code == 202
    old = decided_event()  # an event from before issue 21: no needs
    assert (await deliver(svc, old)).status_code == 202
    fams = (await svc.client.get(SF, headers=h(svc, EH))).json()["families"]
    [new] = [f for f in fams if f["needs_recorded"]]
    assert new["headlines_at_start"] == ["good_education", "safe_from_domestic_abuse"]
    assert [f["headlines_at_start"] for f in fams if not f["needs_recorded"]] == [[]]


@pytest.mark.parametrize("who", [EH, MASH, ADMIN])
async def test_report_readers_may_read(svc, who):
    for path in (SF, f"{SF}/claims", f"{SF}/summary?quarter=2026-Q1"):
        assert (await svc.client.get(path, headers=h(svc, who))).status_code == 200


async def test_another_agency_with_the_scope_is_refused(svc):
    for path in (SF, f"{SF}/claims", f"{SF}/summary?quarter=2026-Q1"):
        r = await svc.client.get(path, headers=h(svc, POLICE_WITH_REPORTS))
        assert r.status_code == 403 and r.json()["rule"] in ("read-family-outcomes", "read-reports")
