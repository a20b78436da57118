"""Practitioners and teams API (scope `practitioners:manage`). Served by the gateway itself.

Thin endpoints over `gateway/practitioners.py`, which holds the rules. Another agency's
practitioner or team is 404 (its existence does not leak); a caller who may use the registry
at all but not this way is 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field, WithJsonSchema
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway import practitioners as ops
from gateway.challenges import NO_CREDENTIALS, bearer_token, unauthorized
from gateway.models import Practitioner, Team
from shared.changes import UpdatedSince
from shared.pagination import PageDep, PageParams, keyset, page_of
from shared.problems import NotFound
from shared.roles import ROLES
from shared.tokens import TokenInvalid
from shared.validation import CleanName


async def _no_store(response: Response) -> None:
    # Names and emails of staff: never kept by a cache on the way.
    response.headers["Cache-Control"] = "no-store"


router = APIRouter(prefix="/v1", tags=["practitioners"], dependencies=[Depends(_no_store)])


async def registry_manager(request: Request) -> ops.Manager:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise unauthorized(NO_CREDENTIALS, invalid_token=False)
    try:
        identity = await request.app.state.gw.auth.identify(token)
    except TokenInvalid as exc:
        raise unauthorized(str(exc), invalid_token=True) from exc
    request.state.identity = identity  # for the audit row
    return ops.manager(identity)


ManagerDep = Annotated[ops.Manager, Depends(registry_manager)]
# A role code (shared/roles.py ROLES). Requests are checked by `practitioners.check_roles`
# (its 422 names the unknown and the allowed roles), so the enum is shown, not enforced here.
Role = Annotated[str, WithJsonSchema({"type": "string", "enum": list(ROLES)})]
AgencyQuery = Annotated[
    str | None, Query(max_length=36, description="Another agency's (council admin only); default: your own")
]


# What a name is checked for (shared/validation.py clean_name), said on each name field.
NAME_RULES = (
    "Stored in Unicode NFC without invisible characters (zero-width space, word joiner, byte-order "
    "mark, soft hyphen); bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E/F, U+061C) "
    "and control codes are refused (422)"
)
AGENCY_RULES = (
    "Council admin only (another agency: else 403); an existing agency that is not a service "
    "(else 422). Default: your own"
)
EMAIL_RULES = "Stored lower-case; one practitioner an email in an agency (else 409 `email-taken`)"
ROLE_RULES = (
    "Roles the agency's type may hold (else 422 naming them); `council_admin` granted by the "
    "council admin only (else 403)"
)
TEAM_RULES = "A team of the practitioner's own agency (else 422)"


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, CleanName] = Field(min_length=1, max_length=200, description=NAME_RULES)
    agency_id: str | None = Field(default=None, max_length=36, description=AGENCY_RULES)


class TeamRead(BaseModel):
    id: str
    agency_id: str
    name: str
    created_at: datetime


class TeamList(BaseModel):
    items: list[TeamRead]
    next_cursor: str | None = None


class PractitionerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, CleanName] = Field(min_length=1, max_length=200, description=NAME_RULES)
    email: EmailStr = Field(max_length=320, description=EMAIL_RULES)
    roles: list[Role] = Field(min_length=1, max_length=10, description=ROLE_RULES)
    team_id: str | None = Field(default=None, max_length=36, description=TEAM_RULES)
    agency_id: str | None = Field(default=None, max_length=36, description=AGENCY_RULES)


class PractitionerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, CleanName] = Field(
        default=None, min_length=1, max_length=200, description=NAME_RULES + "; may not be null"
    )
    email: EmailStr | None = Field(
        default=None, max_length=320, description=EMAIL_RULES + "; may not be null"
    )
    roles: list[Role] | None = Field(
        default=None,
        min_length=1,
        max_length=10,
        description=ROLE_RULES + "; may not be null; not changed here for a practitioner who signs "
        "in through the council identity provider (it sets the roles: 422)",
    )
    team_id: str | None = Field(
        default=None,
        max_length=36,
        description=TEAM_RULES + "; null takes the practitioner out of their team",
    )


class PractitionerRead(BaseModel):
    id: str
    agency_id: str
    name: str
    email: str | None
    roles: list[Role]
    team_id: str | None
    disabled_at: datetime | None
    created_at: datetime


class PractitionerList(BaseModel):
    items: list[PractitionerRead]
    next_cursor: str | None = None


def _practitioner(p: Practitioner) -> dict[str, Any]:
    return PractitionerRead.model_validate(p, from_attributes=True).model_dump()


def _team(t: Team) -> dict[str, Any]:
    return TeamRead.model_validate(t, from_attributes=True).model_dump()


async def _own_practitioner(session: Any, by: ops.Manager, practitioner_id: str) -> Practitioner:
    row = await session.get(Practitioner, practitioner_id)
    if row is None or not by.may_see(row.agency_id):
        raise NotFound("No such practitioner")
    return row  # type: ignore[no-any-return]


async def _list(
    request: Request, by: ops.Manager, model: Any, page: PageParams, agency_id: str | None, *where: Any
) -> tuple[list[Any], str | None]:
    """A page of the caller's agency's teams or practitioners, oldest first; the council admin's
    lists span every agency unless it names one."""
    stmt = select(model).where(*where)
    if agency_id is not None or not by.council:
        stmt = stmt.where(model.agency_id == by.agency_for(agency_id))
    stmt = keyset(stmt, model.created_at, model.id, page, descending=False)
    async with request.app.state.gw.db.session(write=False) as session:
        rows = list((await session.execute(stmt)).scalars())
    return page_of(rows, page, "created_at")


# ---- teams ----


@router.post("/teams", status_code=201, response_model=TeamRead, summary="Register a team")
async def create_team(body: TeamCreate, request: Request, by: ManagerDep) -> dict[str, Any]:
    gw = request.app.state.gw
    async with gw.db.session() as session:
        agency = await ops.agency_or_422(session, by.agency_for(body.agency_id))
        team = await ops.create_team(session, agency_id=agency.id, name=body.name)
        out = _team(team)
    return out


@router.get("/teams", response_model=TeamList, summary="List teams")
async def list_teams(
    request: Request,
    by: ManagerDep,
    page: PageDep,
    agency_id: AgencyQuery = None,
    updated_since: UpdatedSince = None,
) -> dict[str, Any]:
    where = [] if updated_since is None else [Team.updated_at > updated_since]
    rows, next_cursor = await _list(request, by, Team, page, agency_id, *where)
    return {"items": [_team(t) for t in rows], "next_cursor": next_cursor}


@router.get("/teams/{team_id}", response_model=TeamRead, summary="Get a team")
async def get_team(team_id: str, request: Request, by: ManagerDep) -> dict[str, Any]:
    gw = request.app.state.gw
    async with gw.db.session(write=False) as session:
        team = await session.get(Team, team_id)
        if team is None or not by.may_see(team.agency_id):
            raise NotFound("No such team")
        return _team(team)


# ---- practitioners ----


@router.post(
    "/practitioners", status_code=201, response_model=PractitionerRead, summary="Register a practitioner"
)
async def create_practitioner(body: PractitionerCreate, request: Request, by: ManagerDep) -> Any:
    gw = request.app.state.gw
    try:
        async with gw.db.session() as session:
            agency = await ops.agency_or_422(session, by.agency_for(body.agency_id))
            made = await ops.create_practitioner(
                session,
                agency=agency,
                name=body.name,
                email=str(body.email),
                roles=body.roles,
                team_id=body.team_id,
                by=by,
            )
            out = _practitioner(made)
    except IntegrityError as exc:  # the same email registered by a concurrent request
        raise ops.EmailTaken() from exc
    return out


@router.get("/practitioners", response_model=PractitionerList, summary="List practitioners")
async def list_practitioners(
    request: Request,
    by: ManagerDep,
    page: PageDep,
    agency_id: AgencyQuery = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    updated_since: UpdatedSince = None,
) -> Any:
    where = [] if email is None else [Practitioner.email == ops.normalise_email(email)]
    if updated_since is not None:
        where.append(Practitioner.updated_at > updated_since)
    rows, next_cursor = await _list(request, by, Practitioner, page, agency_id, *where)
    return {"items": [_practitioner(p) for p in rows], "next_cursor": next_cursor}


@router.get("/practitioners/{practitioner_id}", response_model=PractitionerRead, summary="Get a practitioner")
async def get_practitioner(practitioner_id: str, request: Request, by: ManagerDep) -> Any:
    gw = request.app.state.gw
    async with gw.db.session(write=False) as session:
        return _practitioner(await _own_practitioner(session, by, practitioner_id))


@router.patch(
    "/practitioners/{practitioner_id}",
    response_model=PractitionerRead,
    summary="Change a practitioner's name, email, roles or team",
)
async def update_practitioner(
    practitioner_id: str, body: PractitionerUpdate, request: Request, by: ManagerDep
) -> Any:
    gw = request.app.state.gw
    changes = body.model_dump(include=body.model_fields_set)
    if "email" in changes and changes["email"] is not None:
        changes["email"] = str(changes["email"])
    try:
        async with gw.db.session() as session:
            row = await _own_practitioner(session, by, practitioner_id)
            await ops.update_practitioner(session, row, changes, by=by)
            out = _practitioner(row)
    except IntegrityError as exc:
        raise ops.EmailTaken() from exc
    # Roles taken away stop working at once here, within the status cache elsewhere.
    gw.auth.practitioners.forget(practitioner_id)
    return out


async def _set_disabled(request: Request, by: ops.Manager, practitioner_id: str, disabled: bool) -> Any:
    gw = request.app.state.gw
    async with gw.db.session() as session:
        row = await _own_practitioner(session, by, practitioner_id)
        await ops.set_disabled(session, row, disabled)
        out = _practitioner(row)
    gw.auth.practitioners.forget(practitioner_id)
    return out


@router.post(
    "/practitioners/{practitioner_id}/disable",
    response_model=PractitionerRead,
    summary="Disable a practitioner; their tokens stop working",
)
async def disable_practitioner(practitioner_id: str, request: Request, by: ManagerDep) -> Any:
    return await _set_disabled(request, by, practitioner_id, True)


@router.post(
    "/practitioners/{practitioner_id}/enable",
    response_model=PractitionerRead,
    summary="Enable a practitioner again",
)
async def enable_practitioner(practitioner_id: str, request: Request, by: ManagerDep) -> Any:
    return await _set_disabled(request, by, practitioner_id, False)
