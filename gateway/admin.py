"""Admin API (scope `admin`): agency clients and the audit trail. Served by the gateway itself."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway import clients as client_ops
from gateway.challenges import NO_CREDENTIALS, bearer_token, unauthorized
from gateway.models import Agency, AuditRecord, Client
from shared.changes import UpdatedSince, where_changed_since
from shared.identity import Identity
from shared.pagination import PageDep, encode_cursor, keyset
from shared.problems import Forbidden, NotFound, ValidationProblem
from shared.roles import AGENCY_TYPES
from shared.tokens import TokenInvalid
from shared.validation import IsoUtcDatetime

router = APIRouter(prefix="/v1/admin", tags=["admin"])


async def admin_identity(request: Request) -> Identity:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise unauthorized(NO_CREDENTIALS, invalid_token=False)
    try:
        identity = await request.app.state.gw.auth.identify(token)
    except TokenInvalid as exc:
        raise unauthorized(str(exc), invalid_token=True) from exc
    request.state.identity = identity
    if not identity.has("admin"):
        raise Forbidden("admin")
    return identity


AdminDep = Annotated[Identity, Depends(admin_identity)]

# Agency types and scopes are checked by `gateway/clients.py` (its 422 names the field and
# what is allowed), not by an enum here, so the document shows the codes without changing the
# check: every agency type (shared/roles.py) and every scope (gateway/clients.py ALL_SCOPES);
# a request's agency type never `service` or `admin` (the command line's).
_API_AGENCY_TYPES = [t for t in AGENCY_TYPES if t not in client_ops.CLI_ONLY_AGENCY_TYPES]
AgencyTypeIn = Annotated[str, WithJsonSchema({"type": "string", "maxLength": 40, "enum": _API_AGENCY_TYPES})]
AgencyTypeCode = Annotated[str, WithJsonSchema({"type": "string", "enum": list(AGENCY_TYPES)})]
Scope = Annotated[str, WithJsonSchema({"type": "string", "enum": list(client_ops.ALL_SCOPES)})]


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    agency_type: AgencyTypeIn = Field(
        max_length=40,
        description="An agency type; `service` and `admin` clients only from the CLI; the type of "
        "the agency `agency_id` names, when it exists",
    )
    agency_id: str | None = Field(
        default=None, max_length=36, description="An existing agency, or the id for a new one"
    )
    agency_name: str | None = Field(
        default=None, max_length=200, description="A new agency's name (default: the client's name)"
    )
    client_id: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]{2,119}$",
        description="3-120 lower-case letters, digits and `-`, not starting with `-`; unique (a "
        "taken one is a 422); default: `<agency-type>-<10 hex digits>`",
    )
    scopes: list[Scope] | None = Field(
        default=None,
        max_length=30,
        description="Default: the agency type's scopes; never more than the agency type may have",
    )
    rate_limit_per_second: float | None = Field(
        default=None, gt=0, le=10_000, description="Above 0, at most 10000; default: the gateway's"
    )


class ClientRead(BaseModel):
    id: str
    client_id: str
    name: str
    agency_id: str
    agency_type: AgencyTypeCode
    scopes: list[Scope]
    rate_limit_per_second: float | None
    created_at: datetime
    disabled_at: datetime | None


class ClientCreated(ClientRead):
    client_secret: str = Field(description="Shown once; store it now")


class ClientList(BaseModel):
    items: list[ClientRead]
    next_cursor: str | None = None


class SecretRotated(BaseModel):
    client_id: str
    client_secret: str


class AuditRead(BaseModel):
    id: int
    at: datetime
    client_id: str | None
    agency_id: str | None
    practitioner_id: str | None = Field(
        default=None, description="The practitioner the call acted for; null for a system call"
    )
    method: str
    route: str
    resource_id: str | None
    status: int
    latency_ms: float
    request_id: str


class AuditList(BaseModel):
    items: list[AuditRead]
    next_cursor: str | None = None


def _read(c: Client, agency_type: str) -> dict[str, Any]:
    return {
        "id": c.id,
        "client_id": c.client_id,
        "name": c.name,
        "agency_id": c.agency_id,
        "agency_type": agency_type,
        "scopes": list(c.scopes),
        "rate_limit_per_second": c.rate_limit_per_second,
        "created_at": c.created_at,
        "disabled_at": c.disabled_at,
    }


@router.post("/clients", status_code=201, response_model=ClientCreated, summary="Create an agency client")
async def create_client(body: ClientCreate, request: Request, _admin: AdminDep) -> dict[str, Any]:
    gw = request.app.state.gw
    try:
        # Never a `service` or `admin` client from here: those come from the CLI only.
        client_ops.check_api_agency_type(body.agency_type)
        async with gw.db.session() as session:
            created = await client_ops.create_client(
                session,
                client_id=body.client_id,
                name=body.name,
                agency_type=body.agency_type,
                agency_id=body.agency_id,
                agency_name=body.agency_name,
                scopes=body.scopes,
                rate_limit_per_second=body.rate_limit_per_second,
            )
    except client_ops.ClientError as exc:
        raise ValidationProblem(exc.field, exc.message) from exc
    except IntegrityError as exc:  # the same client_id registered by a concurrent request
        raise ValidationProblem("client_id", "already exists") from exc
    return {**_read(created.client, created.agency.type), "client_secret": created.secret}


@router.get("/clients", response_model=ClientList, summary="List agency clients")
async def list_clients(
    request: Request, _admin: AdminDep, page: PageDep, updated_since: UpdatedSince = None
) -> dict[str, Any]:
    gw = request.app.state.gw
    async with gw.db.session(write=False) as session:
        stmt = keyset(
            where_changed_since(
                select(Client, Agency.type).join(Agency, Agency.id == Client.agency_id),
                updated_since,
                Client.updated_at,
            ),
            Client.created_at,
            Client.id,
            page,
            descending=False,
        )
        rows = (await session.execute(stmt)).all()
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        next_cursor = encode_cursor(rows[-1][0].created_at, rows[-1][0].id)
    return {"items": [_read(c, t) for c, t in rows], "next_cursor": next_cursor}


async def _client_or_404(session: Any, client_ref: str) -> Client:
    client = await client_ops.find_client(session, client_ref)
    if client is None:
        raise NotFound("No such client")
    return client


@router.post(
    "/clients/{client_ref}/rotate-secret", response_model=SecretRotated, summary="Issue a new client secret"
)
async def rotate_secret(client_ref: str, request: Request, _admin: AdminDep) -> dict[str, str]:
    gw = request.app.state.gw
    async with gw.db.session() as session:
        client = await _client_or_404(session, client_ref)
        secret = await client_ops.rotate_secret(session, client)
        cid = client.client_id
    return {"client_id": cid, "client_secret": secret}


@router.post(
    "/clients/{client_ref}/disable",
    response_model=ClientRead,
    summary="Disable a client; its tokens stop working",
)
async def disable_client(client_ref: str, request: Request, _admin: AdminDep) -> dict[str, Any]:
    gw = request.app.state.gw
    async with gw.db.session() as session:
        client = await _client_or_404(session, client_ref)
        await client_ops.disable(session, client)
        agency = await session.get(Agency, client.agency_id)
        out = _read(client, agency.type if agency else "")
    gw.auth.status.forget(out["client_id"])
    return out


@router.get("/audit", response_model=AuditList, summary="Query the audit trail")
async def audit(
    request: Request,
    _admin: AdminDep,
    page: PageDep,
    client_id: Annotated[str | None, Query(max_length=200)] = None,
    agency_id: Annotated[str | None, Query(max_length=36)] = None,
    request_id: Annotated[str | None, Query(max_length=128)] = None,
    resource_id: Annotated[str | None, Query(max_length=100)] = None,
    practitioner_id: Annotated[str | None, Query(max_length=36)] = None,
    at_from: Annotated[IsoUtcDatetime | None, Query(alias="from")] = None,
    at_to: Annotated[IsoUtcDatetime | None, Query(alias="to")] = None,
    updated_since: UpdatedSince = None,
) -> dict[str, Any]:
    gw = request.app.state.gw
    await gw.audit.flush()
    stmt = select(AuditRecord)
    for col, value in (
        (AuditRecord.client_id, client_id),
        (AuditRecord.agency_id, agency_id),
        (AuditRecord.request_id, request_id),
        (AuditRecord.resource_id, resource_id),
        (AuditRecord.practitioner_id, practitioner_id),
    ):
        if value is not None:
            stmt = stmt.where(col == value)
    if at_from:
        stmt = stmt.where(AuditRecord.at >= at_from)
    stmt = where_changed_since(stmt, updated_since, AuditRecord.at)  # a record is written once
    if at_to:
        stmt = stmt.where(AuditRecord.at < at_to)
    async with gw.db.session(write=False) as session:
        rows = (await session.execute(keyset(stmt, AuditRecord.at, AuditRecord.id, page))).scalars().all()
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        next_cursor = encode_cursor(rows[-1].at, rows[-1].id)
    return {
        "items": [AuditRead.model_validate(r, from_attributes=True) for r in rows],
        "next_cursor": next_cursor,
    }
