"""RFC 8693 token exchange at /oauth/token: an agency system acts for one of its practitioners."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time

import pytest
from jose import jwt
from sqlalchemy import update

from gateway import audit as audit_ops
from gateway.models import AuditRecord, Practitioner
from gateway.tests.practitioner_helpers import (
    acting_for,
    agency,
    exchange,
    hop_claims,
    register,
    with_registry,
)
from gateway.token_exchange import ACCESS_TOKEN_TYPE


@pytest.fixture
async def reg(gwh):
    return with_registry(gwh)


async def _people(reg):
    eh = await agency(reg, "early_help")
    team = (await reg.client.post("/v1/teams", headers=eh.headers, json={"name": "North"})).json()
    ellie = await register(
        reg, eh, name="Ellie", email="ellie@eh.example", roles=["early_help_practitioner"], team_id=team["id"]
    )
    return eh, team, ellie


async def test_exchange_issues_a_short_lived_token_for_the_practitioner(gateway_factory):
    reg = with_registry(await gateway_factory(practitioner_token_ttl_seconds=120))
    eh, team, ellie = await _people(reg)
    for subject, form_auth in ((ellie["id"], False), ("Ellie@EH.example", True)):
        resp = await exchange(
            reg, eh.client_id, eh.secret, subject, form_auth=form_auth, scope="referrals:read"
        )
        assert resp.status_code == 200, resp.text
        assert resp.headers["cache-control"] == "no-store"
        body = resp.json()
        assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and body["token_type"] == "Bearer"
        assert body["expires_in"] == 120 and body["scope"] == "referrals:read"
        claims = jwt.get_unverified_claims(body["access_token"])
        assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
        assert claims["sub"] == claims["practitioner_id"] == ellie["id"]
        assert claims["act"] == {"sub": eh.client_id} and claims["client_id"] == eh.client_id
        assert claims["agency_id"] == eh.agency_id and claims["agency_type"] == "early_help"
        assert claims["team_id"] == team["id"] and claims["roles"] == "early_help_practitioner"
        assert claims["scope"] == "referrals:read" and claims["exp"] - claims["iat"] == 120
    # Without `scope`: the client's scopes.
    resp = await exchange(reg, eh.client_id, eh.secret, ellie["id"])
    assert "episodes:write" in resp.json()["scope"].split()


async def test_the_default_practitioner_token_lifetime_is_five_minutes(reg):
    eh, _team, ellie = await _people(reg)
    body = (await exchange(reg, eh.client_id, eh.secret, ellie["id"])).json()
    claims = jwt.get_unverified_claims(body["access_token"])
    assert body["expires_in"] == 300 == claims["exp"] - claims["iat"]


async def test_metadata_advertises_the_grant(reg):
    meta = (await reg.client.get("/.well-known/oauth-authorization-server")).json()
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in meta["grant_types_supported"]


async def test_every_refusal_is_an_oauth_error(reg):
    eh, _team, ellie = await _people(reg)
    police = await agency(reg, "police")
    officer = await register(reg, police, name="Pat", roles=["agency_practitioner"])
    gone = await register(reg, eh, name="Gone", roles=["early_help_manager"])
    await reg.client.post(f"/v1/practitioners/{gone['id']}/disable", headers=eh.headers)
    cases = [
        ({"subject": None}, "invalid_request", "subject_token"),
        ({"subject": ellie["id"], "subject_type": None}, "invalid_request", "subject_token_type"),
        (
            {"subject": ellie["id"], "subject_type": "urn:ietf:params:oauth:token-type:saml2"},
            "invalid_request",
            "urn:ietf:params:oauth:token-type:saml2",
        ),
        ({"subject": "00000000-0000-4000-9000-999999999999"}, "invalid_grant", ""),
        ({"subject": "nobody@eh.example"}, "invalid_grant", ""),
        ({"subject": officer["id"]}, "invalid_grant", ""),  # another agency's
        ({"subject": officer["email"]}, "invalid_grant", ""),
        ({"subject": gone["id"]}, "invalid_grant", ""),  # disabled
        ({"subject": ellie["id"], "scope": "triage:write"}, "invalid_scope", ""),
        ({"subject": ellie["id"], "actor_token": "x"}, "invalid_request", "actor_token"),
        (
            {"subject": ellie["id"], "requested_token_type": "urn:x"},
            "invalid_request",
            "requested_token_type",
        ),
        ({"subject": ellie["id"], "audience": "someone-else"}, "invalid_target", ""),
    ]
    for kw, error, named in cases:
        extra = {k: v for k, v in kw.items() if k not in ("subject", "subject_type")}
        args = {"subject_type": kw["subject_type"]} if "subject_type" in kw else {}
        resp = await exchange(reg, eh.client_id, eh.secret, kw["subject"], **args, **extra)
        assert resp.status_code == 400, (kw, resp.text)
        assert resp.json()["error"] == error, (kw, resp.text)
        assert named in resp.json()["error_description"]
        assert resp.headers["cache-control"] == "no-store"
    # The same answer for someone else's practitioner and for no one: nothing leaks.
    unknown = await exchange(reg, eh.client_id, eh.secret, "00000000-0000-4000-9000-999999999999")
    other = await exchange(reg, eh.client_id, eh.secret, officer["id"])
    assert unknown.json() == other.json()
    bad_secret = await exchange(reg, eh.client_id, "wrong", ellie["id"])
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"


async def test_a_service_client_may_not_exchange(reg):
    svc = await agency(reg, "service")
    _eh, _team, ellie = await _people(reg)
    resp = await exchange(reg, svc.client_id, svc.secret, ellie["id"])
    assert resp.status_code == 400 and resp.json()["error"] == "unauthorized_client"


async def test_the_hop_identity_carries_the_practitioner_team_and_roles(reg):
    eh, team, ellie = await _people(reg)
    headers = await acting_for(reg, eh, ellie["id"])
    assert (await reg.client.get("/v1/things", headers=headers)).status_code == 200
    hop = hop_claims(reg)
    assert hop["sub"] == hop["practitioner_id"] == ellie["id"] and hop["client_id"] == eh.client_id
    assert hop["team_id"] == team["id"] and hop["roles"] == "early_help_practitioner"
    assert hop["agency_id"] == eh.agency_id and hop["aud"] == reg.gw.settings.internal_audience
    # A system call names no practitioner.
    await reg.client.get("/v1/things", headers=eh.headers)
    hop = hop_claims(reg)
    assert "practitioner_id" not in hop and "roles" not in hop and hop["sub"] == eh.client_id


async def test_a_disabled_practitioners_token_stops_at_once_here(reg):
    eh, _team, ellie = await _people(reg)
    headers = await acting_for(reg, eh, ellie["id"])
    for _ in range(2):  # the second call is answered from the verified-token cache
        assert (await reg.client.get("/v1/things", headers=headers)).status_code == 200
    await reg.client.post(f"/v1/practitioners/{ellie['id']}/disable", headers=eh.headers)
    calls = len(reg.upstream.calls)
    resp = await reg.client.get("/v1/things", headers=headers)
    assert resp.status_code == 401 and 'error="invalid_token"' in resp.headers["www-authenticate"]
    assert len(reg.upstream.calls) == calls  # never forwarded
    assert (await exchange(reg, eh.client_id, eh.secret, ellie["id"])).json()["error"] == "invalid_grant"
    await reg.client.post(f"/v1/practitioners/{ellie['id']}/enable", headers=eh.headers)
    assert (await reg.client.get("/v1/things", headers=headers)).status_code == 200


async def test_a_practitioner_disabled_elsewhere_is_refused_within_the_status_cache(gateway_factory):
    reg = with_registry(await gateway_factory(client_status_cache_seconds=0.3))
    eh, _team, ellie = await _people(reg)
    headers = await acting_for(reg, eh, ellie["id"])
    assert (await reg.client.get("/v1/things", headers=headers)).status_code == 200
    # Another replica disables her: straight in the database, this process's cache not told.
    async with reg.gw.db.session() as session:
        await session.execute(
            update(Practitioner)
            .where(Practitioner.id == ellie["id"])
            .values(disabled_at=Practitioner.created_at)
        )
    assert (await exchange(reg, eh.client_id, eh.secret, ellie["id"])).status_code == 400  # at once
    await asyncio.sleep(0.4)
    assert (await reg.client.get("/v1/things", headers=headers)).status_code == 401


async def test_a_disabled_client_takes_its_practitioners_tokens_with_it(reg):
    eh, _team, ellie = await _people(reg)
    headers = await acting_for(reg, eh, ellie["id"])
    council = await agency(reg, "admin")
    await reg.client.post(f"/v1/admin/clients/{eh.client_id}/disable", headers=council.headers)
    assert (await reg.client.get("/v1/things", headers=headers)).status_code == 401


async def test_roles_taken_away_leave_tokens_already_issued(reg):
    eh = await agency(reg, "early_help")
    eddie = await register(reg, eh, name="Eddie", roles=["early_help_manager", "early_help_practitioner"])
    headers = await acting_for(reg, eh, eddie["id"])
    await reg.client.get("/v1/things", headers=headers)
    assert hop_claims(reg)["roles"] == "early_help_manager early_help_practitioner"
    await reg.client.patch(
        f"/v1/practitioners/{eddie['id']}", headers=eh.headers, json={"roles": ["early_help_practitioner"]}
    )
    await reg.client.get("/v1/things", headers=headers)
    assert hop_claims(reg)["roles"] == "early_help_practitioner"


def _tamper(token: str, **changes: object) -> str:
    header, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{raw}.{sig}"


async def test_a_tampered_exchanged_token_fails_its_signature(reg):
    school = await agency(reg, "education")
    tom = await register(reg, school, name="Tom", roles=["agency_practitioner"])
    token = (await exchange(reg, school.client_id, school.secret, tom["id"])).json()["access_token"]
    other = await register(reg, school, name="Tess", roles=["agency_practitioner", "agency_admin"])
    for changes in (
        {"roles": "agency_practitioner agency_admin"},
        {"practitioner_id": other["id"], "sub": other["id"]},
        {"act": {"sub": "demo-mash"}},
        {"exp": int(time.time()) + 86400},
    ):
        resp = await reg.client.get(
            "/v1/things", headers={"Authorization": f"Bearer {_tamper(token, **changes)}"}
        )
        assert resp.status_code == 401, changes
    assert (
        await reg.client.get("/v1/things", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 200


async def test_roles_a_token_may_not_carry_are_dropped_even_when_signed_by_us(reg):
    school = await agency(reg, "education")
    tom = await register(reg, school, name="Tom", roles=["agency_practitioner"])
    now = int(time.time())
    token = reg.gw.keys.sign(
        {
            "iss": reg.gw.settings.gateway_issuer,
            "sub": tom["id"],
            "aud": reg.gw.settings.api_audience,
            "client_id": school.client_id,
            "act": {"sub": school.client_id},
            "iat": now,
            "exp": now + 60,
            "jti": "j-1",
            "scope": "referrals:read",
            "agency_id": school.agency_id,
            "agency_type": "education",
            "practitioner_id": tom["id"],
            "roles": "agency_practitioner mash_manager council_admin agency_admin",
        }
    )
    assert (
        await reg.client.get("/v1/things", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 200
    # Cut to the agency type's roles, then to the roles the registry holds now.
    assert hop_claims(reg)["roles"] == "agency_practitioner"


async def test_the_audit_names_the_practitioner_and_still_verifies_with_system_calls(reg):
    eh, _team, ellie = await _people(reg)
    headers = {**(await acting_for(reg, eh, ellie["id"])), "X-Request-ID": "who-looked-1"}
    await reg.client.get("/v1/things/child-1", headers=headers)
    await reg.client.get("/v1/things/child-1", headers=eh.headers)  # a system call
    council = await agency(reg, "admin")
    rows = (await reg.client.get("/v1/admin/audit?resource_id=child-1", headers=council.headers)).json()[
        "items"
    ]
    assert sorted((r["practitioner_id"] or "") for r in rows) == ["", ellie["id"]]
    who = (
        await reg.client.get(f"/v1/admin/audit?practitioner_id={ellie['id']}", headers=council.headers)
    ).json()
    assert [(r["resource_id"], r["request_id"]) for r in who["items"]] == [("child-1", "who-looked-1")]
    await reg.gw.audit.flush()
    assert (await audit_ops.verify(reg.gw.db)).ok
    # The practitioner is covered by the hash: changing who looked is detected.
    async with reg.gw.db.session() as session:
        await session.execute(
            update(AuditRecord)
            .where(AuditRecord.practitioner_id == ellie["id"])
            .values(practitioner_id="someone")
        )
    result = await audit_ops.verify(reg.gw.db)
    assert not result.ok and any("edited" in p for p in result.problems)


def test_rows_without_a_practitioner_hash_as_before():
    row = {
        "chain_id": "c",
        "seq": 1,
        "at": "2026-01-01T00:00:00+00:00",
        "client_id": "demo-mash",
        "agency_id": "a",
        "method": "GET",
        "route": "/v1/x",
        "resource_id": None,
        "status": 200,
        "latency_ms": 1.0,
        "request_id": "r",
        "prev_hash": "0" * 64,
    }
    # The hash of a row written before practitioners existed (the algorithm as it was).
    old = hashlib.sha256(
        json.dumps({**row, "latency_ms": "1.000"}, sort_keys=True, default=str).encode()
    ).hexdigest()
    assert audit_ops.row_hash(row) == audit_ops.row_hash({**row, "practitioner_id": None}) == old
    assert audit_ops.row_hash({**row, "practitioner_id": "p-1"}) != old


async def test_a_practitioner_who_only_administers_reaches_no_childs_record(reg):
    eh, _team, _ellie = await _people(reg)
    ada = await register(reg, eh, name="Ada", email="ada@eh.example", roles=["agency_admin"])
    headers = await acting_for(reg, eh, ada["id"])
    # The agency's client holds referrals:read, but an admin-only practitioner acts without it.
    refused = await reg.client.get("/v1/things", headers=headers)
    assert refused.status_code == 403 and "insufficient_scope" in refused.headers["www-authenticate"]
    assert (await reg.client.get("/v1/practitioners", headers=headers)).status_code == 200
    # Given a casework role, the same token reaches the record again (roles are read per call).
    reg.gw.auth.practitioners.forget(ada["id"])
    patched = await reg.client.patch(
        f"/v1/practitioners/{ada['id']}",
        headers=eh.headers,
        json={"roles": ["agency_admin", "early_help_practitioner"]},
    )
    assert patched.status_code == 200, patched.text
    reg.gw.auth.practitioners.forget(ada["id"])
    # Roles added after issue are not granted by an old token (it carries only agency_admin).
    assert (await reg.client.get("/v1/things", headers=headers)).status_code == 403
    fresh = await acting_for(reg, eh, ada["id"])
    assert (await reg.client.get("/v1/things", headers=fresh)).status_code == 200
