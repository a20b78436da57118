"""Supporting Families kept fast (issue 21 items 1, 5, 6) through the real gateway: the facts
table (`sf_headline`) is written with the plan, the review and the closure, so the reports read
a family's met headline at once; the quarter's summary as a chart (`format=svg|png`), declared
in the merged OpenAPI document and refused (403) to an agency that does not read reports."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.e2e.matrix import TODAY, plan_body
from tests.e2e.test_insight_charts import format_enum
from tests.e2e.test_journeys import agency_id, decide, eventually, referral_body
from tests.e2e.test_referrals import unique_name

pytestmark = pytest.mark.e2e

MASH, EH, SCHOOL = "demo-mash", "demo-early-help", "demo-education"
SF = "/v1/reports/supporting-families"
QUARTER = f"{TODAY.year}-Q{(TODAY.month - 1) // 3 + 1}"


def test_a_met_headline_reads_at_once_and_the_quarter_draws(api, stack):
    created = api.post(MASH, "/v1/referrals", json=referral_body(family=unique_name()))
    assert created.status_code == 201, created.text
    ref = created.json()
    assert decide(api, ref["id"]).status_code in (200, 201)
    episode_id = eventually(lambda: api.get(MASH, f"/v1/referrals/{ref['id']}").json().get("episode_id"))
    assert episode_id
    before = api.get(MASH, f"{SF}/summary", params={"quarter": QUARTER}).json()

    plan = plan_body({"agency_id": agency_id(api, EH), "name": "Lee Lead"})
    plan["outcomes"][0]["target"] = "7"
    put = api.put(EH, f"/v1/episodes/{episode_id}/plan", json=plan)
    assert put.status_code == 200, put.text
    outcome = put.json()["outcomes"][0]
    held = api.post(
        EH,
        f"/v1/episodes/{episode_id}/reviews",
        json={
            "held_on": TODAY.isoformat(),
            "next_review_on": (TODAY + timedelta(weeks=6)).isoformat(),
            "outcome_progress": [{"outcome_id": outcome["id"], "score": 7}],
        },
    )
    assert held.status_code == 201, held.text
    r = api.get(EH, SF, params={"from": TODAY.isoformat(), "limit": 200})
    [fam] = [f for f in r.json()["families"] if f["episode_id"] == episode_id]
    assert outcome["headline"] in fam["met"]  # no refresh job: the review wrote the facts
    after = api.get(MASH, f"{SF}/summary", params={"quarter": QUARTER}).json()
    assert (
        after["by_headline"][outcome["headline"]]["met"]
        >= before["by_headline"][outcome["headline"]]["met"] + 1
    )

    svg = api.get(MASH, f"{SF}/summary", params={"quarter": QUARTER, "format": "svg"})
    assert svg.status_code == 200, svg.text
    assert svg.headers["content-type"] == "image/svg+xml" and svg.headers["cache-control"] == "no-store"
    assert f'<title id="chart-title">Supporting Families {QUARTER} (' in svg.text
    assert f"{after['families_started']} families started" in svg.text
    png = api.get(EH, f"{SF}/summary", params={"quarter": QUARTER, "format": "png"})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert api.get(SCHOOL, f"{SF}/summary", params={"quarter": QUARTER, "format": "svg"}).status_code == 403

    doc = httpx.get(f"{stack.gateway_url}/openapi.json", timeout=30).json()
    op = doc["paths"][f"{SF}/summary"]["get"]
    assert {"application/json", "text/csv", "image/svg+xml", "image/png"} <= set(
        op["responses"]["200"]["content"]
    )
    [fmt] = [p for p in op["parameters"] if p["name"] == "format"]
    assert format_enum(fmt) == {"json", "csv", "svg", "png"}
