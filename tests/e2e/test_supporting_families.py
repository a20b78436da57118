"""Supporting Families end to end (issue 21 item 1): the real processes, tokens from the
gateway. The referral's needs travel with the MASH decision to the episode; a review reaching
its score target and the closure evidence a headline met; the reports answer through the
gateway (JSON checked against the OpenAPI by the conformance hook, CSV fetched)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from tests.e2e.matrix import TODAY, plan_body
from tests.e2e.test_journeys import agency_id, decide, eventually, referral_body
from tests.e2e.test_referrals import unique_name

pytestmark = pytest.mark.e2e

MASH, EH, SCHOOL, ADMIN = "demo-mash", "demo-early-help", "demo-education", "demo-admin"
SF = "/v1/reports/supporting-families"


def test_a_family_through_the_supporting_families_reports(api):
    created = api.post(MASH, "/v1/referrals", json=referral_body(family=unique_name()))
    assert created.status_code == 201, created.text
    ref = created.json()  # needs: school_attendance, parental_mental_health
    assert decide(api, ref["id"]).status_code in (200, 201)
    episode_id = eventually(lambda: api.get(MASH, f"/v1/referrals/{ref['id']}").json().get("episode_id"))
    assert episode_id

    plan = plan_body({"agency_id": agency_id(api, EH), "name": "Lee Lead"})
    plan["outcomes"][0]["target"] = "8/10"
    put = api.put(EH, f"/v1/episodes/{episode_id}/plan", json=plan)
    assert put.status_code == 200, put.text
    outcome_id = put.json()["outcomes"][0]["id"]
    held = api.post(
        EH,
        f"/v1/episodes/{episode_id}/reviews",
        json={
            "held_on": TODAY.isoformat(),
            "next_review_on": (TODAY + timedelta(weeks=6)).isoformat(),
            "outcome_progress": [{"outcome_id": outcome_id, "score": 9}],
        },
    )
    assert held.status_code == 201, held.text
    closed = api.post(
        EH,
        f"/v1/episodes/{episode_id}/close",
        json={"reason": "needs_met", "summary": "Needs met.", "outcomes_achieved": [outcome_id]},
    )
    assert closed.status_code == 200, closed.text

    today = TODAY.isoformat()
    r = api.get(EH, SF, params={"from": today, "to": today, "limit": 200})
    assert r.status_code == 200, r.text
    [fam] = [f for f in r.json()["families"] if f["episode_id"] == episode_id]
    assert fam["needs_recorded"] and fam["multiple_needs"]
    assert fam["headlines_at_start"] == ["good_education", "improved_mental_and_physical_health"]
    assert fam["met"] == ["good_education"] and fam["sustained"] == [] and not fam["eligible_for_claim"]
    edu = next(x for x in fam["headlines"] if x["headline"] == "good_education")
    assert edu["status"] == "met" and edu["start_sources"] == ["referral_needs", "first_plan"]
    assert {e["kind"] for e in edu["evidence"]} == {"review", "closure_outcome"}
    assert "Amira" not in r.text  # references and ids only

    claims = api.get(ADMIN, f"{SF}/claims", params={"from": today})
    assert claims.status_code == 200 and claims.headers["content-type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(claims.text))
    assert reader.fieldnames and reader.fieldnames[:2] == ["episode_id", "reference"]
    assert episode_id not in claims.text  # not claimable for six months

    quarter = f"{TODAY.year}-Q{(TODAY.month - 1) // 3 + 1}"
    summary = api.get(MASH, f"{SF}/summary", params={"quarter": quarter})
    assert summary.status_code == 200, summary.text
    s = summary.json()
    assert s["families_started"] >= 1 and s["by_headline"]["good_education"]["met"] >= 1
    as_csv = api.get(MASH, f"{SF}/summary", params={"quarter": quarter, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv") and "families,started," in as_csv.text

    bad = api.get(MASH, f"{SF}/summary", params={"quarter": "2026-Q9"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "quarter"
    assert api.get(MASH, f"{SF}/summary", params={"quarter": quarter, "extra": "1"}).status_code == 422
    assert api.get(SCHOOL, SF).status_code == 403  # no reports:read: the gateway refuses
