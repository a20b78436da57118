"""Admin guard rails and brute force through the real gateway (issue 18, item 5): scopes never
beyond the agency type, no `service` client from the admin API, wrong secrets throttled
(429 + Retry-After), RFC 6750 401 challenges, and `Cache-Control: no-store` on personal data."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ADMIN, SCHOOL, MASH, EH = "demo-admin", "demo-education", "demo-mash", "demo-early-help"


def eventually(fn: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def referral_body(family: str) -> dict[str, Any]:
    return {
        "referral_type": "request_for_support",
        "referrer": {"name": "Jo Clarke", "role": "DSL", "email": "dsl@oakfield.example"},
        "children": [{"given_name": "Amira", "family_name": family, "date_of_birth": "2015-03-04"}],
        "adults": [],
        "address": {"line1": "1 Oak Street", "postcode": "S60 1AE"},
        "needs": ["school_attendance"],
        "summary": "Attendance 71%.",
        "consent": {
            "obtained": True,
            "given_by": "Mother",
            "obtained_at": datetime.now(UTC).isoformat(),
            "method": "phone",
        },
    }


def test_admin_cannot_widen_scopes_nor_create_a_service_client(api):
    too_much = api.post(
        ADMIN,
        "/v1/admin/clients",
        json={"name": "Hillside", "agency_type": "education", "scopes": ["referrals:read", "triage:write"]},
    )
    assert too_much.status_code == 422, too_much.text
    error = too_much.json()["errors"][0]
    assert error["field"] == "scopes" and "triage:write" in error["message"]
    service = api.post(ADMIN, "/v1/admin/clients", json={"name": "Backdoor", "agency_type": "service"})
    assert service.status_code == 422, service.text
    assert service.json()["errors"][0]["field"] == "agency_type"
    assert too_much.headers["cache-control"] == "no-store"


def test_wrong_secrets_end_in_429_with_retry_after(api):
    # A throwaway client: blocking a demo client would hold up the other tests for a minute.
    made = api.post(
        ADMIN,
        "/v1/admin/clients",
        json={
            "name": "Brute force target",
            "agency_type": "voluntary",
            "client_id": f"bf-{uuid.uuid4().hex[:10]}",
        },
    )
    assert made.status_code == 201, made.text
    cid, secret = made.json()["client_id"], made.json()["client_secret"]
    statuses = []
    for _ in range(20):
        resp = api.http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, "wrong"))
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            break
    assert statuses == [401] * 10 + [429], statuses
    assert 1 <= int(resp.headers["retry-after"]) <= 60
    assert resp.json()["error"] == "invalid_client" and resp.headers["cache-control"] == "no-store"
    # While blocked, not even the right secret is checked.
    right = api.http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, secret))
    assert right.status_code == 429


def test_a_request_without_credentials_gets_a_challenge_without_an_error_code(api):
    for headers in ({}, {"Authorization": "Basic ZGVtbzpkZW1v"}):
        for path in ("/v1/referrals", "/v1/admin/clients"):
            resp = api.http.get(path, headers=headers)
            assert resp.status_code == 401, path
            assert resp.headers["www-authenticate"] == 'Bearer realm="early-help"', path
    bad = api.http.get("/v1/referrals", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]


def test_referral_and_episode_reads_are_no_store(api):
    family = f"Guard{uuid.uuid4().hex[:8]}"
    made = api.post(SCHOOL, "/v1/referrals", json=referral_body(family))
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    rid = made.json()["id"]
    decided = api.post(
        MASH,
        f"/v1/referrals/{rid}/decision",
        json={
            "level_of_need": "partnership_plus",
            "outcome": "team_around_the_family",
            "rag": "amber",
            "rationale": "Several needs: multi-agency early help with a lead professional.",
            "decided_by": {"name": "Maya Manager", "role": "MASH team manager"},
        },
    )
    assert decided.status_code in (200, 201), decided.text
    episode_id = eventually(lambda: api.get(MASH, f"/v1/referrals/{rid}").json().get("episode_id"))
    assert episode_id
    for client, path in (
        (MASH, f"/v1/referrals/{rid}"),
        (SCHOOL, f"/v1/referrals/{rid}"),
        (EH, f"/v1/episodes/{episode_id}"),
    ):
        resp = api.get(client, path)
        assert resp.status_code == 200, (client, path, resp.text)
        assert resp.headers["cache-control"] == "no-store", (client, path)
    jwks = api.http.get("/.well-known/jwks.json")
    assert jwks.headers["cache-control"] == "max-age=60"
