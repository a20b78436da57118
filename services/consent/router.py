"""HTTP endpoints of the consent service: thin, they call `service`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from services.consent import fhir as fhir_rules
from services.consent import imports, policy, service
from services.consent.export import CSV_SCHEMA, disclosures_csv
from services.consent.lawful_bases import LAWFUL_BASES
from services.consent.schemas import (
    AccessCheckRead,
    ConsentCreate,
    ConsentImportBatch,
    ConsentImportResult,
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
from shared.fhir import FhirResponse, fhir_responses, searchset
from shared.identity import Identity, ServiceIdentity, require_scope
from shared.imports import SCOPE as IMPORT_SCOPE
from shared.pagination import PageDep
from shared.problems import ValidationProblem
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


# ---- the FHIR R4 facade (issue 22, docs/fhir.md): Consent and AuditEvent ----
# The same scope and rule functions as /v1/consents and /v1/people/{id}/disclosures
# (services/consent/fhir.py); errors leave as OperationOutcomes (shared/fhir.py). The consent
# service knows people by person id, not NHS number: searches take `patient=<person id>`.

fhir = APIRouter(prefix="/fhir", tags=["fhir"])
FhirCount = Annotated[
    int,
    Query(alias="_count", ge=1, le=fhir_rules.SEARCH_LIMIT, description="At most 50 (the default)"),
]
PatientQuery = Annotated[
    str,
    Query(
        max_length=80,
        description="The person index id (`<uuid>` or `Patient/<uuid>`): the consent service "
        "knows people by it, not by NHS number",
    ),
]


def _patient(value: str) -> str:
    """The person id of a `patient` reference search value (`<id>` or `Patient/<id>`)."""
    raw = value.removeprefix("Patient/")
    try:
        return str(UUID(raw))
    except ValueError:
        raise ValidationProblem("patient", "a person id (UUID), or Patient/<person id>") from None


@dataclass(frozen=True)
class PersonSearch:
    """A FHIR search by person (`patient=`, `_count=`) and the caller's context."""

    ctx: service.Context
    person_id: str
    count: int
    self_url: str


async def person_search(
    request: Request,
    patient: PatientQuery,
    identity: ConsentReader,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    count: FhirCount = fhir_rules.SEARCH_LIMIT,
) -> PersonSearch:
    self_url = str(request.url.path) + "?" + request.url.query
    return PersonSearch(ctx(session, runtime, identity, now), _patient(patient), count, self_url)


PersonSearchDep = Annotated[PersonSearch, Depends(person_search)]


@fhir.get("/Consent/{consent_id}", response_class=FhirResponse, responses=fhir_responses("Consent"))
async def fhir_read_consent(
    consent_id: UUID, identity: ConsentReader, session: SessionDep, runtime: RuntimeDep, now: Now
) -> FhirResponse:
    """A consent as a FHIR Consent (as `GET /v1/consents/{id}`)."""
    return FhirResponse(await fhir_rules.read_consent(ctx(session, runtime, identity, now), str(consent_id)))


@fhir.get("/Consent", response_class=FhirResponse, responses=fhir_responses("Consent", bundle=True))
async def fhir_search_consents(search: PersonSearchDep) -> FhirResponse:
    """A person's consents (`patient=<person id>`), newest first: a searchset Bundle of those
    the caller may see (as `GET /v1/consents?person_id=`)."""
    found = await fhir_rules.search_consents(search.ctx, search.person_id, search.count)
    return FhirResponse(searchset(found, search.self_url))


@fhir.get("/AuditEvent/{disclosure_id}", response_class=FhirResponse, responses=fhir_responses("AuditEvent"))
async def fhir_read_audit_event(
    disclosure_id: UUID, identity: ConsentReader, session: SessionDep, runtime: RuntimeDep, now: Now
) -> FhirResponse:
    """One entry of the disclosure log as a FHIR AuditEvent (the rules of `GET /v1/people/{id}/disclosures`)."""
    c = ctx(session, runtime, identity, now)
    return FhirResponse(await fhir_rules.read_audit_event(c, str(disclosure_id)))


@fhir.get("/AuditEvent", response_class=FhirResponse, responses=fhir_responses("AuditEvent", bundle=True))
async def fhir_search_audit_events(search: PersonSearchDep) -> FhirResponse:
    """Who saw a person's information, what, when and why (`patient=<person id>`), oldest
    first: a searchset Bundle of AuditEvents (as `GET /v1/people/{id}/disclosures`)."""
    found = await fhir_rules.search_audit_events(search.ctx, search.person_id, search.count)
    return FhirResponse(searchset(found, search.self_url))


# --- bulk import (issue 22: imports.py, docs/import.md) -----------------------------------


@router.post("/imports/consents", response_model=ConsentImportResult, tags=["imports"])
async def import_consents(
    body: ConsentImportBatch,
    identity: Annotated[Identity, Depends(require_scope(IMPORT_SCOPE))],
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
) -> ConsentImportResult:
    """One batch of the incumbent system's consents, each with its withdrawal if withdrawn,
    checked by the rules of `POST /v1/consents` as of the day it was obtained. One transaction:
    any row wrong is a 422 naming `consents.<row>.<field>` and nothing is stored. A row already
    imported (same source id) is skipped and answered with its consent (`created: false`).
    The council's admin client only (`bulk-import`)."""
    return await imports.import_batch(ctx(session, runtime, identity, now), body)
