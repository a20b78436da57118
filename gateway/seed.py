"""Seeding clients: the services' own credentials, and (dev only) the demo agencies of api.md,
with one team per demo agency and the demo practitioners (`DEMO_PRACTITIONERS`)."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import clients as client_ops
from gateway.models import Client, Practitioner, Team
from shared.clock import utcnow
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


def demo_agency_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


# The demo agencies by client id (agency ids are fixed, as in seed_demo below).
DEMO_AGENCY_IDS = {
    **{"demo-" + t.replace("_", "-"): demo_agency_id(i + 1) for i, t in enumerate(DEMO_AGENCY_TYPES)},
    "demo-education-2": demo_agency_id(10),
    "demo-admin": demo_agency_id(11),
}


def demo_team_id(client_id: str) -> str:
    """One team per demo agency, numbered like its agency."""
    return "00000000-0000-4000-a000-" + DEMO_AGENCY_IDS[client_id][-12:]


class DemoPractitioner(NamedTuple):
    id: str
    client_id: str  # the demo client of the practitioner's agency
    name: str
    email: str
    roles: tuple[str, ...]


def _pid(n: int) -> str:
    return f"00000000-0000-4000-9000-{n:012d}"


# Fixed ids and emails (the reserved .example domain) for tests and the README walkthrough.
DEMO_PRACTITIONERS = (
    DemoPractitioner(
        _pid(1), "demo-mash", "Sam Screener", "sam.screener@mash.demo.example", ("mash_screener",)
    ),
    DemoPractitioner(
        _pid(2), "demo-mash", "Maya Manager", "maya.manager@mash.demo.example", ("mash_manager",)
    ),
    DemoPractitioner(
        _pid(3),
        "demo-early-help",
        "Ellie Practitioner",
        "ellie.practitioner@early-help.demo.example",
        ("early_help_practitioner",),
    ),
    DemoPractitioner(
        _pid(4),
        "demo-early-help",
        "Eddie Manager",
        "eddie.manager@early-help.demo.example",
        ("early_help_manager",),
    ),
    DemoPractitioner(
        _pid(5),
        "demo-early-help",
        "Erin Manager",
        "erin.manager@early-help.demo.example",
        ("early_help_manager",),
    ),
    DemoPractitioner(
        _pid(6),
        "demo-education",
        "Tom Teacher",
        "tom.teacher@education.demo.example",
        ("agency_practitioner",),
    ),
    DemoPractitioner(
        _pid(7),
        "demo-education-2",
        "Tina Teacher",
        "tina.teacher@education-2.demo.example",
        ("agency_practitioner",),
    ),
    DemoPractitioner(
        _pid(8), "demo-police", "Pat Officer", "pat.officer@police.demo.example", ("agency_practitioner",)
    ),
    DemoPractitioner(
        _pid(9),
        "demo-health",
        "Hana Health Visitor",
        "hana.health-visitor@health.demo.example",
        ("agency_practitioner",),
    ),
    DemoPractitioner(
        _pid(10),
        "demo-social-care",
        "Sol Social Worker",
        "sol.social-worker@social-care.demo.example",
        ("agency_practitioner",),
    ),
    DemoPractitioner(
        _pid(11),
        "demo-housing",
        "Hal Housing Officer",
        "hal.housing@housing.demo.example",
        ("agency_practitioner",),
    ),
    DemoPractitioner(
        _pid(12),
        "demo-voluntary",
        "Val Volunteer",
        "val.volunteer@voluntary.demo.example",
        ("agency_practitioner",),
    ),
    DemoPractitioner(
        _pid(13),
        "demo-youth-justice",
        "Yusuf Youth Worker",
        "yusuf.youth-worker@youth-justice.demo.example",
        ("agency_practitioner",),
    ),
    DemoPractitioner(
        _pid(14), "demo-early-help", "Ada Admin", "ada.admin@early-help.demo.example", ("agency_admin",)
    ),
    DemoPractitioner(
        _pid(15), "demo-admin", "Cara Council", "cara.council@admin.demo.example", ("council_admin",)
    ),
)


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
            agency_id=DEMO_AGENCY_IDS[cid],
            secret=dev_secret(cid),
        ):
            made.append(cid)
    extra = [
        ("demo-education-2", "Hillside Academy", "education", DEMO_AGENCY_IDS["demo-education-2"]),
        ("demo-admin", "Anyshire Council IT", "admin", DEMO_AGENCY_IDS["demo-admin"]),
    ]
    for cid, name, t, aid in extra:
        if await _ensure(db, client_id=cid, name=name, agency_type=t, agency_id=aid, secret=dev_secret(cid)):
            made.append(cid)
    made += await seed_service_clients(db, {f"svc-{n}": dev_secret(f"svc-{n}") for n in SERVICE_NAMES})
    # The demo people are seeded alongside; `made` stays the clients made (as before).
    await seed_demo_practitioners(db)
    return made


async def seed_demo_practitioners(db: Database) -> list[str]:
    """One team per demo agency and `DEMO_PRACTITIONERS`, unless they exist; the ids made.

    Idempotent like the clients: rows with fixed ids, and a replica losing the race to insert
    them rolls back and finds them made."""
    made: list[str] = []
    now = utcnow()
    try:
        async with db.session() as session:
            for cid, agency_id in DEMO_AGENCY_IDS.items():
                if await session.get(Team, demo_team_id(cid)) is None:
                    session.add(
                        Team(id=demo_team_id(cid), agency_id=agency_id, name="Demo team", created_at=now)
                    )
                    made.append(demo_team_id(cid))
            await session.flush()
            for p in DEMO_PRACTITIONERS:
                if await session.get(Practitioner, p.id) is None:
                    session.add(
                        Practitioner(
                            id=p.id,
                            agency_id=DEMO_AGENCY_IDS[p.client_id],
                            name=p.name,
                            email=p.email,
                            roles=sorted(p.roles),
                            team_id=demo_team_id(p.client_id),
                            created_at=now,
                        )
                    )
                    made.append(p.id)
    except IntegrityError:
        async with db.session(write=False) as session:
            if await session.get(Practitioner, DEMO_PRACTITIONERS[-1].id) is None:
                raise  # not the race: nobody made them
        return []
    return made
