"""Routing, scopes, identity passing, header hygiene, limits and upstream failures."""

from __future__ import annotations

import asyncio
import socket

from jose import jwt

from gateway.routes import Route


async def test_missing_and_bad_tokens_are_401_with_the_rfc6750_challenge(gwh):
    # No bearer credentials (none, or another scheme): the bare challenge, no error code.
    for headers in ({}, {"Authorization": "Basic abc"}):
        resp = await gwh.client.get("/v1/things", headers=headers)
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"] == 'Bearer realm="early-help"'
        assert resp.headers["content-type"].startswith("application/problem+json")
    bad = await gwh.client.get("/v1/things", headers={"Authorization": "Bearer not.a.jwt"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"].startswith('Bearer realm="early-help", error="invalid_token"')
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert gwh.upstream.calls == []


async def test_missing_scope_is_403_insufficient_scope(gwh):
    headers = await gwh.bearer("education")
    resp = await gwh.client.get("/v1/triage", headers=headers)
    assert resp.status_code == 403
    assert resp.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
    assert 'scope="triage:write"' in resp.headers["www-authenticate"]
    assert gwh.upstream.calls == []


async def test_unknown_route_is_404_and_never_forwarded(gwh):
    headers = await gwh.bearer("mash")
    for path in ("/v1/hidden", "/v1/things/1/secret", "/v1/internal/events"):
        resp = await gwh.client.get(path, headers=headers)
        assert resp.status_code == 404, path
    resp = await gwh.client.delete("/v1/things", headers=headers)
    assert resp.status_code == 405
    # RFC 9110 15.5.6: a 405 names the methods the resource does answer.
    assert resp.headers["allow"] == "GET, POST"
    resp = await gwh.client.post("/v1/things/t-1", headers=headers)
    assert resp.status_code == 405 and resp.headers["allow"] == "GET"
    assert gwh.upstream.calls == []


async def test_identity_headers_are_replaced_by_a_verifiable_hop_identity(gwh):
    cid, secret, agency_id = await gwh.make_client("education")
    token = await gwh.token(cid, secret)
    resp = await gwh.client.get(
        "/v1/things?status=received",
        headers={
            "Authorization": f"Bearer {token}",
            "X-Agency-Id": "someone-else",
            "X-Identity": "mash",
            "X-Client-Id": "demo-mash",
            "X-EH-Scopes": "admin",
            "X-Request-ID": "req-abc-123",
            "Connection": "close, X-Secret-Hop",
            "Te": "trailers",
            "Proxy-Authorization": "Basic x",
        },
    )
    assert resp.status_code == 200, resp.text
    got = resp.json()["headers"]
    for h in ("x-agency-id", "x-identity", "x-client-id", "x-eh-scopes", "te", "proxy-authorization"):
        assert h not in got
    assert got["x-request-id"] == "req-abc-123"
    assert resp.headers["x-request-id"] == "req-abc-123"
    assert resp.json()["query"] == "status=received"
    hop = got["authorization"].removeprefix("Bearer ")
    assert hop != token
    claims = jwt.get_unverified_claims(hop)
    assert claims["aud"] == "early-help-internal"
    assert claims["agency_id"] == agency_id and claims["agency_type"] == "education"
    # Hop-by-hop headers from the upstream's response are not passed back.
    assert "keep-alive" not in resp.headers and resp.headers["x-upstream"] == "yes"


async def test_hop_identity_verifies_against_the_gateway_jwks(gwh):
    from shared.identity import ServiceAuth
    from shared.tokens import KeySet

    headers = await gwh.bearer("mash")
    hop = (await gwh.client.get("/v1/things", headers=headers)).json()["headers"]["authorization"]
    jwks = (await gwh.client.get("/.well-known/jwks.json")).json()

    async def fetch():
        return jwks

    auth = ServiceAuth(
        keys=KeySet(fetch),
        issuer="http://gateway.test",
        internal_audience="early-help-internal",
        api_audience="early-help-api",
    )
    identity = await auth.identify(hop)
    assert identity.agency_type == "mash" and identity.has("triage:write") and identity.via_gateway


async def test_rate_limit_gives_429_with_retry_after(gateway_factory):
    gwh = await gateway_factory(rate_limit_per_second=1.0, rate_limit_burst=3)
    headers = await gwh.bearer("education")
    statuses = [(await gwh.client.get("/v1/things", headers=headers)).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3] == 429
    limited = await gwh.client.get("/v1/things", headers=headers)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    # Another client is not affected.
    other = await gwh.bearer("health")
    assert (await gwh.client.get("/v1/things", headers=other)).status_code == 200


async def test_per_client_rate_overrides_the_default(gateway_factory):
    gwh = await gateway_factory(rate_limit_per_second=1.0, rate_limit_burst=2)
    headers = await gwh.bearer("education", rate=100.0)
    statuses = [(await gwh.client.get("/v1/things", headers=headers)).status_code for _ in range(6)]
    assert statuses == [200] * 6


async def test_oversized_body_is_413(gateway_factory):
    gwh = await gateway_factory(max_body_bytes=1000)
    headers = await gwh.bearer("education")
    resp = await gwh.client.post("/v1/things", headers=headers, content=b"{" + b" " * 5000 + b"}")
    assert resp.status_code == 413
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert gwh.upstream.calls == []


async def test_slow_upstream_is_504_within_the_timeout(gwh):
    headers = await gwh.bearer("education")
    loop = asyncio.get_running_loop()
    start = loop.time()
    resp = await gwh.client.get("/v1/slow", headers=headers)
    assert resp.status_code == 504
    assert resp.json()["type"].endswith("upstream-timeout")
    assert loop.time() - start < 2.5


async def test_unreachable_upstream_is_502(gwh):
    gwh.gw.routes.routes.append(Route("GET", "/v1/nowhere", "referrals:read", service="consent"))
    from gateway.routes import RouteTable

    gwh.gw.routes = RouteTable(gwh.gw.routes.routes)
    headers = await gwh.bearer("education")
    resp = await gwh.client.get("/v1/nowhere", headers=headers)
    assert resp.status_code == 502


async def test_merged_openapi_lists_table_routes_with_scopes(gwh):
    doc = (await gwh.client.get("/openapi.json")).json()
    op = doc["paths"]["/v1/things"]["get"]
    assert op["x-required-scope"] == "referrals:read"
    assert op["security"] == [{"oauth2": ["referrals:read"]}]
    assert (
        op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        == "#/components/schemas/Referrals_Page"
    )
    assert "/v1/hidden" not in doc["paths"]
    assert doc["paths"]["/v1/admin/clients"]["post"]["x-required-scope"] == "admin"
    assert "/oauth/token" in doc["paths"]
    assert "clientCredentials" in doc["components"]["securitySchemes"]["oauth2"]["flows"]
    docs = await gwh.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_health_ready_metrics(gwh):
    assert (await gwh.client.get("/healthz")).status_code == 200
    assert (await gwh.client.get("/readyz")).status_code == 200
    headers = await gwh.bearer("education")
    await gwh.client.get("/v1/things/abc", headers=headers)
    metrics = (await gwh.client.get("/metrics")).text
    assert 'route="/v1/things/{thing_id}"' in metrics
    assert "/v1/things/abc" not in metrics


async def test_an_upstream_cookie_is_passed_back_but_never_replayed(gwh):
    """The gateway's pooled client keeps no cookie jar: what one caller's response set must
    not ride on the next caller's request."""
    first = await gwh.client.get("/v1/things", headers=await gwh.bearer("education"))
    assert first.status_code == 200 and "upstream-session=abc" in first.headers["set-cookie"]
    second = await gwh.client.get("/v1/things", headers=await gwh.bearer("health"))
    assert second.status_code == 200
    assert "cookie" not in second.json()["headers"]
    assert all("cookie" not in call["headers"] for call in gwh.upstream.calls)


async def test_bodies_and_headers_pass_through_unaltered(gwh):
    headers = await gwh.bearer("education")
    # No Content-Type guessed for a body sent without one; the caller's own headers, not the proxy's.
    resp = await gwh.client.post("/v1/things", headers=headers, content=b'{"a": 1}')
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["body"] == '{"a": 1}'
    assert "content-type" not in got["headers"]
    assert got["headers"]["user-agent"].startswith("python-httpx")
    # A compressed answer comes back as sent, with its Content-Encoding.
    packed = await gwh.client.get("/v1/things/packed", headers={**headers, "Accept-Encoding": "identity"})
    assert packed.status_code == 200
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.json() == {"packed": True}  # httpx decodes it here, at the caller


async def test_refused_connection_is_502_at_once(gateway_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gwh = await gateway_factory(upstreams={"referrals": f"http://127.0.0.1:{port}"})
    headers = await gwh.bearer("education")
    loop = asyncio.get_running_loop()
    start = loop.time()
    resp = await gwh.client.get("/v1/things", headers=headers)
    assert resp.status_code == 502
    assert resp.json()["type"].endswith("upstream-unavailable")
    assert loop.time() - start < 1.0
