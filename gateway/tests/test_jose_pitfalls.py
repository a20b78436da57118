"""python-jose's unsafe defaults, each closed: proven through the gateway and at the verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
from jose import jwe, jwt

from shared.testing import TestSigner
from shared.tokens import KeySet, TokenInvalid, verify

ISS, AUD = "http://gateway.test", "early-help-api"


def claims(**over):
    now = int(time.time())
    c = {
        "iss": ISS,
        "sub": "demo",
        "aud": AUD,
        "client_id": "demo",
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "scope": "referrals:read",
        "agency_id": "a1",
        "agency_type": "mash",
    }
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def hs256_forge(payload: dict, secret: bytes, kid: str) -> str:
    """The classic key-confusion forgery, built by hand (python-jose refuses to make it)."""
    signing_input = f"{b64({'alg': 'HS256', 'kid': kid, 'typ': 'at+jwt'})}.{b64(payload)}"
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(sig).decode().rstrip('=')}"


@pytest.fixture
def signer():
    return TestSigner(kid="k1")


async def check(signer, token, **kw):
    return await verify(
        token, keys=signer.keyset(), issuer=kw.get("issuer", ISS), audience=kw.get("audience", AUD)
    )


async def test_a_good_token_verifies(signer):
    assert (await check(signer, signer.sign(claims())))["agency_id"] == "a1"


@pytest.mark.parametrize(
    "case",
    [
        "hs256_public_pem",
        "hs256_public_der",
        "alg_none",
        "missing_exp",
        "missing_aud",
        "wrong_aud",
        "wrong_iss",
        "expired",
        "unknown_kid",
        "tampered",
        "jwe",
        "missing_iat",
        "missing_sub",
        "missing_jti",
        "wrong_typ",
        "no_kid",
        "garbage",
        "future_iat",
    ],
)
async def test_each_pitfall_is_rejected(signer, case):
    good = signer.sign(claims())
    h, p, s = good.split(".")
    token = {
        "hs256_public_pem": lambda: hs256_forge(claims(), signer.public_pem.encode(), "k1"),
        "hs256_public_der": lambda: hs256_forge(claims(), signer.public_der, "k1"),
        "alg_none": lambda: f"{b64({'alg': 'none', 'kid': 'k1', 'typ': 'at+jwt'})}.{p}.",
        "missing_exp": lambda: signer.sign(claims(exp=None)),
        "missing_aud": lambda: signer.sign(claims(aud=None)),
        "wrong_aud": lambda: signer.sign(claims(aud="someone-else")),
        "wrong_iss": lambda: signer.sign(claims(iss="https://evil.example")),
        "expired": lambda: signer.sign(claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
        "unknown_kid": lambda: signer.sign(claims(), headers={"kid": "nope"}),
        "tampered": lambda: f"{h}.{b64({**claims(), 'agency_type': 'mash', 'scope': 'admin'})}.{s}",
        "jwe": lambda: jwe.encrypt(
            json.dumps(claims()), "A" * 32, algorithm="dir", encryption="A256GCM"
        ).decode(),
        "missing_iat": lambda: signer.sign(claims(iat=None)),
        "missing_sub": lambda: signer.sign(claims(sub=None)),
        "missing_jti": lambda: signer.sign(claims(jti=None)),
        "wrong_typ": lambda: signer.sign(claims(), headers={"typ": "JWT"}),
        "no_kid": lambda: jwt.encode(claims(), signer._key, algorithm="RS256", headers={"typ": "at+jwt"}),
        "garbage": lambda: "a.b.c",
        "future_iat": lambda: signer.sign(claims(iat=int(time.time()) + 3600, exp=int(time.time()) + 7200)),
    }[case]()
    with pytest.raises(TokenInvalid):
        await check(signer, token)


async def test_unknown_kid_refetches_once_then_is_rate_limited(signer):
    fetches = 0

    async def fetch():
        nonlocal fetches
        fetches += 1
        return signer.jwks()

    keys = KeySet(fetch, refetch_interval=60)
    for _ in range(5):
        with pytest.raises(TokenInvalid):
            await verify(
                signer.sign(claims(), headers={"kid": f"junk-{uuid.uuid4()}"}),
                keys=keys,
                issuer=ISS,
                audience=AUD,
            )
    assert fetches == 1


async def test_a_new_kid_is_found_by_refetching(signer):
    current = {"keys": []}

    async def fetch():
        return current

    keys = KeySet(fetch, refetch_interval=0)
    current = signer.jwks()
    assert (await verify(signer.sign(claims()), keys=keys, issuer=ISS, audience=AUD))["sub"] == "demo"


async def test_pitfalls_through_the_gateway_are_401_never_500(gwh):
    cid, secret, _ = await gwh.make_client("mash")
    token = await gwh.token(cid, secret)
    jwks = (await gwh.client.get("/.well-known/jwks.json")).json()
    kid = jwks["keys"][0]["kid"]
    h, p, s = token.split(".")
    real = jwt.get_unverified_claims(token)
    attacker = TestSigner(kid=kid)  # same kid, a different private key
    forged = [
        hs256_forge(real, jwk_pem(jwks["keys"][0]), kid),
        f"{b64({'alg': 'none', 'kid': kid, 'typ': 'at+jwt'})}.{p}.",
        f"{h}.{b64({**real, 'scope': 'admin triage:write'})}.{s}",
        attacker.sign({**real}),
        jwe.encrypt(json.dumps(real), "A" * 32, algorithm="dir", encryption="A256GCM").decode(),
        attacker.sign({**real, "aud": "early-help-internal"}),
        "",
        "x" * 5000,
    ]
    for bad in forged:
        resp = await gwh.client.get("/v1/things", headers={"Authorization": f"Bearer {bad}"})
        assert resp.status_code == 401, bad[:40]
        assert 'error="invalid_token"' in resp.headers["www-authenticate"]
    assert gwh.upstream.calls == []


def jwk_pem(key: dict) -> bytes:
    from jose import jwk as jose_jwk

    return jose_jwk.construct(key, "RS256").to_pem()


async def test_a_hop_token_is_not_accepted_as_an_access_token(gwh):
    headers = await gwh.bearer("mash")
    hop = (await gwh.client.get("/v1/things", headers=headers)).json()["headers"]["authorization"]
    resp = await gwh.client.get("/v1/things", headers={"Authorization": hop})
    assert resp.status_code == 401


async def test_a_disabled_clients_tokens_stop_working(gateway_factory):
    gwh = await gateway_factory(client_status_cache_seconds=0.0)
    cid, secret, _ = await gwh.make_client("education")
    token = await gwh.token(cid, secret)
    assert (
        await gwh.client.get("/v1/things", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 200
    admin = await gwh.bearer("admin")
    assert (await gwh.client.post(f"/v1/admin/clients/{cid}/disable", headers=admin)).status_code == 200
    assert (
        await gwh.client.get("/v1/things", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 401
    again = await gwh.client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
    )
    assert again.status_code == 401


async def test_key_rotation_keeps_old_tokens_valid_until_retired(gwh):
    from gateway import keys as key_ops

    headers = await gwh.bearer("education")
    old_kid = jwt.get_unverified_header(headers["Authorization"][7:])["kid"]
    new_kid = await key_ops.rotate(gwh.gw.db)
    await gwh.gw.keys.load()
    published = {k["kid"] for k in (await gwh.client.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_kid} <= published
    fresh = await gwh.bearer("health")
    assert jwt.get_unverified_header(fresh["Authorization"][7:])["kid"] == new_kid
    assert (await gwh.client.get("/v1/things", headers=headers)).status_code == 200
    assert await key_ops.retire(gwh.gw.db, old_kid)
    await gwh.gw.keys.load()
    gwh.gw.auth._verified.clear()
    gwh.gw.auth.own_keys.load(gwh.gw.keys.jwks())
    assert (await gwh.client.get("/v1/things", headers=headers)).status_code == 401
    assert (await gwh.client.get("/v1/things", headers=fresh)).status_code == 200
