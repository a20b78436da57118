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
