"""Seeding clients: the services' own credentials, and (dev only) the demo agencies of api.md."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import clients as client_ops
from gateway.models import Client
from shared.db import Database

DEMO_AGENCY_TYPES = (
    "mash",
    "early_help",
    "social_care",
    "education",
    "health",
    "police",
    "housing",
    "voluntary",
    "youth_justice",
)
SERVICE_NAMES = ("referrals", "assessments", "consent", "notifications")
DEMO_AGENCY_NAMES = {
    "mash": "Anyshire MASH",
    "early_help": "Anyshire Early Help Service",
    "social_care": "Anyshire Children's Social Care",
    "education": "Oakfield Primary School",
    "health": "Riverside GP Practice",
    "police": "Anyshire Police",
    "housing": "Anyshire Homes",
    "voluntary": "Family Action Anyshire",
    "youth_justice": "Anyshire Youth Justice Service",
}


def demo_client_id(agency_type: str) -> str:
    return "demo-" + agency_type.replace("_", "-")


def dev_secret(client_id: str) -> str:
    return f"{client_id}-secret"


async def _client_exists(session: AsyncSession, client_id: str) -> bool:
    return (await session.execute(select(Client.id).where(Client.client_id == client_id))).first() is not None


async def _ensure(
    db: Database, *, client_id: str, name: str, agency_type: str, agency_id: str, secret: str
) -> bool:
    """Create the client (and its agency) unless it exists; True if this call made it.

    Replicas of the gateway starting together seed at the same moment: the one that loses
    the race on a unique key (the agency's fixed id, or the client id) finds the client
    made by the other, rolls back and carries on instead of failing its start-up."""
    try:
        async with db.session() as session:
            if await _client_exists(session, client_id):
                return False
            await client_ops.create_client(
                session,
                client_id=client_id,
                name=name,
                agency_type=agency_type,
                agency_id=agency_id,
                agency_name=name,
                secret=secret,
            )
    except IntegrityError:
        async with db.session(write=False) as session:
            if not await _client_exists(session, client_id):
                raise  # not the race: nobody made the client
        return False
    except client_ops.ClientError as exc:
        if exc.field != "client_id":  # "already exists": made by the other replica meanwhile
            raise
        return False
    return True


async def seed_service_clients(db: Database, secrets: dict[str, str]) -> list[str]:
    """Create `svc-<name>` clients (agency type `service`) with the given secrets."""
    made = []
    for name in SERVICE_NAMES:
        cid = f"svc-{name}"
        if cid in secrets and await _ensure(
            db,
            client_id=cid,
            name=f"{name} service",
            agency_type="service",
            agency_id=f"service-{name}",
            secret=secrets[cid],
        ):
            made.append(cid)
    return made


async def seed_demo(db: Database, environment: str) -> list[str]:
    if environment != "dev":
        raise RuntimeError("demo clients exist only in the dev environment")
    made = []
    for t in DEMO_AGENCY_TYPES:
        cid = demo_client_id(t)
        if await _ensure(
            db,
            client_id=cid,
            name=DEMO_AGENCY_NAMES[t],
            agency_type=t,
            agency_id=f"00000000-0000-4000-8000-{DEMO_AGENCY_TYPES.index(t) + 1:012d}",
            secret=dev_secret(cid),
        ):
            made.append(cid)
    extra = [
        ("demo-education-2", "Hillside Academy", "education", "00000000-0000-4000-8000-000000000010"),
        ("demo-admin", "Anyshire Council IT", "admin", "00000000-0000-4000-8000-000000000011"),
    ]
    for cid, name, t, aid in extra:
        if await _ensure(db, client_id=cid, name=name, agency_type=t, agency_id=aid, secret=dev_secret(cid)):
            made.append(cid)
    made += await seed_service_clients(db, {f"svc-{n}": dev_secret(f"svc-{n}") for n in SERVICE_NAMES})
    return made
