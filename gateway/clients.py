"""Agency clients: creation with hashed secrets, rotation, disabling, default scopes.

Secrets are shown once and stored as scrypt hashes. Used by the admin API and the CLI.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import Agency, Client
from shared.clock import utcnow
from shared.roles import AGENCY_TYPES, PARTNER_AGENCY_TYPES

# Registering an agency's own practitioners and teams (agency admins, and the council admin).
PRACTITIONERS_SCOPE = "practitioners:manage"

PARTNER_SCOPES = [
    "referrals:create",
    "referrals:read",
    "episodes:read",
    "episodes:write",
    "notifications:read",
    "webhooks:manage",
    PRACTITIONERS_SCOPE,
]
DEFAULT_SCOPES: dict[str, list[str]] = {
    "mash": [
        "referrals:create",
        "referrals:read",
        "triage:write",
        "people:read",
        "episodes:read",
        "consent:read",
        "consent:write",
        "sharing:write",
        "deadlines:read",
        "notifications:read",
        "reports:read",
        "webhooks:manage",
        PRACTITIONERS_SCOPE,
    ],
    "early_help": [
        "referrals:create",
        "referrals:read",
        "people:read",
        "episodes:read",
        "episodes:write",
        "consent:read",
        "consent:write",
        "sharing:write",
        "deadlines:read",
        "notifications:read",
        "reports:read",
        "webhooks:manage",
        PRACTITIONERS_SCOPE,
    ],
    "social_care": [
        "referrals:create",
        "referrals:read",
        "people:read",
        "episodes:read",
        "episodes:write",
        "consent:read",
        "deadlines:read",
        "notifications:read",
        PRACTITIONERS_SCOPE,
    ],
    **{t: list(PARTNER_SCOPES) for t in PARTNER_AGENCY_TYPES},
    # imports:write: the bulk import of the incumbent system's open cases (docs/import.md).
    "admin": ["admin", "reports:read", "deadlines:read", PRACTITIONERS_SCOPE, "imports:write"],
}
ALL_SCOPES = sorted({s for scopes in DEFAULT_SCOPES.values() for s in scopes})
# The services' own credentials may call anything a service needs of another.
DEFAULT_SCOPES["service"] = list(ALL_SCOPES)
# Agency types whose clients only an operator at the command line may create, never the admin
# API: `service` holds every scope and /internal/*; `admin` would let one leaked, short-lived
# admin token mint itself a permanent admin credential (docs/security.md).
CLI_ONLY_AGENCY_TYPES = frozenset({"service", "admin"})

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    b64 = base64.urlsafe_b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = base64.urlsafe_b64decode(digest)
        actual = hashlib.scrypt(
            secret.encode(),
            salt=base64.urlsafe_b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class ClientError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class CreatedClient:
    client: Client
    agency: Agency
    secret: str


async def get_or_create_agency(
    session: AsyncSession, *, agency_id: str | None, name: str | None, agency_type: str
) -> Agency:
    if agency_type not in AGENCY_TYPES:
        raise ClientError("agency_type", f"unknown agency type; one of {', '.join(AGENCY_TYPES)}")
    if agency_id:
        agency = await session.get(Agency, agency_id)
        if agency is not None:
            if agency.type != agency_type:
                raise ClientError("agency_type", "does not match the existing agency's type")
            return agency
    agency = Agency(
        id=agency_id or str(uuid.uuid4()),
        name=name or agency_type,
        type=agency_type,
        created_at=utcnow(),
    )
    session.add(agency)
    await session.flush()
    return agency


def check_scopes(agency_type: str, scopes: list[str]) -> None:
    """Scopes granted to a client never exceed what its agency type may have."""
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise ClientError("scopes", f"unknown scopes: {' '.join(unknown)}")
    beyond = sorted(set(scopes) - set(DEFAULT_SCOPES[agency_type]))
    if beyond:
        raise ClientError("scopes", f"not allowed for agency type {agency_type}: {' '.join(beyond)}")


def check_api_agency_type(agency_type: str) -> None:
    """The admin API creates agency clients only; privileged types come from the CLI."""
    if agency_type in CLI_ONLY_AGENCY_TYPES:
        raise ClientError(
            "agency_type",
            f"{agency_type} clients are created only with the command line (python -m gateway.cli clients create)",
        )


def granted_scopes(stored: list[str], agency_type: str) -> list[str]:
    """What a client may be given in a token: its stored scopes cut down to its agency type's,
    so a client stored before that rule was enforced cannot keep more."""
    allowed = set(DEFAULT_SCOPES.get(agency_type, ()))
    return [s for s in stored if s in allowed]


def token_scopes(stored: list[str], agency_type: str, requested: str | None) -> list[str] | None:
    """The scopes of a token a client asks for with `scope=` (all it may have when it names
    none); None when it asks for more than it may have (`invalid_scope`)."""
    allowed = granted_scopes(stored, agency_type)
    if requested is None or not requested.strip():
        return allowed
    scopes = requested.split()
    return scopes if set(scopes) <= set(allowed) else None


async def create_client(
    session: AsyncSession,
    *,
    client_id: str | None,
    name: str,
    agency_type: str,
    agency_id: str | None = None,
    agency_name: str | None = None,
    scopes: list[str] | None = None,
    secret: str | None = None,
    rate_limit_per_second: float | None = None,
) -> CreatedClient:
    if agency_type not in AGENCY_TYPES:
        raise ClientError("agency_type", f"unknown agency type; one of {', '.join(AGENCY_TYPES)}")
    chosen = list(dict.fromkeys(scopes)) if scopes is not None else list(DEFAULT_SCOPES[agency_type])
    check_scopes(agency_type, chosen)
    agency = await get_or_create_agency(
        session, agency_id=agency_id, name=agency_name or name, agency_type=agency_type
    )
    client_id = client_id or f"{agency_type.replace('_', '-')}-{uuid.uuid4().hex[:10]}"
    existing = await session.execute(select(Client.id).where(Client.client_id == client_id))
    if existing.first() is not None:
        raise ClientError("client_id", "already exists")
    secret = secret or new_secret()
    client = Client(
        id=str(uuid.uuid4()),
        client_id=client_id,
        name=name,
        agency_id=agency.id,
        secret_hash=hash_secret(secret),
        scopes=chosen,
        created_at=utcnow(),
        rate_limit_per_second=rate_limit_per_second,
    )
    session.add(client)
    await session.flush()
    return CreatedClient(client, agency, secret)


async def find_client(session: AsyncSession, id_or_client_id: str) -> Client | None:
    row = await session.execute(
        select(Client).where((Client.id == id_or_client_id) | (Client.client_id == id_or_client_id))
    )
    return row.scalars().first()


async def rotate_secret(session: AsyncSession, client: Client) -> str:
    secret = new_secret()
    client.secret_hash = hash_secret(secret)
    client.secret_rotated_at = utcnow()
    await session.flush()
    return secret


async def disable(session: AsyncSession, client: Client) -> None:
    if client.disabled_at is None:
        client.disabled_at = utcnow()
        await session.flush()
