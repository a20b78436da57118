"""The threshold audit (issue 21 item 2) end to end through the gateway, with two MASH managers:
Maya Manager (seeded) decides and draws the sample; a second MASH manager, registered here by
the MASH's system and reached by token exchange, reviews blind. Maya may not review her own."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.test_roles import MASH, SCHOOL, Person, exchange, random_name, referral_body

pytestmark = pytest.mark.e2e

PROBLEMS = "https://early-help.example/problems/"


def decision(outcome: str, level: str, marker: str) -> dict[str, Any]:
    return {
        "level_of_need": level,
        "outcome": outcome,
        "rag": "amber",
        "rationale": f"Original rationale {marker}.",
        "decided_by": {"name": "Maya Manager", "role": "MASH team manager"},
    }


def second_manager(api: Any) -> Person:
    """A MASH manager registered by the MASH's own system, then reached by token exchange."""
    mash_system = Person(api, MASH)
    body = {
        "name": "Mo Second",
        "email": f"mo-{uuid.uuid4().hex[:8]}@mash.example",
        "roles": ["mash_manager"],
    }
    made = mash_system.call("POST", "/v1/practitioners", json=body)
    assert made.status_code == 201, made.text
    person = Person(api, MASH)
    resp = exchange(api, MASH, made.json()["id"])
    assert resp.status_code == 200, resp.text
    person.token, person.id = resp.json()["access_token"], made.json()["id"]
    return person


def test_a_blind_second_review_by_another_mash_manager(api):
    school, maya, mo = (
        Person(api, SCHOOL, "Tom Teacher"),
        Person(api, MASH, "Maya Manager"),
        second_manager(api),
    )
    marker = uuid.uuid4().hex[:12]
    mine = {}
    for outcome, level in (
        ("no_further_action", "universal"),
        ("team_around_the_family", "partnership_plus"),
    ):
        body = referral_body(random_name())
        body["summary"] = f"Attendance 71%. {marker} {outcome}"
        rid = school.call("POST", "/v1/referrals", json=body).json()["id"]
        decided = maya.call("POST", f"/v1/referrals/{rid}/decision", json=decision(outcome, level, marker))
        assert decided.status_code == 200, decided.text
        mine[outcome] = rid

    today = datetime.now(UTC).date()
    period = {"decided_from": str(today - timedelta(days=1)), "decided_to": str(today + timedelta(days=1))}
    drawn = maya.call(
        "POST",
        "/v1/threshold-audits",
        json={**period, "share": 1, "seed": 11, "reviewer_ids": [maya.id, mo.id]},
    )
    assert drawn.status_code == 201, drawn.text
    audit = drawn.json()
    assert audit["seed"] == 11 and audit["sampled"] >= 2
    assert {"no_further_action", "team_around_the_family"} <= {s["outcome"] for s in audit["strata"]}
    assert all(i["referral_id"] is None for i in audit["sample"])

    # Mo's items: the facts, not the decision. Ours are found by the marker in the summary.
    ours = {}
    for item in audit["sample"]:
        if item["reviewer_id"] != mo.id:
            continue
        path = f"/v1/threshold-audits/{audit['id']}/items/{item['id']}"
        view = mo.call("GET", path)
        assert view.status_code == 200, view.text
        assert view.json()["original_decision"] is None and "Original rationale" not in view.text
        if marker in view.json()["facts"]["summary"]:
            ours[view.json()["facts"]["summary"].rsplit(" ", 1)[1]] = path
    assert set(ours) == {"no_further_action", "team_around_the_family"}  # Maya decided: Mo's

    # Maya decided them: she may neither read nor review them.
    own = maya.call("GET", ours["team_around_the_family"])
    assert own.status_code == 403 and own.json()["type"] == PROBLEMS + "own-decision"
    own = maya.call(
        "POST",
        f"{ours['team_around_the_family']}/review",
        json={"level_of_need": "universal", "outcome": "no_further_action"},
    )
    assert own.status_code == 403 and own.json()["type"] == PROBLEMS + "own-decision"

    # Mo reviews blind, then sees the original, then disagrees with a reason.
    path = ours["team_around_the_family"]
    reviewed = mo.call(
        "POST",
        f"{path}/review",
        json={"level_of_need": "universal_plus", "outcome": "single_agency_early_help"},
    )
    assert reviewed.status_code == 200, reviewed.text
    original = reviewed.json()["original_decision"]
    assert (
        original["outcome"] == "team_around_the_family"
        and original["referral_id"] == mine["team_around_the_family"]
    )
    assert original["rationale"] == f"Original rationale {marker}."
    again = mo.call(
        "POST", f"{path}/review", json={"level_of_need": "universal", "outcome": "no_further_action"}
    )
    assert again.status_code == 409 and again.json()["type"] == PROBLEMS + "review-already-recorded"
    bare = mo.call("POST", f"{path}/agreement", json={"agrees": False})
    assert bare.status_code == 422 and bare.json()["errors"][0]["field"] == "reason"
    verdict = mo.call(
        "POST", f"{path}/agreement", json={"agrees": False, "reason": "One agency can meet this."}
    )
    assert verdict.status_code == 200 and verdict.json()["status"] == "agreement_recorded"
    nfa = ours["no_further_action"]
    assert (
        mo.call(
            "POST", f"{nfa}/review", json={"level_of_need": "universal", "outcome": "no_further_action"}
        ).status_code
        == 200
    )
    assert mo.call("POST", f"{nfa}/agreement", json={"agrees": True}).status_code == 200

    listed = maya.call(
        "GET",
        "/v1/threshold-audits",
        params={"updated_since": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()},
    )
    assert listed.status_code == 200 and audit["id"] in [a["id"] for a in listed.json()["items"]]
    read = maya.call("GET", f"/v1/threshold-audits/{audit['id']}").json()
    assert (
        mine["team_around_the_family"] in [i["referral_id"] for i in read["sample"]] and read["reviewed"] >= 2
    )

    # The report: aggregate, for a reports:read holder (early help's system); JSON and CSV.
    eh = Person(api, "demo-early-help")
    params = {"from": period["decided_from"], "to": period["decided_to"]}
    report = eh.call("GET", "/v1/reports/threshold-audit", params=params)
    assert report.status_code == 200, report.text
    totals = report.json()["totals"]
    assert totals["agreed"] >= 1 and totals["disagreed"] >= 1 and totals["agreement_rate"] is not None
    assert {r["level_of_need"] for r in report.json()["by_level_of_need"]} == {
        "universal",
        "universal_plus",
        "partnership_plus",
        "specialist",
    }
    as_csv = eh.call("GET", "/v1/reports/threshold-audit", params={**params, "format": "csv"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert next(csv.reader(io.StringIO(as_csv.text))) == ["section", "key", "metric", "value"]
    # A partner holds no reports:read: the gateway refuses it.
    assert school.call("GET", "/v1/reports/threshold-audit").status_code == 403


def test_a_sample_of_a_period_without_decisions_is_a_422(api):
    maya = Person(api, MASH, "Maya Manager")
    resp = maya.call(
        "POST",
        "/v1/threshold-audits",
        json={"decided_from": "2001-01-01", "decided_to": "2001-01-31", "share": 0.5},
    )
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "decided_from"
    screener = Person(api, MASH, "Sam Screener")
    refused = screener.call(
        "POST",
        "/v1/threshold-audits",
        json={"decided_from": "2001-01-01", "decided_to": "2001-01-31", "share": 0.5},
    )
    assert refused.status_code == 403 and refused.json()["type"] == PROBLEMS + "role-required"
