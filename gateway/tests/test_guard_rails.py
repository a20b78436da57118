"""Admin guard rails and brute force (issue 18, item 5): scopes never beyond the agency type,
privileged clients only from the CLI, the token endpoint's throttle on failed client
authentications, RFC 6750 401 challenges, and `Cache-Control: no-store` on personal data."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import httpx
import pytest
from sqlalchemy import update
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route as SRoute

from gateway import clients as client_ops
from gateway import oauth
from gateway.models import Client
from gateway.ratelimit import FailureWindow, TokenThrottle
from gateway.routes import Route, RouteTable
from gateway.tests.conftest import TEST_ROUTES
from gateway.tests.test_cli import ROOT, cli
from shared.app import create_service_app
from shared.db import alembic_upgrade
from shared.testing import create_test_database, drop_test_database


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def basic(cid: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()}


async def ask_token(gwh, cid: str, secret: str, **headers: str) -> httpx.Response:
    return await gwh.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers={**basic(cid, secret), **headers}
    )


def throttle(clock: Clock, *, per_client: int = 3, per_address: int = 5, trusted=None) -> TokenThrottle:
    return TokenThrottle(
        per_client=per_client,
        per_address=per_address,
        window=60,
        max_keys=100,
        trusted_proxies=trusted,
        clock=clock,
    )


# ---- scopes never exceed the agency type; privileged types only from the CLI ----


async def test_admin_api_refuses_scopes_beyond_the_agency_type(gwh):
    admin = await gwh.bearer("admin")
    resp = await gwh.client.post(
        "/v1/admin/clients",
        headers=admin,
        json={
            "name": "Hillside",
            "agency_type": "education",
            "scopes": ["referrals:read", "triage:write", "admin"],
        },
    )
    assert resp.status_code == 422, resp.text
    error = resp.json()["errors"][0]
    assert error["field"] == "scopes"
    assert "admin triage:write" in error["message"] and "referrals:read" not in error["message"]
    assert resp.headers["content-type"].startswith("application/problem+json")
    unknown = await gwh.client.post(
        "/v1/admin/clients", headers=admin, json={"name": "x", "agency_type": "police", "scopes": ["root"]}
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "scopes"
    listed = (await gwh.client.get("/v1/admin/clients", headers=admin)).json()["items"]
    assert not any(c["name"] in ("Hillside", "x") for c in listed), "nothing is stored on refusal"
    within = await gwh.client.post(
        "/v1/admin/clients",
        headers=admin,
        json={
            "name": "Hillside",
            "agency_type": "education",
            "scopes": ["referrals:create", "referrals:read"],
        },
    )
    assert within.status_code == 201 and within.json()["scopes"] == ["referrals:create", "referrals:read"]


async def test_create_client_refuses_scopes_beyond_the_agency_type(gwh):
    async with gwh.gw.db.session() as session:
        with pytest.raises(client_ops.ClientError) as refused:
            await client_ops.create_client(
                session, client_id=None, name="GP", agency_type="health", scopes=["people:read"]
            )
    assert refused.value.field == "scopes" and "people:read" in refused.value.message
    async with gwh.gw.db.session() as session:
        made = await client_ops.create_client(session, client_id=None, name="svc", agency_type="service")
    assert set(made.client.scopes) == set(client_ops.ALL_SCOPES)  # the CLI path keeps service clients


@pytest.mark.parametrize("agency_type", ["service", "admin"])
async def test_admin_api_refuses_service_and_admin_clients(gwh, agency_type):
    admin = await gwh.bearer("admin")
    resp = await gwh.client.post(
        "/v1/admin/clients", headers=admin, json={"name": "Backdoor", "agency_type": agency_type}
    )
    assert resp.status_code == 422, resp.text
    error = resp.json()["errors"][0]
    assert error["field"] == "agency_type" and "command line" in error["message"]
    listed = (await gwh.client.get("/v1/admin/clients", headers=admin)).json()["items"]
    assert not any(c["name"] == "Backdoor" for c in listed)


async def test_the_cli_creates_service_clients_but_never_beyond_the_agency_type(tmp_path):
    url = await create_test_database(tmp_path, "gwguard")
    try:
        await asyncio.to_thread(alembic_upgrade, ROOT / "gateway", url)
        made = await asyncio.to_thread(
            cli, url, "clients", "create", "--name", "svc-referrals", "--agency-type", "service"
        )
        assert made.returncode == 0, made.stderr
        assert "triage:write" in json.loads(made.stdout)["scopes"]
        beyond = await asyncio.to_thread(
            cli,
            url,
            "clients",
            "create",
            "--name",
            "x",
            "--agency-type",
            "education",
            "--scopes",
            "triage:write",
        )
        assert beyond.returncode == 2 and "scopes" in beyond.stderr and "triage:write" in beyond.stderr
    finally:
        await drop_test_database(url)


async def test_a_client_stored_with_too_much_gets_only_its_agency_types_scopes(gwh):
    cid, secret, _ = await gwh.make_client("education")
    async with gwh.gw.db.session() as session:  # as a client stored before the rule might be
        await session.execute(
            update(Client)
            .where(Client.client_id == cid)
            .values(scopes=[*client_ops.DEFAULT_SCOPES["education"], "triage:write", "admin"])
        )
    granted = await ask_token(gwh, cid, secret)
    assert granted.status_code == 200
    assert set(granted.json()["scope"].split()) == set(client_ops.DEFAULT_SCOPES["education"])
    asked = await gwh.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "triage:write"},
        headers=basic(cid, secret),
    )
    assert asked.status_code == 400 and asked.json()["error"] == "invalid_scope"


# ---- the throttle itself, on an injected clock ----


def test_failure_window_blocks_at_the_limit_and_only_until_the_window_closes():
    clock = Clock()
    window = FailureWindow(limit=3, window=60, max_keys=100, clock=clock)
    for _ in range(2):
        window.fail("a")
    assert window.blocked("a") == 0
    clock.now += 10
    window.fail("a")
    assert window.blocked("a") == pytest.approx(50)  # from the first failure, not the last
    assert window.blocked("b") == 0
    clock.now += 49.5
    assert 0 < window.blocked("a") <= 1
    clock.now += 0.5
    assert window.blocked("a") == 0 and len(window) == 0
    window.fail("a")
    assert window.blocked("a") == 0  # a new window: one failure
    window.reset("a")
    assert len(window) == 0


def test_failure_window_memory_is_bounded():
    clock = Clock()
    window = FailureWindow(limit=2, window=60, max_keys=100, clock=clock)
    window.fail("old")
    window.fail("old")
    for i in range(99):
        window.fail(f"k{i}")
    assert len(window) == 100 and window.blocked("old") > 0
    window.fail("one-more")  # full: the oldest open window goes
    assert len(window) == 100 and window.blocked("old") == 0
    clock.now += 61
    for i in range(5):
        window.fail(f"new{i}")  # closed windows are dropped first
    assert len(window) == 5


def test_source_address_ignores_x_forwarded_for_unless_the_peer_is_a_trusted_proxy():
    clock = Clock()
    plain = throttle(clock)
    assert plain.source("10.0.0.5", "1.2.3.4") == "10.0.0.5"
    assert plain.source(None, None) == "unknown"
    behind = throttle(clock, trusted=["10.0.0.0/8"])
    assert behind.source("10.0.0.5", "1.2.3.4, 10.0.0.7") == "1.2.3.4"
    assert behind.source("10.0.0.5", "6.6.6.6, 1.2.3.4") == "1.2.3.4"  # the spoofable left part is not read
    assert behind.source("192.0.2.1", "1.2.3.4") == "192.0.2.1"  # a peer that is not the proxy
    assert behind.source("10.0.0.5", None) == "10.0.0.5"


# ---- the throttle at /oauth/token ----


async def test_wrong_secrets_are_throttled_without_checking_the_secret(gwh, monkeypatch):
    clock = Clock()
    gwh.gw.token_throttle = throttle(clock, per_client=3, per_address=100)
    cid, secret, _ = await gwh.make_client("voluntary")
    checked: list[str] = []
    real_verify = oauth.verify_secret

    def counting_verify(candidate: str, stored: str) -> bool:
        checked.append(candidate)
        return real_verify(candidate, stored)

    monkeypatch.setattr(oauth, "verify_secret", counting_verify)
    for _ in range(3):
        assert (await ask_token(gwh, cid, "wrong")).status_code == 401
    assert len(checked) == 3
    clock.now += 5
    for candidate in ("wrong", secret):  # even the right secret waits: it is not checked
        blocked = await ask_token(gwh, cid, candidate)
        assert blocked.status_code == 429, blocked.text
        assert blocked.json()["error"] == "invalid_client" and blocked.json()["error_description"]
        assert blocked.headers["retry-after"] == "55"
        assert blocked.headers["cache-control"] == "no-store"
    assert len(checked) == 3, "no scrypt work is spent while blocked"
    clock.now += 55  # the block ends with the window
    assert (await ask_token(gwh, cid, secret)).status_code == 200
    # Success starts the client id afresh: two more failures do not block it.
    for _ in range(2):
        assert (await ask_token(gwh, cid, "wrong")).status_code == 401
    assert (await ask_token(gwh, cid, secret)).status_code == 200


async def test_unknown_clients_and_missing_credentials_count_too(gwh):
    clock = Clock()
    gwh.gw.token_throttle = throttle(clock, per_client=2, per_address=4)
    for _ in range(2):
        assert (await ask_token(gwh, "nobody-here", "x")).status_code == 401
    # An unknown id is throttled exactly like a real one: no enumeration by status.
    assert (await ask_token(gwh, "nobody-here", "x")).status_code == 429
    # No client authentication at all counts against the address.
    for _ in range(2):
        bare = await gwh.client.post("/oauth/token", data={"grant_type": "client_credentials"})
        assert bare.status_code == 401
    cid, secret, _ = await gwh.make_client("youth_justice")
    refused = await ask_token(gwh, cid, secret)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0


async def test_the_address_limit_spans_client_ids_but_not_other_addresses(gwh):
    clock = Clock()
    # The harness's peer is 127.0.0.1; trusting it as a proxy lets the test speak from other
    # addresses through X-Forwarded-For.
    gwh.gw.token_throttle = throttle(clock, per_client=10, per_address=4, trusted=["127.0.0.1"])
    cid, secret, _ = await gwh.make_client("police")
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    for i in range(3):
        assert (await ask_token(gwh, f"guess-{i}", "x", **attacker)).status_code == 401
    assert (await ask_token(gwh, cid, "wrong", **attacker)).status_code == 401
    assert (await ask_token(gwh, "guess-9", "x", **attacker)).status_code == 429
    assert (await ask_token(gwh, cid, secret, **attacker)).status_code == 429
    # The rightful client, elsewhere, is under its own (per-client) limit: one failure so far.
    assert (await ask_token(gwh, cid, secret, **{"X-Forwarded-For": "198.51.100.7"})).status_code == 200


async def test_x_forwarded_for_does_not_escape_the_address_limit_by_default(gwh):
    clock = Clock()
    gwh.gw.token_throttle = throttle(clock, per_client=10, per_address=2)
    for i in range(2):
        spoof = {"X-Forwarded-For": f"192.0.2.{i}"}
        assert (await ask_token(gwh, f"guess-{i}", "x", **spoof)).status_code == 401
    assert (await ask_token(gwh, "guess-x", "x", **{"X-Forwarded-For": "192.0.2.99"})).status_code == 429


async def test_default_settings_throttle_the_token_endpoint(gwh):
    cid, _, _ = await gwh.make_client("housing")
    statuses = [(await ask_token(gwh, cid, "wrong")).status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]


# ---- RFC 6750 challenges ----


async def test_rfc6750_challenges_on_proxied_and_admin_routes(gwh):
    for path in ("/v1/things", "/v1/admin/clients"):
        for headers in ({}, {"Authorization": "Basic YTpi"}):
            resp = await gwh.client.get(path, headers=headers)
            assert resp.status_code == 401, path
            assert resp.headers["www-authenticate"] == 'Bearer realm="early-help"', path
        bad = await gwh.client.get(path, headers={"Authorization": "Bearer not-a-token"})
        challenge = bad.headers["www-authenticate"]
        assert bad.status_code == 401
        assert challenge.startswith('Bearer realm="early-help", error="invalid_token", error_description="')
        assert challenge.count('"') == 6, "the description cannot break out of its quotes"
    assert gwh.upstream.calls == []


# ---- Cache-Control: no-store ----


async def test_no_store_on_proxied_admin_and_error_responses_but_not_over_a_chosen_policy(gwh):
    async def cached(_request: Request) -> JSONResponse:
        return JSONResponse({"public": True}, headers={"Cache-Control": "max-age=30"})

    gwh.upstream.app.router.routes.insert(0, SRoute("/v1/cached", cached))
    gwh.gw.routes = RouteTable(
        [*TEST_ROUTES, Route("GET", "/v1/cached", "referrals:read", service="referrals")]
    )
    mash = await gwh.bearer("mash")
    admin = await gwh.bearer("admin")
    police = await gwh.bearer("police")
    responses = {
        "proxied": await gwh.client.get(f"/v1/things/{uuid.uuid4()}", headers=mash),
        "admin": await gwh.client.get("/v1/admin/clients", headers=admin),
        "admin 422": await gwh.client.post("/v1/admin/clients", headers=admin, json={}),
        "401": await gwh.client.get("/v1/things"),
        "403": await gwh.client.get("/v1/triage", headers=police),
        "404": await gwh.client.get("/v1/nowhere", headers=mash),
    }
    assert responses["proxied"].status_code == 200 and responses["admin"].status_code == 200
    for name, resp in responses.items():
        assert resp.headers.get("cache-control") == "no-store", name
    kept = await gwh.client.get("/v1/cached", headers=mash)
    assert kept.status_code == 200 and kept.headers["cache-control"] == "max-age=30"
    jwks = await gwh.client.get("/.well-known/jwks.json")
    assert jwks.headers["cache-control"] == "max-age=60"


async def test_every_service_response_is_no_store_unless_it_chose_otherwise():
    app = create_service_app(title="t", service="t")

    @app.get("/v1/child")
    async def child() -> dict[str, str]:
        return {"name": "Sam"}

    @app.get("/v1/public")
    async def public() -> JSONResponse:
        return JSONResponse({}, headers={"Cache-Control": "max-age=5"})

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as c:
        assert (await c.get("/v1/child")).headers["cache-control"] == "no-store"
        missing = await c.get("/v1/nothing")
        assert missing.status_code == 404 and missing.headers["cache-control"] == "no-store"
        assert (await c.get("/v1/public")).headers["cache-control"] == "max-age=5"
