"""Who is calling a service, verified by the service itself.

A service trusts exactly two kinds of bearer token, both signed with the gateway's keys
(fetched from its JWKS and selected by `kid`):
- the short-lived hop identity the gateway mints for each proxied call (audience
  `internal_audience`), carrying the caller's client, agency and scopes; and
- an access token the gateway issued to a *service* client (agency type `service`), which is
  how services call each other.
An ordinary client's access token sent straight to a service port is refused: clients only
ever go through the gateway, where rate limits and the audit apply.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from shared.problems import Forbidden, Unauthorized
from shared.roles import ALL_SEEING_AGENCY_TYPES as ALL_SEEING_AGENCY_TYPES
from shared.roles import SYSTEM_ROLES, allowed_roles, casework
from shared.tokens import KeySet, TokenInvalid, verify

SERVICE_AGENCY_TYPE = "service"
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Identity:
    sub: str
    client_id: str
    agency_id: str
    agency_type: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    via_gateway: bool = True
    # The practitioner the call acts for; None for a system call (an agency system acting
    # without naming a person), which acts with its agency type's SYSTEM_ROLES.
    practitioner_id: str | None = None
    team_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_system(self) -> bool:
        return self.practitioner_id is None

    @property
    def actor(self) -> str:
        """Who did it, for records: the practitioner, or the client system."""
        return self.practitioner_id or f"system:{self.client_id}"

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    @property
    def is_service(self) -> bool:
        return self.agency_type == SERVICE_AGENCY_TYPE

    @property
    def sees_all(self) -> bool:
        # An agency admin of the MASH or early help administers people; it does not see cases.
        return self.is_service or (
            self.agency_type in ALL_SEEING_AGENCY_TYPES and (self.is_system or casework(self.roles))
        )

    def has(self, scope: str) -> bool:
        return scope in self.scopes


def identity_from_claims(claims: dict[str, Any], *, via_gateway: bool) -> Identity:
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise TokenInvalid("scope claim must be a string")
    agency_id = claims.get("agency_id")
    agency_type = claims.get("agency_type")
    if not isinstance(agency_id, str) or not isinstance(agency_type, str):
        raise TokenInvalid("token has no agency")
    practitioner_id = claims.get("practitioner_id")
    team_id = claims.get("team_id")
    if practitioner_id is not None and (not isinstance(practitioner_id, str) or not practitioner_id):
        raise TokenInvalid("practitioner_id claim must be a non-empty string")
    if team_id is not None and not isinstance(team_id, str):
        raise TokenInvalid("team_id claim must be a string")
    if practitioner_id is None:
        roles = SYSTEM_ROLES.get(agency_type, frozenset())
    else:
        raw_roles = claims.get("roles", "")
        if not isinstance(raw_roles, str):
            raise TokenInvalid("roles claim must be a string")
        # A role the agency type may not hold is dropped, whatever signed the token.
        roles = allowed_roles(agency_type, raw_roles.split())
    return Identity(
        sub=str(claims["sub"]),
        client_id=str(claims.get("client_id") or claims["sub"]),
        agency_id=agency_id,
        agency_type=agency_type,
        scopes=frozenset(scope.split()),
        via_gateway=via_gateway,
        practitioner_id=practitioner_id,
        team_id=team_id or None,
        roles=roles,
    )


def identity_claims(identity: Identity) -> dict[str, Any]:
    """The practitioner claims of a token minted for `identity` (none for a system call)."""
    if identity.practitioner_id is None:
        return {}
    claims: dict[str, Any] = {
        "practitioner_id": identity.practitioner_id,
        "roles": " ".join(sorted(identity.roles)),
    }
    if identity.team_id:
        claims["team_id"] = identity.team_id
    return claims


class ServiceAuth:
    """Verifies the bearer token on a request that reached a service."""

    def __init__(self, *, keys: KeySet, issuer: str, internal_audience: str, api_audience: str) -> None:
        self.keys = keys
        self.issuer = issuer
        self.internal_audience = internal_audience
        self.api_audience = api_audience
        # The gateway reuses a hop identity for a minute or so: remember verified tokens
        # until they expire rather than check the same signature on every call.
        self._verified: OrderedDict[str, tuple[float, Identity]] = OrderedDict()

    async def identify(self, authorization: str | None) -> Identity:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("A bearer token minted by the gateway is required", credentials=False)
        token = authorization[7:].strip()
        hit = self._verified.get(token)
        if hit is not None and hit[0] > time.time():
            return hit[1]
        identity, exp = await self._verify(token)
        self._verified[token] = (exp, identity)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return identity

    async def _verify(self, token: str) -> tuple[Identity, float]:
        try:
            claims = await verify(
                token,
                keys=self.keys,
                issuer=self.issuer,
                audience=[self.internal_audience, self.api_audience],
            )
            aud = claims.get("aud")
            auds = aud if isinstance(aud, list) else [aud]
            via_gateway = self.internal_audience in auds
            identity = identity_from_claims(claims, via_gateway=via_gateway)
        except TokenInvalid as exc:
            raise Unauthorized(str(exc)) from exc
        if not via_gateway and not identity.is_service:
            raise Unauthorized("Clients must call through the gateway")
        return identity, float(claims["exp"])


async def current_identity(request: Request) -> Identity:
    cached = getattr(request.state, "identity", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    auth: ServiceAuth = request.app.state.auth
    identity = await auth.identify(request.headers.get("authorization"))
    request.state.identity = identity
    return identity


CurrentIdentity = Annotated[Identity, Depends(current_identity)]


def require_scope(scope: str) -> Callable[..., Coroutine[Any, Any, Identity]]:
    async def dependency(identity: CurrentIdentity) -> Identity:
        if not identity.has(scope):
            raise Forbidden(scope)
        return identity

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


async def require_service(identity: CurrentIdentity) -> Identity:
    if not identity.is_service:
        raise Forbidden("service")
    return identity


ServiceIdentity = Annotated[Identity, Depends(require_service)]
