"""The last gaps of issue 23, through the real gateway and its served `/openapi.json`: the
journey's enums, the well-known documents' schemas, the rules on the fields, 409 declared
where it is answered. (The session's conformance hook also checks each answer here against
the document.)"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.test_journeys import decide, eventually, referral_body

pytestmark = pytest.mark.e2e

MASH, SCHOOL, ADMIN = "demo-mash", "demo-education", "demo-admin"


@pytest.fixture(scope="module")
def doc(api) -> dict[str, Any]:
    return api.http.get("/openapi.json").json()  # type: ignore[no-any-return]


def _schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["components"]["schemas"][name]  # type: ignore[no-any-return]


def test_a_journey_names_only_the_kinds_and_reasons_of_its_enums(api, doc):
    created = api.post(
        SCHOOL,
        "/v1/referrals",
        json=referral_body(given="Zara"),
        headers={"Idempotency-Key": f"c23-{time.time_ns()}"},
    )
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    person = api.get(MASH, f"/v1/referrals/{rid}").json()["children"][0]["person_id"]
    assert decide(api, rid).status_code == 200

    # A second decision is the 409 the operation declares, with its problem type.
    again = decide(api, rid)
    assert again.status_code == 409 and again.json()["type"].endswith("/decision-already-made")
    declared = doc["paths"]["/v1/referrals/{referral_id}/decision"]["post"]["responses"]["409"]
    assert "decision-already-made" in declared["description"]

    def journey() -> dict[str, Any] | None:
        out = api.get(MASH, f"/v1/people/{person}/journey").json()
        return out if "episode_opened" in {i["kind"] for i in out["items"]} else None

    out = eventually(journey)
    assert out, "the episode opened from the decision shows in the journey"
    kinds = set(_schema(doc, "Referrals_JourneyItem")["properties"]["kind"]["enum"])
    assert {"referral_received", "referral_decided", "episode_opened"} <= {i["kind"] for i in out["items"]}
    assert {i["kind"] for i in out["items"]} <= kinds
    reasons = set(_schema(doc, "Referrals_Withheld")["properties"]["reason"]["enum"])
    assert {w["reason"] for w in out["withheld"]} <= reasons


def test_the_well_known_documents_are_typed(api, doc):
    keys = api.http.get("/.well-known/jwks.json")
    assert keys.status_code == 200
    jwk = _schema(doc, "Jwk")
    for key in keys.json()["keys"]:
        assert set(key) == set(jwk["properties"])
    meta = api.http.get("/.well-known/oauth-authorization-server").json()
    assert set(meta) == set(_schema(doc, "AuthorizationServerMetadata")["properties"])
    assert set(meta["scopes_supported"]) <= set(
        _schema(doc, "AuthorizationServerMetadata")["properties"]["scopes_supported"]["items"]["enum"]
    )


def test_a_rule_the_document_states_is_the_rule_the_service_applies(api, doc):
    url = _schema(doc, "Notifications_SubscriptionCreate")["properties"]["url"]["description"]
    assert "user:password@" in url
    refused = api.post(
        SCHOOL,
        "/v1/subscriptions",
        json={"url": "https://user:pw@receiver.example/hook", "event_types": ["referral.decided"]},
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "url"

    client_id = _schema(doc, "ClientCreate")["properties"]["client_id"]
    assert "unique" in client_id["description"]
    body = {"name": "Twice", "agency_type": "education", "client_id": f"twice-{time.time_ns()}"}
    assert api.post(ADMIN, "/v1/admin/clients", json=body).status_code == 201
    taken = api.post(ADMIN, "/v1/admin/clients", json=body)
    assert taken.status_code == 422 and taken.json()["errors"][0]["field"] == "client_id"
