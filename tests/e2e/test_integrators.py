"""What an integrator meets through the real gateway (issue 20, item 4): unknown query
parameters are refused on every service's lists and on the gateway's own."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

ADMIN, SCHOOL, MASH, EH = "demo-admin", "demo-education", "demo-mash", "demo-early-help"


@pytest.mark.parametrize(
    ("client", "path", "known"),
    [
        (MASH, "/v1/referrals", "status"),
        (EH, "/v1/episodes", "status"),
        (MASH, "/v1/consents", "person_id"),
        (EH, "/v1/deadlines", "status"),
        (ADMIN, "/v1/practitioners", "limit"),
    ],
)
def test_an_unknown_query_parameter_is_a_problem_naming_it(api, client, path, known):
    r = api.get(client, path, params={"reference": "RFS-2026-000001"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    error = r.json()["errors"][0]
    assert error["field"] == "reference" and error["loc"] == ["query", "reference"]
    assert known in error["message"]


def test_code_lists_are_served_to_any_valid_token_with_labels_and_headlines(api):
    index = api.get(SCHOOL, "/v1/code-lists")
    assert index.status_code == 200, index.text
    lists = {item["name"]: item for item in index.json()["items"]}
    assert {"need", "headline", "decision_outcome", "close_reason", "consent_method"} <= set(lists)
    need = {c["code"]: c for c in lists["need"]["codes"]}
    assert need["parental_mental_health"]["headline"] == "improved_mental_and_physical_health"
    assert need["parental_mental_health"]["headline_label"] == "Improved mental and physical health"
    assert len(lists["headline"]["codes"]) == 10
    assert index.headers["cache-control"] == "private, max-age=3600"

    one = api.get(MASH, "/v1/code-lists/close_reason")
    assert one.status_code == 200 and "needs_met" in [c["code"] for c in one.json()["codes"]]
    missing = api.get(MASH, "/v1/code-lists/colours")
    assert missing.status_code == 404 and missing.json()["type"].endswith("/unknown-code-list")
    assert "close_reason" in missing.json()["detail"]

    anonymous = api.http.get("/v1/code-lists")
    assert anonymous.status_code == 401


def test_the_code_lists_are_enums_in_the_merged_openapi(api):
    doc = api.http.get("/openapi.json").json()
    op = doc["paths"]["/v1/code-lists"]["get"]
    assert op["security"] == [{"oauth2": []}] and "403" not in op["responses"]
    schemas = doc["components"]["schemas"]
    consent_create = schemas["Consent_ConsentCreate"]["properties"]["method"]
    text = str(consent_create)
    for code in ("in_person", "phone", "video", "written", "electronic"):
        assert code in text
    needs = schemas["Referrals_ReferralCreate"]["properties"]["needs"]["items"]
    assert "parental_mental_health" in needs["enum"] and len(needs["enum"]) == 26


def test_a_method_the_path_does_not_answer_is_405_with_allow(api):
    # RFC 9110 15.5.6 (issue 23, item 4): the gateway names the methods the resource answers.
    r = api.delete(MASH, "/v1/referrals")
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    assert r.headers["content-type"].startswith("application/problem+json")
