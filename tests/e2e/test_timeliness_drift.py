"""Timeliness and drift through the gateway (issue 21, item 4): the episode report's review
cadence and overdue plan actions, the drift case list (JSON and CSV) and the referral report's
decision timescale, on the default settings."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.test_roles import EH, MASH, SCHOOL, open_case

pytestmark = pytest.mark.e2e


def days_ago(n: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=n)).isoformat()


def test_review_cadence_and_the_drift_list_through_the_gateway(api):
    eid = open_case(api)["episode_id"]
    far = days_ago(-365)
    outcome = {"description": "d", "measure": "m", "baseline": "b", "target": "t", "target_on": far}
    plan = api.put(
        EH,
        f"/v1/episodes/{eid}/plan",
        json={
            "outcomes": [{"headline": "good_education", **outcome}],
            "actions": [
                {"description": "Check in", "owner": {"agency_id": "eh-team", "name": "E"}, "due_on": far}
            ],
        },
    )
    assert plan.status_code in (200, 201), plan.text
    scored = plan.json()["outcomes"][0]["id"]
    # Three reviews, the score never moving: the episode drifts.
    for n in (30, 20, 10):
        r = api.post(
            EH,
            f"/v1/episodes/{eid}/reviews",
            json={
                "held_on": days_ago(n),
                "next_review_on": days_ago(n - 28),
                "outcome_progress": [{"outcome_id": scored, "score": 4}],
            },
        )
        assert r.status_code == 201, r.text

    report = api.get(MASH, "/v1/reports/episodes")
    assert report.status_code == 200, report.text
    body = report.json()
    assert list(body["first_review"]) == ["within_6_weeks", "late", "overdue_no_review"]
    assert list(body["later_reviews"]) == ["within_3_months", "late", "overdue"]
    assert body["later_reviews"]["within_3_months"] >= 2
    assert set(body["plan_actions_overdue"]) == {"total", "by_owner_agency_type"}

    rows, cursor = [], None
    while True:
        page = api.get(
            EH, "/v1/reports/drift", params={"limit": 200, **({"cursor": cursor} if cursor else {})}
        )
        assert page.status_code == 200, page.text
        rows += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    [mine] = [row for row in rows if row["episode_id"] == eid]
    assert mine["reasons"] == ["no_movement_in_reviews"]
    assert mine["reviews"] == 3 and mine["last_review_on"] == days_ago(10) and mine["months_open"] == 0

    exported = api.get(EH, "/v1/reports/drift", params={"format": "csv"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    by_id = {row["episode_id"]: row for row in csv.DictReader(io.StringIO(exported.text))}
    assert by_id[eid]["reasons"] == "no_movement_in_reviews"

    assert api.get(SCHOOL, "/v1/reports/drift").status_code == 403
    assert api.get(EH, "/v1/reports/drift", params={"format": "xml"}).status_code == 422

    decided = api.get(MASH, "/v1/reports/referrals").json()["decided_within_timescale"]
    assert decided["timescale"] == "within_1_working_day" and decided["working_days"] == 1
