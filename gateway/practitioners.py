"""The practitioner registry: who may act through an agency's system, in which team, with which roles.

Rules live here (the API in `gateway/practitioners_api.py` is thin):
- who manages an agency's practitioners and teams: the agency's own system (a system call),
  a practitioner of that agency holding `agency_admin`, or the council admin (any agency);
  service credentials never;
- roles are those `shared.roles.ALLOWED_ROLES` gives the agency's type, and only the council
  admin grants `council_admin`;
- a practitioner's team belongs to the practitioner's agency; an email is registered once per
  agency (stored lower-case);
- practitioners signed in by a council identity provider are registered on first sight with
  a stable id per (issuer, subject); their roles come from the provider's tokens.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clients import PRACTITIONERS_SCOPE
from gateway.models import Agency, Practitioner, Team
from shared.clock import utcnow
from shared.db import Database
from shared.identity import Identity
from shared.problems import Conflict, Forbidden, Problem, ValidationProblem
from shared.roles import ADMIN, AGENCY_ADMIN, ALLOWED_ROLES, COUNCIL_ADMIN, ROLES, SERVICE

EXTERNAL_NAMESPACE = uuid.UUID("6f1c2b1e-3d8a-5a57-9d57-4f0c5e0b7e11")


class NotAgencyAdmin(Problem):
    status, type_slug, title = 403, "not-agency-admin", "Not an agency admin"


class EmailTaken(Conflict):
    type_slug, title = "email-taken", "Email already registered"

    def __init__(self) -> None:
        super().__init__(
            "A practitioner with this email is already registered in this agency",
            errors=[{"field": "email", "loc": ["email"], "message": "already registered in this agency"}],
        )


@dataclass(frozen=True)
class Manager:
    """A caller allowed to manage practitioners and teams: of its own agency, or any (council)."""

    identity: Identity
    council: bool

    def may_see(self, agency_id: str) -> bool:
        return self.council or agency_id == self.identity.agency_id

    def agency_for(self, requested: str | None) -> str:
        """The agency a create or list acts on; only the council admin names another one."""
        if requested is None or requested == self.identity.agency_id:
            return self.identity.agency_id
        if not self.council:
            raise NotAgencyAdmin("Only the council admin manages another agency's practitioners and teams")
        return requested


def manager(identity: Identity) -> Manager:
    """Who may manage the registry; raises 403 for everyone else."""
    if not identity.has(PRACTITIONERS_SCOPE):
        raise Forbidden(PRACTITIONERS_SCOPE)
    if identity.agency_type == SERVICE:
        raise NotAgencyAdmin("Service credentials do not manage practitioners")
    if identity.agency_type == ADMIN and identity.has_role(COUNCIL_ADMIN):
        return Manager(identity, council=True)
    if identity.is_system or identity.has_role(AGENCY_ADMIN):
        return Manager(identity, council=False)
    raise NotAgencyAdmin(f"This call needs the role '{AGENCY_ADMIN}'")


def check_roles(agency_type: str, roles: list[str], *, by: Manager) -> list[str]:
    chosen = sorted(set(roles))
    unknown = [r for r in chosen if r not in ROLES]
    if unknown:
        raise ValidationProblem("roles", f"unknown roles: {' '.join(unknown)}; one of {', '.join(ROLES)}")
    allowed = ALLOWED_ROLES.get(agency_type, frozenset())
    outside = [r for r in chosen if r not in allowed]
    if outside:
        raise ValidationProblem(
            "roles",
            f"a practitioner of a {agency_type} agency may hold only {', '.join(sorted(allowed)) or 'no roles'}",
        )
    if COUNCIL_ADMIN in chosen and not by.council:
        raise NotAgencyAdmin(f"Only the council admin grants '{COUNCIL_ADMIN}'")
    return chosen


async def agency_or_422(session: AsyncSession, agency_id: str) -> Agency:
    agency = await session.get(Agency, agency_id)
    if agency is None:
        raise ValidationProblem("agency_id", "no such agency")
    if agency.type == SERVICE:
        raise ValidationProblem("agency_id", "service agencies have no practitioners")
    return agency


async def check_team(session: AsyncSession, agency_id: str, team_id: str | None) -> str | None:
    if team_id is None:
        return None
    team = await session.get(Team, team_id)
    if team is None or team.agency_id != agency_id:
        # The same answer whether the team exists elsewhere or not at all.
        raise ValidationProblem("team_id", "no such team in the practitioner's agency")
    return team_id


async def _email_free(session: AsyncSession, agency_id: str, email: str, *, other_than: str | None) -> None:
    stmt = select(Practitioner.id).where(Practitioner.agency_id == agency_id, Practitioner.email == email)
    if other_than is not None:
        stmt = stmt.where(Practitioner.id != other_than)
    if (await session.execute(stmt)).first() is not None:
        raise EmailTaken()


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def create_team(
    session: AsyncSession, *, agency_id: str, name: str, team_id: str | None = None
) -> Team:
    team = Team(id=team_id or str(uuid.uuid4()), agency_id=agency_id, name=name, created_at=utcnow())
    session.add(team)
    await session.flush()
    return team


async def create_practitioner(
    session: AsyncSession,
    *,
    agency: Agency,
    name: str,
    email: str,
    roles: list[str],
    team_id: str | None,
    by: Manager,
    practitioner_id: str | None = None,
) -> Practitioner:
    chosen = check_roles(agency.type, roles, by=by)
    team_id = await check_team(session, agency.id, team_id)
    email = normalise_email(email)
    await _email_free(session, agency.id, email, other_than=None)
    practitioner = Practitioner(
        id=practitioner_id or str(uuid.uuid4()),
        agency_id=agency.id,
        name=name,
        email=email,
        roles=chosen,
        team_id=team_id,
        created_at=utcnow(),
    )
    session.add(practitioner)
    await session.flush()
    return practitioner


async def update_practitioner(
    session: AsyncSession, practitioner: Practitioner, changes: dict[str, Any], *, by: Manager
) -> Practitioner:
    agency = await session.get(Agency, practitioner.agency_id)
    agency_type = agency.type if agency is not None else ""
    if "name" in changes:
        if changes["name"] is None:
            raise ValidationProblem("name", "may not be null")
        practitioner.name = changes["name"]
    if "email" in changes:
        if changes["email"] is None:
            raise ValidationProblem("email", "may not be null")
        email = normalise_email(changes["email"])
        await _email_free(session, practitioner.agency_id, email, other_than=practitioner.id)
        practitioner.email = email
    if "roles" in changes:
        if changes["roles"] is None:
            raise ValidationProblem("roles", "may not be null")
        if practitioner.external_issuer is not None:
            raise ValidationProblem(
                "roles",
                "this practitioner signs in through the council identity provider, which sets the roles",
            )
        practitioner.roles = check_roles(agency_type, changes["roles"], by=by)
    if "team_id" in changes:
        practitioner.team_id = await check_team(session, practitioner.agency_id, changes["team_id"])
    await session.flush()
    return practitioner


async def set_disabled(session: AsyncSession, practitioner: Practitioner, disabled: bool) -> None:
    if disabled and practitioner.disabled_at is None:
        practitioner.disabled_at = utcnow()
    elif not disabled:
        practitioner.disabled_at = None
    await session.flush()


async def find_active(session: AsyncSession, agency_id: str, subject: str) -> Practitioner | None:
    """An enabled practitioner of `agency_id`, named by id or by registered email."""
    subject = subject.strip()
    if not subject or len(subject) > 320:
        return None
    if "@" in subject:
        cond = Practitioner.email == normalise_email(subject)
    else:
        cond = Practitioner.id == subject
    row = (
        await session.execute(
            select(Practitioner).where(
                cond, Practitioner.agency_id == agency_id, Practitioner.disabled_at.is_(None)
            )
        )
    ).scalar_one_or_none()
    return row


def external_id(issuer: str, subject: str) -> str:
    return str(uuid.uuid5(EXTERNAL_NAMESPACE, f"{issuer}#{subject}"))


async def ensure_external(
    db: Database,
    *,
    issuer: str,
    subject: str,
    agency_id: str,
    agency_type: str,
    name: str,
    roles: list[str],
) -> str:
    """Register (or refresh) a practitioner signed in by a council IdP; its stable id.

    Raises ValueError when the agency is already known with another type. Whether the
    practitioner is disabled is for the caller's status check, not this function."""
    pid = external_id(issuer, subject)
    for attempt in (1, 2):
        try:
            async with db.session() as session:
                agency = await session.get(Agency, agency_id)
                if agency is None:
                    session.add(Agency(id=agency_id, name=agency_id, type=agency_type, created_at=utcnow()))
                    await session.flush()
                elif agency.type != agency_type:
                    raise ValueError("the token's agency is registered with another agency type")
                row = await session.get(Practitioner, pid)
                if row is None:
                    session.add(
                        Practitioner(
                            id=pid,
                            agency_id=agency_id,
                            name=name,
                            email=None,
                            roles=sorted(roles),
                            external_issuer=issuer,
                            external_subject=subject,
                            created_at=utcnow(),
                        )
                    )
                elif row.agency_id != agency_id:
                    raise ValueError("the practitioner belongs to another agency")
                elif row.roles != sorted(roles) or row.name != name:
                    row.roles, row.name = sorted(roles), name
            return pid
        except IntegrityError:
            # Another replica (or request) registered the agency or practitioner meanwhile.
            if attempt == 2:
                raise
    return pid
