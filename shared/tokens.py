"""python-jose, hardened in one place. Every token in the system is verified here.

python-jose will happily verify with whatever algorithm the header names and treats most
claims as optional. Here instead:
- the algorithm is pinned (RS256) and checked against the header before anything else;
- `alg: none`, HMAC algorithms (the public-key-as-HMAC-secret trick) and JWE (five parts)
  are refused outright;
- the key is chosen by `kid` from a cached JWKS; an unknown `kid` triggers at most one
  refetch per `refetch_interval` (so a stream of junk kids cannot hammer the key server);
- `exp iat aud iss sub jti` are required, with a small leeway, and `typ` must be `at+jwt`;
- every failure, whatever the library raises, becomes `TokenInvalid` (a 401), never a 500.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from jose import jwt
from jose.exceptions import JOSEError

ALLOWED_ALGORITHMS = ("RS256",)
ACCESS_TOKEN_TYP = {"at+jwt", "application/at+jwt"}
REQUIRED_CLAIMS = ("exp", "iat", "aud", "iss", "sub", "jti")
LEEWAY_SECONDS = 30


class TokenInvalid(Exception):
    """The token cannot be trusted. The message is safe to log, never the token."""


JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]


def http_jwks_fetcher(url: str, timeout: float = 5.0) -> JwksFetcher:
    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=timeout) as client:
            resp = await client.get(url)
            resp.raise_for_status()
            data = resp.json()
            if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
                raise TokenInvalid("JWKS document has no keys")
            return data

    return fetch


class KeySet:
    """Public keys by `kid`, fetched lazily and refreshed on an unknown `kid` (rate-limited)."""

    def __init__(self, fetcher: JwksFetcher, *, refetch_interval: float = 30.0) -> None:
        self._fetcher = fetcher
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._refetch_interval = refetch_interval
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    def load(self, jwks: dict[str, Any]) -> None:
        keys = {}
        for k in jwks.get("keys", []):
            if isinstance(k, dict) and k.get("kid") and k.get("kty") == "RSA":
                keys[str(k["kid"])] = k
        self._keys = keys

    async def _refresh(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._fetched_at is not None and now - self._fetched_at < self._refetch_interval:
                return
            self._fetched_at = now
            self.fetch_count += 1
            try:
                self.load(await self._fetcher())
            except TokenInvalid:
                raise
            except Exception as exc:  # key server down: keep what we had
                if not self._keys:
                    raise TokenInvalid("signing keys unavailable") from exc

    async def get(self, kid: str) -> dict[str, Any]:
        key = self._keys.get(kid)
        if key is None:
            await self._refresh()
            key = self._keys.get(kid)
        if key is None:
            raise TokenInvalid("unknown key id")
        return key


def unverified_header(token: str) -> dict[str, Any]:
    if not isinstance(token, str) or token.count(".") != 2:
        # Five parts is a JWE; anything else is not a compact JWS.
        raise TokenInvalid("not a signed JWT")
    try:
        header = jwt.get_unverified_header(token)
    except Exception as exc:
        raise TokenInvalid("malformed token header") from exc
    if not isinstance(header, dict):
        raise TokenInvalid("malformed token header")
    return header


def unverified_issuer(token: str) -> str | None:
    try:
        claims = jwt.get_unverified_claims(token)
    except Exception:
        return None
    iss = claims.get("iss") if isinstance(claims, dict) else None
    return iss if isinstance(iss, str) else None


async def verify(
    token: str,
    *,
    keys: KeySet,
    issuer: str,
    audience: str | list[str],
    require_typ: bool = True,
) -> dict[str, Any]:
    header = unverified_header(token)
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise TokenInvalid("algorithm not allowed")
    if require_typ and str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYP:
        raise TokenInvalid("wrong token type")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenInvalid("token has no key id")
    key = await keys.get(kid)
    audiences = [audience] if isinstance(audience, str) else list(audience)
    last_error: Exception | None = None
    for aud in audiences:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=aud,
                issuer=issuer,
                options={
                    "verify_signature": True,
                    "verify_aud": True,
                    "verify_iat": True,
                    "verify_exp": True,
                    "verify_nbf": True,
                    "verify_iss": True,
                    "verify_sub": True,
                    "verify_jti": True,
                    "verify_at_hash": False,
                    **{f"require_{c}": True for c in REQUIRED_CLAIMS},
                    "leeway": LEEWAY_SECONDS,
                },
            )
        except JOSEError as exc:
            last_error = exc
            continue
        except Exception as exc:  # any library surprise is still just an invalid token
            raise TokenInvalid("token could not be verified") from exc
        if not isinstance(claims, dict):
            raise TokenInvalid("token could not be verified")
        if float(claims["iat"]) > time.time() + LEEWAY_SECONDS:
            raise TokenInvalid("token issued in the future")
        return claims
    raise TokenInvalid(_reason(last_error)) from last_error


def _reason(exc: Exception | None) -> str:
    name = type(exc).__name__ if exc else "JWTError"
    return {
        "ExpiredSignatureError": "token expired",
        "JWTClaimsError": "token claims rejected",
    }.get(name, "token signature or format invalid")
