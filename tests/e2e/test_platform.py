"""The platform end to end: real processes, real tokens, real HTTP through the gateway."""

from __future__ import annotations

import httpx
import pytest
from jose import jwt

from devtools.stack import SERVICES

pytestmark = pytest.mark.e2e


def test_every_process_is_healthy_ready_and_exports_metrics(stack):
    with httpx.Client(timeout=5) as c:
        for name, r in stack.running.items():
            base = f"http://127.0.0.1:{r.port}"
            assert c.get(f"{base}/healthz").status_code == 200, name
            assert c.get(f"{base}/readyz").status_code == 200, name
            assert "# HELP" in c.get(f"{base}/metrics").text, name


def test_demo_school_gets_an_rfc9068_token(api):
    token = api.token("demo-education")
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    claims = jwt.get_unverified_claims(token)
    assert claims["agency_type"] == "education" and "referrals:create" in claims["scope"].split()


def test_bad_token_401_and_missing_scope_403(api):
    bad = api.http.get("/v1/admin/clients", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]
    forbidden = api.get("demo-education", "/v1/admin/clients")
    assert forbidden.status_code == 403
    assert forbidden.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
    assert api.get("demo-admin", "/v1/admin/clients").status_code == 200


def test_services_refuse_callers_that_did_not_come_through_the_gateway(stack, api):
    client_token = api.token("demo-mash")
    with httpx.Client(timeout=5) as c:
        for name in SERVICES:
            url = f"{stack.url(name)}/internal/events"
            event = {"type": "x.y", "source": "test", "data": {}}
            assert c.post(url, json=event).status_code == 401, name
            spoof = {"X-Agency-Id": "x", "X-Agency-Type": "mash", "X-Client-Id": "demo-mash"}
            assert c.post(url, json=event, headers=spoof).status_code == 401, name
            direct = c.post(url, json=event, headers={"Authorization": f"Bearer {client_token}"})
            assert direct.status_code == 401, name


def test_service_credentials_reach_a_partner_service(stack, api):
    resp = api.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("svc-referrals", "svc-referrals-secret"),
    )
    token = resp.json()["access_token"]
    with httpx.Client(timeout=5) as c:
        for name in SERVICES:
            got = c.post(
                f"{stack.url(name)}/internal/events",
                json={"type": "ping.test", "source": "e2e", "data": {}},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert got.status_code == 202, (name, got.text)


def test_merged_openapi_reaches_every_service(api):
    doc = api.http.get("/openapi.json").json()
    assert "x-missing-services" not in doc
    assert doc["paths"]["/v1/admin/clients"]["get"]["x-required-scope"] == "admin"
    assert api.http.get("/docs").status_code == 200
