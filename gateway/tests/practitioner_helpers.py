"""Helpers for the practitioner registry and token exchange tests."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from jose import jwt

from gateway.routes import Route, RouteTable
from gateway.routes.gateway import ROUTES as GATEWAY_ROUTES
from gateway.tests.conftest import TEST_ROUTES, GatewayHarness
from gateway.token_exchange import PRACTITIONER_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT

REGISTRY_ROUTES = [
    Route(r.method, r.path, r.scope, "gateway")
    for r in GATEWAY_ROUTES
    if r.path.startswith(("/v1/practitioners", "/v1/teams"))
]


def with_registry(gwh: GatewayHarness) -> GatewayHarness:
    """The test route table plus the gateway's own registry routes."""
    gwh.gw.routes = RouteTable([*TEST_ROUTES, *REGISTRY_ROUTES])
    gwh.gw.openapi.table = gwh.gw.routes
    return gwh


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


class Agency:
    """A client of a fresh agency, with its system-call bearer header."""

    def __init__(self, client_id: str, secret: str, agency_id: str, headers: dict[str, str]) -> None:
        self.client_id = client_id
        self.secret = secret
        self.agency_id = agency_id
        self.headers = headers


async def agency(gwh: GatewayHarness, agency_type: str, **kw: Any) -> Agency:
    cid, secret, agency_id = await gwh.make_client(agency_type, **kw)
    token = await gwh.token(cid, secret)
    return Agency(cid, secret, agency_id, {"Authorization": f"Bearer {token}"})


async def register(
    gwh: GatewayHarness,
    a: Agency,
    *,
    name: str = "Pat Example",
    email: str | None = None,
    roles: list[str],
    **kw: Any,
) -> dict[str, Any]:
    body = {
        "name": name,
        "email": email or f"{name.lower().replace(' ', '.')}@{a.client_id}.example",
        "roles": roles,
    }
    body.update(kw)
    resp = await gwh.client.post("/v1/practitioners", headers=a.headers, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def exchange(
    gwh: GatewayHarness,
    client_id: str,
    secret: str,
    subject: str | None,
    *,
    subject_type: str | None = PRACTITIONER_TOKEN_TYPE,
    form_auth: bool = False,
    **extra: str,
) -> httpx.Response:
    data: dict[str, str] = {"grant_type": TOKEN_EXCHANGE_GRANT, **extra}
    if subject is not None:
        data["subject_token"] = subject
    if subject_type is not None:
        data["subject_token_type"] = subject_type
    headers: dict[str, str] = {}
    if form_auth:
        data.update(client_id=client_id, client_secret=secret)
    else:
        headers = basic(client_id, secret)
    return await gwh.client.post("/oauth/token", data=data, headers=headers)


async def acting_for(gwh: GatewayHarness, a: Agency, practitioner_id: str) -> dict[str, str]:
    resp = await exchange(gwh, a.client_id, a.secret, practitioner_id)
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def hop_claims(gwh: GatewayHarness) -> dict[str, Any]:
    """The claims of the hop identity the upstream last received."""
    return jwt.get_unverified_claims(gwh.upstream.calls[-1]["headers"]["authorization"][7:])  # type: ignore[no-any-return]
