"""Issue 21 item 4: review cadence, plan actions overdue and the drift case list, at their
edges (docs/assessments.md, "Timeliness and drift")."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.assessments.drift import months_between
from services.assessments.tests.conftest import EH, MASH, POLICE, SCHOOL, add_taf, h, new_episode
from shared.clock import clock

FAR = "2030-01-01"


@pytest.fixture(autouse=True)
def _stopped_clock():
    yield
    clock.reset()


def at(*args: int) -> datetime:
    moment = datetime(*args, tzinfo=UTC)  # type: ignore[misc]
    clock.set(moment)
    return moment


def plan_body(actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    outcome = {"description": "d", "measure": "m", "baseline": "b", "target": "t", "target_on": FAR}
    return {
        "outcomes": [
            {"headline": "good_education", **outcome},
            {"headline": "families_diverted_from_crime", **outcome},
        ],
        "actions": actions
        or [{"description": "Check in", "owner": {"agency_id": "eh-team", "name": "E"}, "due_on": FAR}],
    }


async def with_plan(
    svc, actions: list[dict[str, Any]] | None = None
) -> tuple[str, list[str], dict[str, Any]]:
    ep = await new_episode(svc)
    r = await svc.client.put(f"/v1/episodes/{ep['id']}/plan", json=plan_body(actions), headers=h(svc, EH))
    assert r.status_code in (200, 201), r.text
    plan = r.json()
    return ep["id"], [o["id"] for o in plan["outcomes"]], plan


async def review(svc, eid: str, held_on: str, scores: dict[str, int] | None = None) -> None:
    held = date.fromisoformat(held_on)
    r = await svc.client.post(
        f"/v1/episodes/{eid}/reviews",
        json={
            "held_on": held_on,
            "next_review_on": (held + timedelta(days=28)).isoformat(),
            "outcome_progress": [{"outcome_id": o, "score": s} for o, s in (scores or {}).items()],
        },
        headers=h(svc, EH),
    )
    assert r.status_code == 201, r.text


async def report(svc) -> dict[str, Any]:
    r = await svc.client.get("/v1/reports/episodes", headers=h(svc, EH))
    assert r.status_code == 200, r.text
    return r.json()


# --- review cadence ---------------------------------------------------------------------------


async def _first_review_episodes(svc) -> None:
    at(2026, 1, 5, 10)
    exactly, over, none = (await with_plan(svc))[0], (await with_plan(svc))[0], (await with_plan(svc))[0]
    at(2026, 1, 18, 23)
    await with_plan(svc)  # due 2026-03-01, today below: not yet overdue
    await new_episode(svc)  # no plan: no review due
    at(2026, 3, 1, 12)
    await review(svc, exactly, "2026-02-16")  # 6 weeks to the day after 2026-01-05
    await review(svc, over, "2026-02-17")  # one day over
    assert none


async def test_first_review_within_six_weeks_of_the_plan_late_and_overdue(svc):
    await _first_review_episodes(svc)
    assert (await report(svc))["first_review"] == {"within_6_weeks": 1, "late": 1, "overdue_no_review": 1}
    at(2026, 3, 2, 0)  # the plan agreed on 2026-01-18 is now a day past its 6 weeks
    assert (await report(svc))["first_review"] == {"within_6_weeks": 1, "late": 1, "overdue_no_review": 2}


async def test_later_reviews_within_three_calendar_months_late_and_overdue(svc):
    at(2026, 1, 5, 10)
    eid = (await with_plan(svc))[0]
    clamped = (await with_plan(svc))[0]
    at(2026, 11, 30, 9)
    await review(svc, eid, "2026-02-10")
    await review(svc, eid, "2026-05-10")  # exactly 3 months: within
    await review(svc, eid, "2026-08-11")  # 3 months and a day: late
    await review(svc, clamped, "2026-01-20")
    await review(svc, clamped, "2026-04-20")
    at(2026, 11, 11, 12)  # eid's last review + 3 months is today: not overdue; clamped's is past
    later = (await report(svc))["later_reviews"]
    assert later == {"within_3_months": 2, "late": 1, "overdue": 1}
    at(2026, 11, 12, 0)
    assert (await report(svc))["later_reviews"]["overdue"] == 2


async def test_month_ends_clamp(svc):
    """2026-11-30 + 3 months is 2027-02-28: a review that day is within, 2027-03-01 late."""
    at(2026, 11, 1, 10)
    a, b = (await with_plan(svc))[0], (await with_plan(svc))[0]
    at(2027, 3, 1, 12)
    for eid, second in ((a, "2027-02-28"), (b, "2027-03-01")):
        await review(svc, eid, "2026-11-30")
        await review(svc, eid, second)
    later = (await report(svc))["later_reviews"]
    assert (later["within_3_months"], later["late"]) == (1, 1)


async def test_review_labels_and_counts_follow_the_settings(svc):
    s = svc.runtime.settings
    s.first_review_weeks, s.review_interval_months = 4, 2
    await _first_review_episodes(svc)
    body = await report(svc)
    # Both reviews are now late (4 weeks); every plan without a review is overdue.
    assert body["first_review"] == {"within_4_weeks": 0, "late": 2, "overdue_no_review": 2}
    assert list(body["later_reviews"]) == ["within_2_months", "late", "overdue"]
    text = (await svc.client.get("/v1/reports/episodes", headers=h(svc, EH, Accept="text/csv"))).text
    assert "first_review,within_4_weeks,0\r\n" in text and "later_reviews,within_2_months,0\r\n" in text
    assert "within_6_weeks" not in text


# --- plan actions overdue ----------------------------------------------------------------------


async def test_plan_actions_overdue_by_owning_agency_type(svc, fake_consent):
    at(2026, 3, 1, 9)

    def action(agency: str, due_on: str) -> dict[str, Any]:
        return {"description": "Do", "owner": {"agency_id": agency, "name": "N"}, "due_on": due_on}

    ep = await new_episode(svc)
    await add_taf(svc, ep["id"], SCHOOL)
    fake_consent.allowed |= {(ep["person_ids"][0], "school-1")}
    actions = [
        action("school-1", "2026-03-10"),  # overdue (education)
        action("eh-team", "2026-03-10"),  # overdue (not on the TAF: unknown)
        action("school-1", "2026-03-20"),  # due today: not overdue
        action("school-1", "2026-03-10"),  # completed: not overdue
    ]
    r = await svc.client.put(f"/v1/episodes/{ep['id']}/plan", json=plan_body(actions), headers=h(svc, EH))
    assert r.status_code in (200, 201), r.text
    done = r.json()["actions"][3]
    r = await svc.client.patch(
        f"/v1/actions/{done['id']}",
        json={"status": "completed"},
        headers=h(svc, SCHOOL, **{"If-Match": f'"{done["id"]}-1"'}),
    )
    assert r.status_code == 200, r.text
    closed, _, _ = await with_plan(svc, [action("eh-team", "2026-03-10")])
    await svc.client.post(f"/v1/episodes/{closed}/close", json={"reason": "disengaged"}, headers=h(svc, EH))
    at(2026, 3, 20, 9)
    figure = (await report(svc))["plan_actions_overdue"]
    assert figure == {"total": 2, "by_owner_agency_type": {"education": 1, "unknown": 1}}
    text = (await svc.client.get("/v1/reports/episodes", headers=h(svc, EH, Accept="text/csv"))).text
    assert "plan_actions_overdue,total,2\r\nplan_actions_overdue,by_owner_agency_type.education,1\r\n" in text


async def test_only_the_current_plan_version_counts(svc):
    at(2026, 3, 1, 9)
    old = [{"description": "Old", "owner": {"agency_id": "eh-team", "name": "E"}, "due_on": "2026-03-05"}]
    eid, _, _ = await with_plan(svc, old)
    r = await svc.client.put(f"/v1/episodes/{eid}/plan", json=plan_body(), headers=h(svc, EH))
    assert r.status_code in (200, 201), r.text
    at(2026, 3, 20, 9)
    assert (await report(svc))["plan_actions_overdue"] == {"total": 0, "by_owner_agency_type": {}}


# --- the drift list ----------------------------------------------------------------------------


async def drift(svc, **params: Any) -> Any:
    return await svc.client.get("/v1/reports/drift", params=params, headers=h(svc, EH))


async def _drift_world(svc) -> dict[str, str]:
    ids: dict[str, str] = {}
    at(2025, 3, 1, 10)
    ids["twelve_months_exactly"] = (await new_episode(svc))["id"]
    at(2025, 3, 1, 9, 59)
    ids["over_twelve_months"] = (await new_episode(svc))["id"]
    url = f"/v1/episodes/{ids['over_twelve_months']}/lead-professional"
    lead = {
        "name": "Erin Early",
        "agency_id": "eh-team",
        "email": "erin@council.example",
        "family_agreed": True,
    }
    assert (await svc.client.put(url, json=lead, headers=h(svc, EH))).status_code == 200
    closed = (await new_episode(svc))["id"]
    await svc.client.post(f"/v1/episodes/{closed}/close", json={"reason": "disengaged"}, headers=h(svc, EH))
    at(2025, 9, 1, 10)
    for name in ("stalled", "two_reviews", "one_improved", "stalled_latest_three"):
        ids[name] = (await with_plan(svc))[0]
    outcomes = {}
    for name in ids:
        if name in ("stalled", "two_reviews", "one_improved", "stalled_latest_three"):
            plan = (await svc.client.get(f"/v1/episodes/{ids[name]}/plan", headers=h(svc, EH))).json()
            outcomes[name] = [o["id"] for o in plan["outcomes"]]
    at(2026, 3, 1, 10)
    o = outcomes
    for day in ("2025-10-01", "2025-11-01", "2025-12-01"):
        await review(svc, ids["stalled"], day, {o["stalled"][0]: 3, o["stalled"][1]: 5})
    for day in ("2025-10-01", "2025-11-01"):
        await review(svc, ids["two_reviews"], day, {o["two_reviews"][0]: 3})
    await review(svc, ids["one_improved"], "2025-10-01", {o["one_improved"][0]: 3, o["one_improved"][1]: 2})
    await review(svc, ids["one_improved"], "2025-11-01", {o["one_improved"][0]: 3, o["one_improved"][1]: 2})
    await review(svc, ids["one_improved"], "2025-12-01", {o["one_improved"][0]: 3, o["one_improved"][1]: 4})
    s = o["stalled_latest_three"][0]
    for day, score in (("2025-10-01", 1), ("2025-11-01", 4), ("2025-12-01", 5), ("2026-01-05", 4)):
        await review(svc, ids["stalled_latest_three"], day, {s: score})
    return ids


async def test_the_drift_list_at_its_edges(svc):
    ids = await _drift_world(svc)
    r = await drift(svc)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["open_months"] == 12 and body["next_cursor"] is None
    rows = {row["episode_id"]: row for row in body["items"]}
    assert set(rows) == {ids["over_twelve_months"], ids["stalled"], ids["stalled_latest_three"]}
    old = rows[ids["over_twelve_months"]]
    assert old["reasons"] == ["open_too_long"]
    assert old["months_open"] == 12 and old["reviews"] == 0 and old["last_review_on"] is None
    assert old["lead_professional_agency_id"] == "eh-team" and old["reference"].startswith("EH-2025-")
    assert datetime.fromisoformat(old["opened_at"]) == datetime(2025, 3, 1, 9, 59, tzinfo=UTC)
    stalled = rows[ids["stalled"]]
    assert stalled["reasons"] == ["no_movement_in_reviews"]
    assert (stalled["reviews"], stalled["last_review_on"], stalled["months_open"]) == (3, "2025-12-01", 6)
    assert stalled["lead_professional_agency_id"] is None
    # 1 -> 4 -> 5 -> 4: the latest three (4, 5, 4) end where they began.
    assert rows[ids["stalled_latest_three"]]["reviews"] == 4
    # Oldest first; no names anywhere.
    assert body["items"][0]["episode_id"] == ids["over_twelve_months"]
    assert "Erin" not in r.text


async def test_both_reasons_and_the_setting(svc):
    ids = await _drift_world(svc)
    svc.runtime.settings.drift_open_months = 6  # the review-stalled episodes opened 6 months ago exactly
    at(2026, 3, 1, 10, 0, 1)
    rows = {row["episode_id"]: row for row in (await drift(svc)).json()["items"]}
    assert rows[ids["stalled"]]["reasons"] == ["open_too_long", "no_movement_in_reviews"]
    assert rows[ids["two_reviews"]]["reasons"] == ["open_too_long"]
    assert ids["twelve_months_exactly"] in rows


async def test_the_drift_list_pages_and_exports_csv(svc):
    ids = await _drift_world(svc)
    first = (await drift(svc, limit=2)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (await drift(svc, limit=2, cursor=first["next_cursor"])).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    paged = [row["episode_id"] for row in first["items"] + rest["items"]]
    r = await drift(svc, format="csv", limit=1)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    header = "episode_id,reference,opened_at,lead_professional_agency_id,months_open,reviews,last_review_on,reasons"
    assert r.text.splitlines()[0] == header
    assert [row["episode_id"] for row in rows] == paged  # every row, not a page
    by_id = {row["episode_id"]: row for row in rows}
    assert by_id[ids["stalled"]]["reasons"] == "no_movement_in_reviews"
    assert by_id[ids["stalled"]]["lead_professional_agency_id"] == ""
    assert by_id[ids["over_twelve_months"]]["months_open"] == "12"


async def test_the_drift_list_refusals(svc):
    assert (await svc.client.get("/v1/reports/drift", headers=h(svc, POLICE))).status_code == 403
    assert (await svc.client.get("/v1/reports/drift", headers=h(svc, MASH))).status_code == 200
    bad = await drift(svc, format="pdf")
    assert bad.status_code == 422 and "format" in bad.text
    assert (await drift(svc, cursor="nope")).status_code == 422
    assert (await drift(svc, colour="red")).status_code == 422


def test_months_between():
    opened = datetime(2025, 1, 31, 10, tzinfo=UTC)
    assert months_between(opened, datetime(2025, 2, 28, 10, tzinfo=UTC)) == 1
    assert months_between(opened, datetime(2025, 2, 28, 9, tzinfo=UTC)) == 0
    assert months_between(opened, datetime(2026, 1, 31, 10, tzinfo=UTC)) == 12
    assert months_between(opened, datetime(2026, 1, 31, 9, tzinfo=UTC)) == 11
