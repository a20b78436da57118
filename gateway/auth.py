"""Who is calling the gateway, and the identity passed on to the services.

Incoming bearer tokens are either the gateway's own access tokens (RFC 9068, verified with
the gateway's keys, and refused once the client is disabled) or tokens from a trusted
council identity provider (verified against its JWKS, claims mapped to agency, scopes,
practitioner and roles). All verification goes through the hardened `shared.tokens.verify`.

A token acting for a practitioner (an RFC 8693 exchanged token, or any IdP token) is
checked against the practitioner registry on every call, through a status cache as short
as the client's: a disabled practitioner is refused within `client_status_cache_seconds`,
and roles taken away in the registry are taken away from tokens already issued.

For each proxied call the gateway mints a short-lived hop identity (audience
`internal_audience`) that the service verifies itself; it is cached per caller for most of
its lifetime, because signing costs far more than verifying.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from gateway.clients import DEFAULT_SCOPES
from gateway.config import Settings, TrustedIssuer
from gateway.keys import KeyStore
from gateway.models import Agency, Client, Practitioner
from gateway.practitioners import ensure_external, external_id
from shared.db import Database
from shared.identity import Identity, identity_claims, identity_from_claims
from shared.roles import ADMINISTRATIVE_SCOPES, allowed_roles, casework
from shared.tokens import KeySet, TokenInvalid, http_jwks_fetcher, unverified_issuer, verify

VERIFIED_CACHE_SIZE = 10_000


class ClientStatus:
    """Whether a client may still act, cached briefly so disabling takes effect in seconds."""

    def __init__(self, db: Database, ttl: float) -> None:
        self.db = db
        self.ttl = ttl
        self._cache: dict[str, tuple[float, bool, float | None]] = {}

    async def active(self, client_id: str) -> bool:
        now = time.monotonic()
        hit = self._cache.get(client_id)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        async with self.db.session(write=False) as session:
            row = (
                await session.execute(
                    select(Client.disabled_at, Client.rate_limit_per_second).where(
                        Client.client_id == client_id
                    )
                )
            ).first()
        ok = row is not None and row[0] is None
        self._cache[client_id] = (now, ok, row[1] if row is not None else None)
        return ok

    def rate(self, client_id: str) -> float | None:
        hit = self._cache.get(client_id)
        return hit[2] if hit else None

    def forget(self, client_id: str) -> None:
        self._cache.pop(client_id, None)


class PractitionerStatus:
    """A practitioner's agency, enabled status and current roles, cached like `ClientStatus`."""

    def __init__(self, db: Database, ttl: float) -> None:
        self.db = db
        self.ttl = ttl
        self._cache: dict[str, tuple[float, str | None, frozenset[str]]] = {}

    async def current(self, practitioner_id: str) -> tuple[str | None, frozenset[str]]:
        """(agency id, roles) of an enabled practitioner; (None, {}) if unknown or disabled."""
        now = time.monotonic()
        hit = self._cache.get(practitioner_id)
        if hit and now - hit[0] < self.ttl:
            return hit[1], hit[2]
        async with self.db.session(write=False) as session:
            row = (
                await session.execute(
                    select(Practitioner.agency_id, Practitioner.roles, Practitioner.disabled_at).where(
                        Practitioner.id == practitioner_id
                    )
                )
            ).first()
        if row is None or row[2] is not None:
            agency_id, roles = None, frozenset[str]()
        else:
            agency_id, roles = row[0], frozenset(row[1] or ())
        if len(self._cache) > VERIFIED_CACHE_SIZE:
            self._cache.clear()
        self._cache[practitioner_id] = (now, agency_id, roles)
        return agency_id, roles

    def forget(self, practitioner_id: str) -> None:
        self._cache.pop(practitioner_id, None)


class Authenticator:
    def __init__(self, settings: Settings, db: Database, keys: KeyStore) -> None:
        self.settings = settings
        self.own_keys = KeySet(keys.fetch_jwks, refetch_interval=5.0)
        self.own_keys.load(keys.jwks())
        self.external: dict[str, tuple[TrustedIssuer, KeySet]] = {
            t.issuer: (t, KeySet(http_jwks_fetcher(t.jwks_url))) for t in settings.trusted_issuers
        }
        self.db = db
        self.status = ClientStatus(db, settings.client_status_cache_seconds)
        self.practitioners = PractitionerStatus(db, settings.client_status_cache_seconds)
        self._verified: OrderedDict[str, tuple[float, Identity]] = OrderedDict()

    async def identify(self, token: str) -> Identity:
        """Verify a bearer token; raises TokenInvalid. Verified tokens are remembered until expiry."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        hit = self._verified.get(digest)
        now = time.time()
        if hit and hit[0] > now:
            identity = hit[1]
        else:
            identity, exp = await self._verify(token)
            self._verified[digest] = (exp, identity)
            if len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        if identity.via_gateway and not await self.status.active(identity.client_id):
            raise TokenInvalid("client disabled")
        if identity.practitioner_id is not None:
            # After the verified-token cache, on every call: a disabled practitioner's token
            # stops working as quickly as a disabled client's.
            agency_id, roles = await self.practitioners.current(identity.practitioner_id)
            if agency_id is None or agency_id != identity.agency_id:
                raise TokenInvalid("practitioner disabled")
            if not identity.roles <= roles:
                identity = replace(identity, roles=identity.roles & roles)
            if not casework(identity.roles):
                # Deny by default: a practitioner who only administers reaches no child's record,
                # whatever scopes the agency's client holds.
                identity = replace(identity, scopes=identity.scopes & ADMINISTRATIVE_SCOPES)
        return identity

    async def _verify(self, token: str) -> tuple[Identity, float]:
        issuer = unverified_issuer(token)
        if issuer == self.settings.gateway_issuer:
            claims = await verify(
                token, keys=self.own_keys, issuer=issuer, audience=self.settings.api_audience
            )
            # via_gateway=True marks an own client, whose status is checked on every call.
            return identity_from_claims(claims, via_gateway=True), float(claims["exp"])
        if issuer in self.external:
            trusted, keyset = self.external[issuer]
            claims = await verify(
                token,
                keys=keyset,
                issuer=issuer,
                audience=trusted.audience,
                require_typ=trusted.require_at_jwt_typ,
            )
            identity = map_external(trusted, claims)
            name = claims.get(trusted.name_claim)
            try:
                await ensure_external(
                    self.db,
                    issuer=trusted.issuer,
                    subject=identity.sub,
                    agency_id=identity.agency_id,
                    agency_type=identity.agency_type,
                    name=name[:200] if isinstance(name, str) and name.strip() else identity.sub[:200],
                    roles=sorted(identity.roles),
                )
            except ValueError as exc:
                raise TokenInvalid(str(exc)) from exc
            # The roles may just have changed with this token: read them afresh.
            self.practitioners.forget(identity.practitioner_id or "")
            return identity, float(claims["exp"])
        raise TokenInvalid("unknown issuer")


def map_external(trusted: TrustedIssuer, claims: dict[str, Any]) -> Identity:
    agency_id = trusted.agency_id or claims.get(trusted.agency_id_claim)
    agency_type = trusted.agency_type or claims.get(trusted.agency_type_claim)
    if not isinstance(agency_id, str) or not agency_id or len(agency_id) > 36:
        raise TokenInvalid("external token has no agency")
    if agency_type not in DEFAULT_SCOPES or agency_type in ("service", "admin"):
        raise TokenInvalid("external token has no acceptable agency type")
    raw = claims.get(trusted.scope_claim, [])
    values = raw.split() if isinstance(raw, str) else [str(v) for v in raw] if isinstance(raw, list) else []
    if trusted.scope_map:
        granted = {s for v in values for s in trusted.scope_map.get(v, [])}
    else:
        granted = set(values)
    granted &= set(DEFAULT_SCOPES[agency_type])
    sub = str(claims["sub"])
    if not sub or len(sub) > 300:
        raise TokenInvalid("external token has no usable subject")
    raw_roles = claims.get(trusted.roles_claim, [])
    role_values = (
        raw_roles.split()
        if isinstance(raw_roles, str)
        else [str(v) for v in raw_roles]
        if isinstance(raw_roles, list)
        else []
    )
    if trusted.role_map:
        mapped = {r for v in role_values for r in trusted.role_map.get(v, [])}
    else:
        mapped = set(role_values)
    return Identity(
        sub=sub,
        client_id=f"{trusted.issuer}#{sub}",
        agency_id=agency_id,
        agency_type=agency_type,
        scopes=frozenset(granted),
        via_gateway=False,  # not one of our clients: there is no client row to check
        # Every IdP token acts for a person: a stable practitioner id per (issuer, subject).
        practitioner_id=external_id(trusted.issuer, sub),
        roles=allowed_roles(agency_type, mapped),
    )


class HopTokens:
    """Short-lived identities for one hop from the gateway to a service, cached per caller."""

    def __init__(self, settings: Settings, keys: KeyStore) -> None:
        self.settings = settings
        self.keys = keys
        self._cache: dict[
            tuple[str, str, str, frozenset[str], str | None, str | None, frozenset[str]], tuple[float, str]
        ] = {}

    def for_identity(self, identity: Identity) -> str:
        key = (
            identity.client_id,
            identity.agency_id,
            identity.agency_type,
            identity.scopes,
            identity.practitioner_id,
            identity.team_id,
            identity.roles,
        )
        now = time.time()
        hit = self._cache.get(key)
        if hit and hit[0] - now > self.settings.hop_token_ttl_seconds / 2:
            return hit[1]
        exp = int(now) + self.settings.hop_token_ttl_seconds
        token = self.keys.sign(
            {
                "iss": self.settings.gateway_issuer,
                "sub": identity.sub,
                "aud": self.settings.internal_audience,
                "client_id": identity.client_id,
                "agency_id": identity.agency_id,
                "agency_type": identity.agency_type,
                "scope": " ".join(sorted(identity.scopes)),
                "iat": int(now),
                "exp": exp,
                "jti": str(uuid.uuid4()),
                **identity_claims(identity),
            }
        )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (exp, token)
        return token


def _claims(
    settings: Settings, client: Client, agency: Agency, scopes: list[str], *, sub: str, ttl: int
) -> dict[str, Any]:
    """The claims every access token carries (RFC 9068), for `ttl` seconds from now."""
    now = int(time.time())
    return {
        "iss": settings.gateway_issuer,
        "sub": sub,
        "aud": settings.api_audience,
        "client_id": client.client_id,
        "iat": now,
        "exp": now + ttl,
        "jti": str(uuid.uuid4()),
        "scope": " ".join(scopes),
        "agency_id": agency.id,
        "agency_type": agency.type,
    }


def issue_access_token(
    settings: Settings, keys: KeyStore, client: Client, agency: Agency, scopes: list[str]
) -> tuple[str, int]:
    ttl = settings.access_token_ttl_seconds
    return keys.sign(_claims(settings, client, agency, scopes, sub=client.client_id, ttl=ttl)), ttl


def issue_practitioner_token(
    settings: Settings,
    keys: KeyStore,
    client: Client,
    agency: Agency,
    practitioner: Practitioner,
    scopes: list[str],
) -> tuple[str, int]:
    """An RFC 8693 exchanged token: `sub` the practitioner, `act` the client acting for them."""
    ttl = settings.practitioner_token_ttl_seconds
    claims = _claims(settings, client, agency, scopes, sub=practitioner.id, ttl=ttl)
    claims["act"] = {"sub": client.client_id}
    claims["practitioner_id"] = practitioner.id
    claims["roles"] = " ".join(sorted(allowed_roles(agency.type, practitioner.roles or [])))
    if practitioner.team_id:
        claims["team_id"] = practitioner.team_id
    return keys.sign(claims), ttl
