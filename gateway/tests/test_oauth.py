"""The token endpoint (RFC 6749 4.4 / 5.2), RFC 9068 access tokens, JWKS, RFC 8414 metadata."""

from __future__ import annotations

import base64

from jose import jwt


def basic(cid: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()}


async def test_basic_and_form_authentication_issue_rfc9068_tokens(gwh):
    cid, secret, agency_id = await gwh.make_client("education")
    form = await gwh.client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
    )
    assert form.status_code == 200, form.text
    assert form.headers["cache-control"] == "no-store"
    body = form.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert set(body["scope"].split()) == {
        "referrals:create",
        "referrals:read",
        "episodes:read",
        "episodes:write",
        "notifications:read",
        "webhooks:manage",
        "practitioners:manage",
    }
    via_basic = await gwh.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(cid, secret)
    )
    assert via_basic.status_code == 200
    token = via_basic.json()["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    assert header["kid"] in {
        k["kid"] for k in (await gwh.client.get("/.well-known/jwks.json")).json()["keys"]
    }
    claims = jwt.get_unverified_claims(token)
    for claim in ("iss", "sub", "aud", "client_id", "iat", "exp", "jti", "scope", "agency_id", "agency_type"):
        assert claim in claims
    assert claims["agency_id"] == agency_id and claims["agency_type"] == "education"
    assert claims["client_id"] == cid and claims["aud"] == "early-help-api"


async def test_errors_follow_rfc6749_section_5_2(gwh):
    cid, secret, _ = await gwh.make_client("education")
    wrong = await gwh.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(cid, "not-the-secret")
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    unknown = await gwh.client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}
    )
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
    grant = await gwh.client.post("/oauth/token", data={"grant_type": "password"}, headers=basic(cid, secret))
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    scope = await gwh.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "triage:write"},
        headers=basic(cid, secret),
    )
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"
    missing = await gwh.client.post("/oauth/token", data={}, headers=basic(cid, secret))
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    subset = await gwh.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "referrals:read"},
        headers=basic(cid, secret),
    )
    assert subset.status_code == 200 and subset.json()["scope"] == "referrals:read"


async def test_metadata_and_jwks(gwh):
    meta = (await gwh.client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["issuer"] == "http://gateway.test"
    assert meta["token_endpoint"].endswith("/oauth/token")
    assert meta["grant_types_supported"] == [
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ]
    assert "client_secret_basic" in meta["token_endpoint_auth_methods_supported"]
    keys = (await gwh.client.get("/.well-known/jwks.json")).json()["keys"]
    assert keys and all(k["kty"] == "RSA" and k["kid"] and "d" not in k for k in keys)
