"""HTTP endpoints of the consent service: thin, they call `service`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response

from services.consent import policy, service
from services.consent.export import CSV_SCHEMA, disclosures_csv
from services.consent.lawful_bases import LAWFUL_BASES
from services.consent.schemas import (
    AccessCheckRead,
    ConsentCreate,
    ConsentList,
    ConsentRead,
    ConsentWithdraw,
    DisclosureCreate,
    DisclosureExport,
    DisclosureList,
    DisclosureRead,
    LawfulBasisList,
    Purpose,
    SharingDecisionCreate,
    SharingDecisionList,
    SharingDecisionRead,
)
from shared.changes import UpdatedSince
from shared.context import Now
from shared.deps import IdempotencyDep, RuntimeDep, SessionDep
from shared.identity import Identity, ServiceIdentity, require_scope
from shared.pagination import PageDep
from shared.validation import IsoAwareDatetime

router = APIRouter(prefix="/v1", tags=["consent"])
internal_router = APIRouter(prefix="/internal", include_in_schema=False)

ConsentReader = Annotated[Identity, Depends(require_scope("consent:read"))]
ConsentWriter = Annotated[Identity, Depends(require_scope("consent:write"))]
SharingWriter = Annotated[Identity, Depends(require_scope("sharing:write"))]
PersonQuery = Annotated[UUID, Query(description="The person (UUID)")]
AgencyQuery = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
PractitionerQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="The practitioner the asking service acts for (echoed; the disclosure log records it).",
    ),
]


def ctx(session: Any, runtime: Any, identity: Identity, now: datetime) -> service.Context:
    return service.Context(session, runtime, identity, now)


# --- consents ---------------------------------------------------------------------------


@router.post("/consents", status_code=201, response_model=ConsentRead)
async def create_consent(
    body: ConsentCreate,
    identity: ConsentWriter,
    session: SessionDep,
    runtime: RuntimeDep,
    idem: IdempotencyDep,
    response: Response,
    now: Now,
) -> ConsentRead:
    consent = await service.create_consent(ctx(session, runtime, identity, now), body)
    location = f"/v1/consents/{consent.id}"
    await idem.complete(201, consent.model_dump(mode="json"), location)
    response.headers["Location"] = location
    return consent


@router.get("/consents", response_model=ConsentList)
async def list_consents(
    person_id: PersonQuery,
    identity: ConsentReader,
    session: SessionDep,
    runtime: RuntimeDep,
    page: PageDep,
    now: Now,
    updated_since: UpdatedSince = None,
) -> ConsentList:
    items, cursor = await service.list_consents(
        ctx(session, runtime, identity, now), str(person_id), page, updated_since
    )
    return ConsentList(items=items, next_cursor=cursor)


@router.get("/consents/{consent_id}", response_model=ConsentRead)
async def get_consent(
    consent_id: UUID, identity: ConsentReader, session: SessionDep, runtime: RuntimeDep, now: Now
) -> ConsentRead:
    return await service.get_consent(ctx(session, runtime, identity, now), str(consent_id))


@router.post("/consents/{consent_id}/withdraw", response_model=ConsentRead)
async def withdraw_consent(
    consent_id: UUID,
    body: ConsentWithdraw,
    identity: ConsentWriter,
    session: SessionDep,
    runtime: RuntimeDep,
    idem: IdempotencyDep,
    now: Now,
) -> ConsentRead:
    consent = await service.withdraw_consent(ctx(session, runtime, identity, now), str(consent_id), body)
    await idem.complete(200, consent.model_dump(mode="json"))
    return consent


# --- sharing decisions ------------------------------------------------------------------


@router.get("/lawful-bases", response_model=LawfulBasisList)
async def list_lawful_bases(_identity: ConsentReader) -> LawfulBasisList:
    return LawfulBasisList(items=list(LAWFUL_BASES))


@router.post("/sharing-decisions", status_code=201, response_model=SharingDecisionRead)
async def create_sharing_decision(
    body: SharingDecisionCreate,
    identity: SharingWriter,
    session: SessionDep,
    runtime: RuntimeDep,
    idem: IdempotencyDep,
    response: Response,
    now: Now,
) -> SharingDecisionRead:
    decision = await service.create_decision(ctx(session, runtime, identity, now), body)
    location = f"/v1/sharing-decisions/{decision.id}"
    await idem.complete(201, decision.model_dump(mode="json"), location)
    response.headers["Location"] = location
    return decision


@router.get("/sharing-decisions", response_model=SharingDecisionList)
async def list_sharing_decisions(
    person_id: PersonQuery,
    identity: ConsentReader,
    session: SessionDep,
    runtime: RuntimeDep,
    page: PageDep,
    now: Now,
    updated_since: UpdatedSince = None,
) -> SharingDecisionList:
    items, cursor = await service.list_decisions(
        ctx(session, runtime, identity, now), str(person_id), page, updated_since
    )
    return SharingDecisionList(items=items, next_cursor=cursor)


@router.get("/sharing-decisions/{decision_id}", response_model=SharingDecisionRead)
async def get_sharing_decision(
    decision_id: UUID, identity: ConsentReader, session: SessionDep, runtime: RuntimeDep, now: Now
) -> SharingDecisionRead:
    return await service.get_decision(ctx(session, runtime, identity, now), str(decision_id))


# --- the access check -------------------------------------------------------------------


@router.get("/access-checks", response_model=AccessCheckRead)
async def access_check(
    person_id: PersonQuery,
    agency_id: AgencyQuery,
    purpose: Purpose,
    caller: ServiceIdentity,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    on_team_around_the_family: bool = False,
    joined_at: Annotated[
        IsoAwareDatetime | None,
        Query(description="When the agency joined the person's TAF (ISO 8601 with a zone)."),
    ] = None,
    family_agreed_to_join: Annotated[
        bool, Query(description="The family agreed to the agency joining the TAF.")
    ] = False,
    practitioner_id: PractitionerQuery | None = None,
) -> AccessCheckRead:
    """Service identities only: may this agency see this person's information for this purpose?"""
    return await service.check_access(
        ctx(session, runtime, caller, now),
        str(person_id),
        agency_id,
        purpose,
        taf=policy.TafMembership(
            on_taf=on_team_around_the_family,
            joined_at=joined_at,
            family_agreed_to_join=family_agreed_to_join,
        ),
        practitioner_id=practitioner_id,
    )


# --- disclosures ------------------------------------------------------------------------


@internal_router.post("/disclosures", status_code=201, response_model=DisclosureRead)
async def record_disclosure(
    body: DisclosureCreate,
    caller: ServiceIdentity,
    session: SessionDep,
    runtime: RuntimeDep,
    idem: IdempotencyDep,
    now: Now,
) -> DisclosureRead:
    disclosure = await service.record_disclosure(ctx(session, runtime, caller, now), body)
    await idem.complete(201, disclosure.model_dump(mode="json"))
    return disclosure


@router.get("/people/{person_id}/disclosures", response_model=DisclosureList)
async def list_disclosures(
    person_id: UUID,
    identity: ConsentReader,
    session: SessionDep,
    runtime: RuntimeDep,
    page: PageDep,
    now: Now,
    updated_since: UpdatedSince = None,
) -> DisclosureList:
    items, cursor = await service.list_disclosures(
        ctx(session, runtime, identity, now), str(person_id), page, updated_since
    )
    return DisclosureList(items=items, next_cursor=cursor)


@router.get(
    "/people/{person_id}/disclosures/export",
    response_model=DisclosureExport,
    responses={
        200: {
            "content": {"text/csv": {"schema": CSV_SCHEMA}},
            "description": "JSON, or CSV with ?format=csv",
        }
    },
)
async def export_disclosures(
    person_id: UUID,
    identity: ConsentReader,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    format: Literal["json", "csv"] = "json",
) -> Response:
    """Every disclosure of the person's information, for a subject access request."""
    items = await service.all_disclosures(ctx(session, runtime, identity, now), str(person_id))
    filename = f"disclosures-{person_id}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format == "csv":
        return Response(disclosures_csv(items), media_type="text/csv; charset=utf-8", headers=headers)
    export = DisclosureExport(person_id=str(person_id), exported_at=now, count=len(items), disclosures=items)
    return Response(export.model_dump_json(), media_type="application/json", headers=headers)
