"""Tokens from a council's own identity provider: a second key pair served from a local JWKS."""

from __future__ import annotations

import time
import uuid

from gateway.config import TrustedIssuer

IDP = "https://idp.anyshire.test"


def idp_claims(**over):
    now = int(time.time())
    c = {
        "iss": IDP,
        "sub": "staff-42",
        "aud": "early-help",
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "org": "eh-agency-1",
        "roles": ["eh.worker", "eh.unknown"],
    }
    c.update(over)
    return c


async def make(gateway_factory, other_signer):
    # The upstream echo server doubles as the IdP's JWKS endpoint (real HTTP fetch).
    gwh = await gateway_factory()
    gwh.upstream.jwks = other_signer.jwks()
    trusted = TrustedIssuer(
        issuer=IDP,
        jwks_url=f"{gwh.upstream.url}/jwks.json",
        audience="early-help",
        agency_id_claim="org",
        agency_type="early_help",
        scope_claim="roles",
        scope_map={"eh.worker": ["referrals:read", "episodes:read", "admin"]},
        # Without a role, a practitioner signed in by the IdP reaches no child's record.
        role_map={"eh.worker": ["early_help_practitioner"]},
    )
    from shared.tokens import KeySet, http_jwks_fetcher

    gwh.gw.auth.external[IDP] = (trusted, KeySet(http_jwks_fetcher(trusted.jwks_url)))
    return gwh


async def test_idp_token_is_mapped_to_agency_and_scopes(gateway_factory, other_signer):
    gwh = await make(gateway_factory, other_signer)
    token = other_signer.sign(idp_claims())
    resp = await gwh.client.get("/v1/things", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    from jose import jwt

    hop = jwt.get_unverified_claims(resp.json()["headers"]["authorization"][7:])
    assert hop["agency_id"] == "eh-agency-1" and hop["agency_type"] == "early_help"
    # "admin" was mapped but is not an early_help scope: cut away.
    assert set(hop["scope"].split()) == {"referrals:read", "episodes:read"}
    assert (
        await gwh.client.get("/v1/triage", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 403


async def test_idp_tokens_with_wrong_audience_or_key_are_refused(gateway_factory, other_signer):
    from shared.testing import TestSigner

    gwh = await make(gateway_factory, other_signer)
    bad = [
        other_signer.sign(idp_claims(aud="someone-else")),
        TestSigner(kid=other_signer.kid).sign(idp_claims()),  # right kid, wrong key
        other_signer.sign(idp_claims(iss="https://other-idp.test")),
        other_signer.sign({k: v for k, v in idp_claims().items() if k != "org"}),
    ]
    for token in bad:
        resp = await gwh.client.get("/v1/things", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401


# ---- practitioners signed in by the council IdP (issue 18) ----


async def make_with_roles(gateway_factory, other_signer):
    from gateway.tests.practitioner_helpers import with_registry
    from shared.tokens import KeySet, http_jwks_fetcher

    gwh = with_registry(await gateway_factory())
    gwh.upstream.jwks = other_signer.jwks()
    trusted = TrustedIssuer(
        issuer=IDP,
        jwks_url=f"{gwh.upstream.url}/jwks.json",
        audience="early-help",
        agency_id_claim="org",
        agency_type="early_help",
        scope_claim="roles",
        scope_map={"eh.worker": ["referrals:read", "episodes:read"]},
        roles_claim="groups",
        role_map={
            "eh.manager": ["early_help_manager", "mash_screener", "council_admin"],
            "eh.worker": ["early_help_practitioner"],
        },
        name_claim="display_name",
    )
    gwh.gw.auth.external[IDP] = (trusted, KeySet(http_jwks_fetcher(trusted.jwks_url)))
    return gwh


async def test_idp_subject_becomes_a_registered_practitioner_with_mapped_roles(gateway_factory, other_signer):
    from jose import jwt

    from gateway.practitioners import external_id

    gwh = await make_with_roles(gateway_factory, other_signer)
    token = other_signer.sign(
        idp_claims(groups=["eh.manager", "eh.worker", "eh.other"], display_name="Sam Staff")
    )
    resp = await gwh.client.get("/v1/things", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    hop = jwt.get_unverified_claims(resp.json()["headers"]["authorization"][7:])
    pid = external_id(IDP, "staff-42")
    assert hop["practitioner_id"] == pid
    # mash_screener and council_admin were mapped but no early help practitioner may hold them.
    assert hop["roles"] == "early_help_manager early_help_practitioner"
    council = await gwh.bearer("admin")
    p = (await gwh.client.get(f"/v1/practitioners/{pid}", headers=council)).json()
    assert (p["name"], p["agency_id"], p["roles"], p["email"]) == (
        "Sam Staff",
        "eh-agency-1",
        ["early_help_manager", "early_help_practitioner"],
        None,
    )
    # The IdP is the source of its people's roles: a later token's roles replace them.
    fewer = other_signer.sign(idp_claims(groups=["eh.worker"], display_name="Sam Staff"))
    resp = await gwh.client.get("/v1/things", headers={"Authorization": f"Bearer {fewer}"})
    assert (
        jwt.get_unverified_claims(resp.json()["headers"]["authorization"][7:])["roles"]
        == "early_help_practitioner"
    )
    assert (await gwh.client.get(f"/v1/practitioners/{pid}", headers=council)).json()["roles"] == [
        "early_help_practitioner"
    ]
    # ...so the registry does not set them.
    resp = await gwh.client.patch(
        f"/v1/practitioners/{pid}", headers=council, json={"roles": ["early_help_manager"]}
    )
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "roles"


async def test_a_disabled_idp_practitioner_is_refused(gateway_factory, other_signer):
    from gateway.practitioners import external_id

    gwh = await make_with_roles(gateway_factory, other_signer)
    token = other_signer.sign(idp_claims(groups=["eh.worker"]))
    headers = {"Authorization": f"Bearer {token}"}
    assert (await gwh.client.get("/v1/things", headers=headers)).status_code == 200
    council = await gwh.bearer("admin")
    pid = external_id(IDP, "staff-42")
    assert (await gwh.client.post(f"/v1/practitioners/{pid}/disable", headers=council)).status_code == 200
    assert (await gwh.client.get("/v1/things", headers=headers)).status_code == 401
    fresh = other_signer.sign(idp_claims(groups=["eh.worker"]))  # a new token does not re-enable
    assert (
        await gwh.client.get("/v1/things", headers={"Authorization": f"Bearer {fresh}"})
    ).status_code == 401
    # Another subject of the same IdP is someone else.
    other = other_signer.sign(idp_claims(sub="staff-43", groups=["eh.worker"]))
    assert (
        await gwh.client.get("/v1/things", headers={"Authorization": f"Bearer {other}"})
    ).status_code == 200


async def test_an_idp_token_for_an_agency_known_with_another_type_is_refused(gateway_factory, other_signer):
    gwh = await make_with_roles(gateway_factory, other_signer)
    await gwh.make_client("education", agency_id="eh-agency-1")
    token = other_signer.sign(idp_claims(groups=["eh.worker"]))
    assert (
        await gwh.client.get("/v1/things", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 401
