"""HTTP endpoints of the referrals service: thin, they call `service`, `people`, `journey`, `reports`.

Scopes are checked here as well as at the gateway; who may do what and who sees what (roles,
whose referral is whose, what a partner is shown) are in `policy`. Reads that disclose a
child's information to another agency note it on `DisclosuresDep` (`disclosures`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from services.referrals import (
    corrections,
    households,
    imports,
    jsna,
    people,
    policy,
    reports,
    service,
    threshold_audit,
)
from services.referrals import fhir as fhir_rules
from services.referrals import journey as journey_flow
from services.referrals.disclosures import DisclosuresDep
from services.referrals.models import Referral
from services.referrals.report_charts import jsna_chart, referral_chart, threshold_audit_chart
from services.referrals.schemas import (
    AddressList,
    AssignmentCreate,
    AssignmentRead,
    DecisionCreate,
    HouseholdRead,
    JourneyRead,
    JsnaFormat,
    JsnaPeriodKind,
    JsnaReport,
    KnownPeopleQuery,
    KnownPeopleRead,
    MashQueue,
    MashQueueItem,
    MergeCreate,
    MergeRead,
    PeopleDetailsQuery,
    PeopleDetailsRead,
    PersonCorrected,
    PersonCorrectionCreate,
    PersonCorrectionRead,
    PersonDetails,
    PersonHistory,
    PersonMatchRead,
    PersonRead,
    PersonSearchResult,
    ReferralCreate,
    ReferralImportBatch,
    ReferralImportResult,
    ReferralList,
    ReferralRead,
    ReferralReport,
    RelationshipCreate,
    RelationshipEnd,
    RelationshipList,
    RelationshipRead,
    StepUpCreate,
    ThresholdAuditAgreementCreate,
    ThresholdAuditCreate,
    ThresholdAuditItemRead,
    ThresholdAuditList,
    ThresholdAuditRead,
    ThresholdAuditReport,
    ThresholdAuditReviewCreate,
    WithdrawRequest,
)
from shared import charts
from shared.changes import UpdatedSince
from shared.clock import LONDON, MissingOffset, london_today, parse_date, parse_datetime
from shared.context import Now
from shared.deps import IdempotencyDep, RuntimeDep, SessionDep
from shared.etag import check_if_match, set_etag
from shared.fhir import (
    NHS_NUMBER_SYSTEM,
    FhirResponse,
    fhir_responses,
    nhs_number_token,
    request_body,
    resource_body,
    searchset,
)
from shared.identity import Identity, ServiceIdentity, require_scope
from shared.imports import SCOPE as IMPORT_SCOPE
from shared.pagination import PageDep, page_of
from shared.problems import ValidationProblem
from shared.validation import BoundedDate, IsoDate

router = APIRouter(prefix="/v1")
internal = APIRouter(prefix="/internal", include_in_schema=False)

CanCreate = Annotated[Identity, Depends(require_scope("referrals:create"))]
CanRead = Annotated[Identity, Depends(require_scope("referrals:read"))]
CanTriage = Annotated[Identity, Depends(require_scope("triage:write"))]
CanSearchPeople = Annotated[Identity, Depends(require_scope("people:read"))]
CanReadReports = Annotated[Identity, Depends(require_scope("reports:read"))]
Id = Annotated[str, Path(min_length=1, max_length=36)]


def ctx(session: Any, runtime: Any, identity: Identity, now: datetime) -> service.Context:
    return service.Context(session, runtime, identity, now)


async def _answer(c: service.Context, referral: Referral, response: Response) -> ReferralRead:
    """The referral as the caller may see it, with its ETag."""
    set_etag(response, referral.id, referral.version)
    return await service.represent(c, referral)


def _precondition(request: Request) -> Any:
    return lambda referral: check_if_match(request, referral.id, referral.version, required=False)


# ---- referrals ----


@router.post("/referrals", status_code=201, response_model=ReferralRead, tags=["referrals"])
async def create_referral(
    body: ReferralCreate,
    response: Response,
    identity: CanCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    idem: IdempotencyDep,
    now: Now,
) -> ReferralRead:
    """Submit a Request for Support (or a safeguarding concern, or a self-referral).

    Every child and adult is matched against the person index; a child who already has an
    undecided referral or an open episode makes this a `linked` referral. `Idempotency-Key`
    makes a retry safe."""
    c = ctx(session, runtime, identity, now)
    referral = await service.create(c, body)
    out = await _answer(c, referral, response)
    location = f"/v1/referrals/{referral.id}"
    await idem.complete(201, out.model_dump(mode="json"), location)
    response.headers["Location"] = location
    return out


def _moment(value: str | None, name: str, *, end: bool) -> datetime | None:
    """A date (a whole London day) or an ISO 8601 timestamp with its offset."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = parse_date(value) + timedelta(days=1 if end else 0)
            return datetime.combine(day, datetime.min.time(), tzinfo=LONDON)
        return parse_datetime(value, require_offset=True)
    except MissingOffset:
        raise ValidationProblem(name, "a timestamp needs its UTC offset") from None
    except ValueError as exc:
        raise ValidationProblem(name, "a date (YYYY-MM-DD) or an ISO 8601 timestamp") from exc


@router.get("/referrals", response_model=ReferralList, tags=["referrals"])
async def list_referrals_endpoint(
    identity: CanRead,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    page: PageDep,
    disclosures: DisclosuresDep,
    status: Annotated[str | None, Query(pattern="^(received|decided|withdrawn|linked)$")] = None,
    source_agency_id: Annotated[str | None, Query(max_length=120)] = None,
    person_id: Annotated[str | None, Query(max_length=36)] = None,
    received_from: Annotated[
        str | None, Query(max_length=40, description="Date or timestamp, inclusive")
    ] = None,
    received_to: Annotated[
        str | None, Query(max_length=40, description="Date (inclusive) or timestamp (exclusive)")
    ] = None,
    updated_since: UpdatedSince = None,
) -> ReferralList:
    """Referrals, newest first. Partner agencies see only those their agency submitted (and a
    referral the MASH linked to an existing case as `received`)."""
    view = policy.view_of(identity)
    rows = await service.list_referrals(
        ctx(session, runtime, identity, now),
        view,
        page,
        status=status,
        source_agency_id=source_agency_id,
        person_id=person_id,
        received_from=_moment(received_from, "received_from", end=False),
        received_to=_moment(received_to, "received_to", end=True),
        updated_since=updated_since,
    )
    items, cursor = page_of(rows, page, "received_at")
    if person_id:
        # Rows carry no names, but filtered by a person they tell that child's history.
        for r in items:
            disclosures.note([person_id], "referral", r.id, provided_by_agency_id=r.source_agency_id)
    return ReferralList(items=[service.summary(r, view) for r in items], next_cursor=cursor)


@router.get("/referrals/{referral_id}", response_model=ReferralRead, tags=["referrals"])
async def get_referral(
    referral_id: Id,
    response: Response,
    identity: CanRead,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    disclosures: DisclosuresDep,
) -> ReferralRead:
    c = ctx(session, runtime, identity, now)
    referral = await service.visible(c, referral_id, with_rows=True)
    disclosures.note(
        (r.person_id for r in c.people_of[referral.id]),
        "referral",
        referral.id,
        provided_by_agency_id=referral.source_agency_id,
    )
    return await _answer(c, referral, response)


@router.post("/referrals/{referral_id}/withdraw", response_model=ReferralRead, tags=["referrals"])
async def withdraw_referral(
    referral_id: Id,
    body: WithdrawRequest,
    request: Request,
    response: Response,
    identity: CanCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
) -> ReferralRead:
    """The submitting agency (or the MASH) withdraws a referral awaiting a decision."""
    c = ctx(session, runtime, identity, now)
    referral = await service.withdraw(c, referral_id, body, _precondition(request))
    return await _answer(c, referral, response)


@router.post("/referrals/{referral_id}/decision", response_model=ReferralRead, tags=["triage"])
async def decide_referral(
    referral_id: Id,
    body: DecisionCreate,
    request: Request,
    response: Response,
    identity: CanTriage,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
) -> ReferralRead:
    """The MASH decision: level of need and outcome must agree (docs/referrals.md); once only."""
    c = ctx(session, runtime, identity, now)
    referral = await service.decide(c, referral_id, body, _precondition(request))
    return await _answer(c, referral, response)


@router.post(
    "/referrals/{referral_id}/matches/{person_id}/confirm", response_model=ReferralRead, tags=["triage"]
)
async def confirm_match(
    referral_id: Id,
    person_id: Id,
    response: Response,
    identity: CanTriage,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
) -> ReferralRead:
    """The possible match is the same person: the referral's person is merged into it."""
    c = ctx(session, runtime, identity, now)
    referral = await service.resolve_match(c, referral_id, person_id, confirm=True)
    return await _answer(c, referral, response)


@router.post(
    "/referrals/{referral_id}/matches/{person_id}/reject", response_model=ReferralRead, tags=["triage"]
)
async def reject_match(
    referral_id: Id,
    person_id: Id,
    response: Response,
    identity: CanTriage,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
) -> ReferralRead:
    c = ctx(session, runtime, identity, now)
    referral = await service.resolve_match(c, referral_id, person_id, confirm=False)
    return await _answer(c, referral, response)


# ---- the MASH queue ----


@router.get("/mash/queue", response_model=MashQueue, tags=["triage"])
async def mash_queue_endpoint(
    identity: CanTriage,
    session: SessionDep,
    runtime: RuntimeDep,
    page: PageDep,
    now: Now,
    sort: Annotated[
        str, Query(pattern="^(urgency|due)$", description="urgency (default) or due")
    ] = "urgency",
    assigned_to: Annotated[
        str | None, Query(min_length=1, max_length=120, description="A practitioner id, `me` or `unassigned`")
    ] = None,
    updated_since: UpdatedSince = None,
) -> MashQueue:
    """Referrals awaiting a MASH decision. `urgency`: safeguarding concerns first, then needs
    under a safeguarding headline, then the number of needs, then the due time; `due`: the
    decision's due time, soonest first."""
    c = ctx(session, runtime, identity, now)
    rows, cursor = await service.mash_queue(
        c, sort=sort, assigned_to=assigned_to, page=page, updated_since=updated_since
    )
    view = policy.view_of(identity)
    # By hand: the summary as this view shows it, the queue's own fields, and `overdue` now.
    items = [
        MashQueueItem(
            **service.summary(r, view).model_dump(),
            significant_harm_suspected=r.significant_harm_suspected,
            needs=r.needs,
            priority=r.priority,
            assigned_at=r.assigned_at,
            overdue=r.decision_due_at < now,
        )
        for r in rows
    ]
    return MashQueue(items=items, next_cursor=cursor)


@router.put("/referrals/{referral_id}/assignment", response_model=AssignmentRead, tags=["triage"])
async def assign_referral(
    referral_id: Id,
    body: AssignmentCreate,
    identity: CanTriage,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
) -> AssignmentRead:
    """Who in the MASH works on a referral: a manager assigns anyone (null unassigns); a
    screener may take one themself. Recorded with who assigned it and when."""
    record = await service.assign(ctx(session, runtime, identity, now), referral_id, body.practitioner_id)
    # By hand: the record names the assignee `practitioner_id`, the response `assigned_to`.
    return AssignmentRead(
        referral_id=record.referral_id,
        assigned_to=record.practitioner_id,
        assigned_by=record.assigned_by,
        assigned_at=record.assigned_at,
    )


# ---- the person index ----


def _person(p: Any) -> PersonRead:
    return PersonRead.model_validate(p, from_attributes=True)


@router.get("/people", response_model=PersonSearchResult, tags=["people"])
async def search_people(
    identity: CanSearchPeople,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    disclosures: DisclosuresDep,
    nhs_number: Annotated[str | None, Query(max_length=14)] = None,
    family_name: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    given_name: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    date_of_birth: IsoDate | None = None,
    postcode: Annotated[str | None, Query(max_length=10)] = None,
) -> PersonSearchResult:
    """Ranked matches with a score: by NHS number, or two of family name, date of birth, postcode."""
    q = people.SearchQuery(nhs_number, family_name, given_name, date_of_birth, postcode)
    found = await people.search(ctx(session, runtime, identity, now), q)
    for p, _ in found:
        disclosures.note([p.id], "person", p.id)
    return PersonSearchResult(items=[_scored(p, s) for p, s in found])


def _scored(person: Any, scored: Any) -> PersonMatchRead:
    """By hand: a person and its match score, two objects (a search result, a possible duplicate)."""
    return PersonMatchRead(
        **_person(person).model_dump(),
        score=scored.score,
        match="certain" if scored.certain else "possible",
        reasons=scored.reasons,
    )


@router.get("/people/{person_id}", response_model=PersonRead, tags=["people"])
async def get_person(
    person_id: Id,
    response: Response,
    identity: CanSearchPeople,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    disclosures: DisclosuresDep,
) -> PersonRead:
    """A person in the index; `merged_into_id` names the surviving record of a merged duplicate."""
    person = await people.get(ctx(session, runtime, identity, now), person_id)
    disclosures.note([person.id], "person", person.id)
    set_etag(response, person.id, person.version)  # for a correction's If-Match (issue 20)
    return _person(person)


@router.get("/people/{person_id}/journey", response_model=JourneyRead, tags=["people"])
async def person_journey(
    person_id: Id,
    identity: CanSearchPeople,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    disclosures: DisclosuresDep,
    updated_since: UpdatedSince = None,
) -> JourneyRead:
    """Every referral and decision (here) and episode event (assessments service), in time order.
    (The assessments service records the disclosures of the episodes it shows.)"""
    out = await journey_flow.journey(ctx(session, runtime, identity, now), person_id)
    if updated_since is not None:  # the items are events: those after the moment
        out.items = [item for item in out.items if item.at > updated_since]
    disclosures.note([out.person_id], "journey", out.person_id)
    return out


def _merge(m: Any) -> MergeRead:
    return MergeRead.model_validate(m, from_attributes=True)


@router.post("/people/{person_id}/merge", status_code=201, response_model=MergeRead, tags=["triage"])
async def merge_person(
    person_id: Id,
    body: MergeCreate,
    identity: CanTriage,
    session: SessionDep,
    runtime: RuntimeDep,
    idem: IdempotencyDep,
    now: Now,
) -> MergeRead:
    """Merge a duplicate into the record that survives; recorded, and reversible."""
    policy.require_mash(identity, "merge people")
    c = ctx(session, runtime, identity, now)
    record = await people.merge(c, person_id, body.into_person_id, reason=body.reason)
    out = _merge(record)
    await idem.complete(201, out.model_dump(mode="json"))
    return out


@router.post("/people/merges/{merge_id}/undo", response_model=MergeRead, tags=["triage"])
async def undo_merge(
    merge_id: Id, identity: CanTriage, session: SessionDep, runtime: RuntimeDep, now: Now
) -> MergeRead:
    policy.require_mash(identity, "undo a merge")
    return _merge(await people.undo_merge(ctx(session, runtime, identity, now), merge_id))


# ---- households, relationships, corrections (issue 20: households.py, corrections.py) ----


@router.get("/people/{person_id}/relationships", response_model=RelationshipList, tags=["people"])
async def person_relationships(
    person_id: Id,
    identity: CanSearchPeople,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    disclosures: DisclosuresDep,
    updated_since: UpdatedSince = None,
) -> RelationshipList:
    """The person's relationships (current and ended), each `person_id` `type` `related_person_id`."""
    pid, items = await households.relationships(
        ctx(session, runtime, identity, now), person_id, updated_since
    )
    disclosures.note([pid], "relationships", pid)
    return RelationshipList(items=items)


@router.post(
    "/people/{person_id}/relationships", status_code=201, response_model=RelationshipRead, tags=["people"]
)
async def add_relationship(
    person_id: Id,
    body: RelationshipCreate,
    identity: CanSearchPeople,
    session: SessionDep,
    runtime: RuntimeDep,
    idem: IdempotencyDep,
    now: Now,
) -> RelationshipRead:
    """Record that this person is `type` of `related_person_id` (a MASH or early help role)."""
    out = await households.add(ctx(session, runtime, identity, now), person_id, body)
    await idem.complete(201, out.model_dump(mode="json"))
    return out


@router.post(
    "/people/{person_id}/relationships/{relationship_id}/end",
    response_model=RelationshipRead,
    tags=["people"],
)
async def end_relationship(
    person_id: Id,
    relationship_id: Id,
    body: RelationshipEnd,
    identity: CanSearchPeople,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
) -> RelationshipRead:
    """End a relationship (`to_on`, default today): kept, never deleted."""
    return await households.end(ctx(session, runtime, identity, now), person_id, relationship_id, body)


@router.get("/people/{person_id}/household", response_model=HouseholdRead, tags=["people"])
async def person_household(
    person_id: Id,
    identity: CanSearchPeople,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    disclosures: DisclosuresDep,
) -> HouseholdRead:
    """Who lives with the person now: everyone else whose current address is theirs."""
    out = await households.household(ctx(session, runtime, identity, now), person_id)
    disclosures.note([out.person_id, *(m.person_id for m in out.members)], "household", out.person_id)
    return out


@router.get("/people/{person_id}/addresses", response_model=AddressList, tags=["people"])
async def person_addresses(
    person_id: Id,
    identity: CanSearchPeople,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    disclosures: DisclosuresDep,
    updated_since: UpdatedSince = None,
) -> AddressList:
    """The person's addresses, latest first, with from/to dates."""
    pid, items = await households.addresses(ctx(session, runtime, identity, now), person_id, updated_since)
    disclosures.note([pid], "addresses", pid)
    return AddressList(items=items)


def _correction(c: Any) -> PersonCorrectionRead:
    return PersonCorrectionRead.model_validate(c, from_attributes=True)


@router.patch("/people/{person_id}", response_model=PersonCorrected, tags=["people"])
async def correct_person(
    person_id: Id,
    body: PersonCorrectionCreate,
    request: Request,
    response: Response,
    identity: CanSearchPeople,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
) -> PersonCorrected:
    """Correct a person's record (If-Match required; a MASH or early help role): the change,
    from what to what, by whom and why is kept (`GET /v1/people/{id}/history`). The answer
    lists the records it may now duplicate."""
    person, record, possible = await corrections.correct(
        ctx(session, runtime, identity, now),
        person_id,
        body,
        lambda p: check_if_match(request, p.id, p.version, required=True),
    )
    set_etag(response, person.id, person.version)
    # By hand: the person, the correction just made and the records it may duplicate.
    return PersonCorrected(
        **_person(person).model_dump(),
        correction=_correction(record),
        possible_matches=[_scored(p, s) for p, s in possible],
    )


@router.get("/people/{person_id}/history", response_model=PersonHistory, tags=["people"])
async def person_history(
    person_id: Id,
    identity: CanSearchPeople,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    disclosures: DisclosuresDep,
    updated_since: UpdatedSince = None,
) -> PersonHistory:
    """Every correction of the person's record, oldest first."""
    rows = await corrections.history(ctx(session, runtime, identity, now), person_id, updated_since)
    disclosures.note([person_id], "person_history", person_id)
    return PersonHistory(items=[_correction(r) for r in rows])


# ---- reports ----


def _report_period(from_: date | None, to: date | None) -> tuple[date, date]:
    """A report's London days: `to` defaults to today, `from` to a year before `to`."""
    end_on = to or london_today()
    start_on = from_ or end_on - timedelta(days=365)
    if start_on > end_on:
        raise ValidationProblem("from", "must not be after to")
    return start_on, end_on


def _csv(text: str, filename: str) -> Response:
    """A report as a CSV download named `<filename>.csv`."""
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


@router.get(
    "/reports/referrals",
    tags=["reports"],
    response_model=ReferralReport,
    responses={
        200: {
            "content": {"text/csv": {"schema": reports.CSV_SCHEMA}, **charts.openapi_content("The report")},
            "description": "JSON, or CSV on Accept: text/csv (or `format=csv`), or a chart (`format=svg`/`png`)",
        }
    },
)
async def referral_report(
    request: Request,
    identity: CanReadReports,
    runtime: RuntimeDep,
    now: Now,
    from_: Annotated[
        BoundedDate | None, Query(alias="from", description="First day (London), inclusive")
    ] = None,
    to: Annotated[BoundedDate | None, Query(description="Last day (London), inclusive")] = None,
    format_: charts.FormatQuery = None,
) -> Any:
    """Volumes by source code and outcome, timeliness, conversion, re-referrals, what became of NFA."""
    start_on, end_on = _report_period(from_, to)
    # A transaction of its own: the report's planner settings are `SET LOCAL` (PostgreSQL).
    async with runtime.db.session(write=False, transaction=True) as session:
        report = await reports.referral_report(ctx(session, runtime, identity, now), start_on, end_on)
    fmt = charts.chosen_format(format_, request.headers.get("accept", ""))
    if fmt in charts.CHART_FORMATS:
        return await charts.chart_response(referral_chart(report), fmt, f"referrals-{start_on}-{end_on}")
    if fmt == charts.ReportFormat.csv:
        return _csv(reports.to_csv(report), f"referrals-{start_on}-{end_on}")
    return report


@router.get(
    "/reports/jsna",
    tags=["reports"],
    response_model=JsnaReport,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": jsna.CSV_SCHEMA},
                **charts.openapi_content("The feed by need"),
            },
            "description": "JSON, or CSV with `format=csv` (or Accept: text/csv), or a chart "
            "(`format=svg`/`png`: suppressed counts drawn as marked gaps)",
        }
    },
)
async def jsna_report(
    request: Request,
    identity: CanReadReports,
    runtime: RuntimeDep,
    now: Now,
    from_: Annotated[
        BoundedDate | None,
        Query(alias="from", description="A day (London) in the first period; default: a year before `to`"),
    ] = None,
    to: Annotated[
        BoundedDate | None, Query(description="A day (London) in the last period; default: today")
    ] = None,
    period: Annotated[JsnaPeriodKind, Query(description="Calendar months or quarters")] = "month",
    format: Annotated[
        JsnaFormat,
        Query(description="`csv` for CSV (columns in the 200's text/csv); `svg` or `png` for a chart"),
    ] = "json",
) -> Any:
    """Referred families by need, period and postcode district, small numbers suppressed, for
    the Joint Strategic Needs Assessment: whole periods that have ended only."""
    start_on, end_on = _report_period(from_, to)
    # A transaction of its own: the report's planner settings are `SET LOCAL` (PostgreSQL).
    async with runtime.db.session(write=False, transaction=True) as session:
        feed = await jsna.feed(ctx(session, runtime, identity, now), start_on, end_on, period)
    if format in charts.CHART_FORMATS:
        return await charts.chart_response(jsna_chart(feed.report()), format, f"jsna-{feed.start}-{feed.end}")
    if format == "csv" or "text/csv" in request.headers.get("accept", ""):
        return _csv(jsna.to_csv(feed), f"jsna-{feed.start}-{feed.end}")
    # Serialised once from plain values (`jsna.Feed`; the JsnaReport declared above, which a
    # test holds it to): validating ~37,000 cells as models, twice, cost seconds.
    return Response(feed.json(), media_type="application/json")


# ---- internal ----


@internal.post("/people/known", response_model=KnownPeopleRead)
async def known_people(
    body: KnownPeopleQuery, caller: ServiceIdentity, session: SessionDep, runtime: RuntimeDep, now: Now
) -> KnownPeopleRead:
    """Which of these person ids the index holds (docs/contracts.md). A merged-away id is
    known; `survivors` names the record it was merged into."""
    known, unknown, survivors = await service.known_people(
        ctx(session, runtime, caller, now), body.person_ids
    )
    return KnownPeopleRead(known=known, unknown=unknown, survivors=survivors)


@internal.post("/step-ups", response_model=ReferralRead, status_code=201)
async def step_up(
    body: StepUpCreate,
    response: Response,
    caller: ServiceIdentity,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
) -> ReferralRead:
    """A step-up from an early help episode: a safeguarding referral, once per `step_up_id`."""
    c = ctx(session, runtime, caller, now)
    referral, created = await service.create_step_up(c, body)
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/v1/referrals/{referral.id}"
    return await service.represent(c, referral)


@internal.post("/people/details", response_model=PeopleDetailsRead)
async def people_details(
    body: PeopleDetailsQuery, caller: ServiceIdentity, session: SessionDep, runtime: RuntimeDep, now: Now
) -> PeopleDetailsRead:
    """Names and dates of birth of these people, for a service that checked its caller may see
    them (the assessments service's episode family, docs/contracts.md). Follows merges."""
    found, unknown = await corrections.details(ctx(session, runtime, caller, now), body.person_ids)
    return PeopleDetailsRead(
        people=[
            PersonDetails(
                person_id=asked,
                current_person_id=p.id,
                kind=p.kind,  # type: ignore[arg-type]
                given_name=p.given_name,
                family_name=p.family_name,
                date_of_birth=p.date_of_birth,
                unborn_expected_on=p.unborn_expected_on,
            )
            for asked, p in found
        ],
        unknown=unknown,
    )


# ---- the threshold audit (issue 21; threshold_audit.py, policy.AUDIT_RULES) ----


@router.post(
    "/threshold-audits",
    status_code=201,
    response_model=ThresholdAuditRead,
    tags=["threshold audit"],
)
async def create_threshold_audit(
    body: ThresholdAuditCreate,
    response: Response,
    identity: CanTriage,
    session: SessionDep,
    runtime: RuntimeDep,
    idem: IdempotencyDep,
    now: Now,
) -> ThresholdAuditRead:
    """Sample a share of the period's MASH decisions, stratified by outcome (at least one per
    outcome decided), for blind second review by another MASH manager (a MASH manager). The
    same `seed` over the same decisions draws the same sample; a period with no decisions not
    already sampled is a 422 naming `decided_from`."""
    out = await threshold_audit.draw(ctx(session, runtime, identity, now), body)
    location = f"/v1/threshold-audits/{out.id}"
    await idem.complete(201, out.model_dump(mode="json"), location)
    response.headers["Location"] = location
    return out


@router.get(
    "/threshold-audits",
    response_model=ThresholdAuditList,
    tags=["threshold audit"],
)
async def list_threshold_audits(
    identity: CanTriage,
    session: SessionDep,
    runtime: RuntimeDep,
    page: PageDep,
    now: Now,
    updated_since: UpdatedSince = None,
) -> ThresholdAuditList:
    """The caller's MASH's threshold audits, newest first (a MASH manager); `updated_since`:
    those drawn, or with an item reviewed, after the moment."""
    rows, cursor = await threshold_audit.list_audits(
        ctx(session, runtime, identity, now), page, updated_since
    )
    return ThresholdAuditList(items=rows, next_cursor=cursor)


AuditId = Annotated[str, Path(min_length=1, max_length=36)]


@router.get(
    "/threshold-audits/{audit_id}",
    response_model=ThresholdAuditRead,
    tags=["threshold audit"],
)
async def get_threshold_audit(
    audit_id: AuditId, identity: CanTriage, session: SessionDep, runtime: RuntimeDep, now: Now
) -> ThresholdAuditRead:
    """The audit and its sample: each item's status and reviewer, never the original decision
    (the referral is named once the item's blind review is recorded)."""
    return await threshold_audit.get_audit(ctx(session, runtime, identity, now), audit_id)


@router.get(
    "/threshold-audits/{audit_id}/items/{item_id}",
    response_model=ThresholdAuditItemRead,
    tags=["threshold audit"],
)
async def get_threshold_audit_item(
    audit_id: AuditId,
    item_id: AuditId,
    identity: CanTriage,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
) -> ThresholdAuditItemRead:
    """The sampled referral's facts, blind: `original_decision` is null until the caller has
    recorded their own (a MASH manager other than the decider, on an item theirs or no one's)."""
    return await threshold_audit.item_view(ctx(session, runtime, identity, now), audit_id, item_id)


@router.post(
    "/threshold-audits/{audit_id}/items/{item_id}/review",
    response_model=ThresholdAuditItemRead,
    tags=["threshold audit"],
)
async def review_threshold_audit_item(
    audit_id: AuditId,
    item_id: AuditId,
    body: ThresholdAuditReviewCreate,
    identity: CanTriage,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
) -> ThresholdAuditItemRead:
    """Record your own level of need and outcome, once (409 after); the answer shows the
    original decision. The decider may not (403 `own-decision`)."""
    return await threshold_audit.review(ctx(session, runtime, identity, now), audit_id, item_id, body)


@router.post(
    "/threshold-audits/{audit_id}/items/{item_id}/agreement",
    response_model=ThresholdAuditItemRead,
    tags=["threshold audit"],
)
async def record_threshold_audit_agreement(
    audit_id: AuditId,
    item_id: AuditId,
    body: ThresholdAuditAgreementCreate,
    identity: CanTriage,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
) -> ThresholdAuditItemRead:
    """Having seen the original: agree, or disagree with a `reason` (required then); once."""
    return await threshold_audit.agreement(ctx(session, runtime, identity, now), audit_id, item_id, body)


@router.get(
    "/reports/threshold-audit",
    tags=["reports"],
    response_model=ThresholdAuditReport,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": threshold_audit.CSV_SCHEMA},
                **charts.openapi_content("The agreement report"),
            },
            "description": "JSON, or CSV with ?format=csv or Accept: text/csv, or a chart "
            "(`format=svg`/`png`)",
        }
    },
)
async def threshold_audit_report(
    request: Request,
    identity: CanReadReports,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    from_: Annotated[
        BoundedDate | None, Query(alias="from", description="First day (London) of the decisions, inclusive")
    ] = None,
    to: Annotated[BoundedDate | None, Query(description="Last day (London), inclusive")] = None,
    format: Annotated[
        Literal["json", "csv", "svg", "png"] | None,
        Query(description="json (default), csv, or a chart: svg or png"),
    ] = None,
) -> Any:
    """The threshold audit's agreement rate (and how often the blind review chose the same level
    and outcome) by the original level of need and by month, over the sampled decisions made in
    the period (default: the 365 days to today)."""
    start_on, end_on = _report_period(from_, to)
    report = await threshold_audit.report(ctx(session, runtime, identity, now), start_on, end_on)
    if format in charts.CHART_FORMATS:
        chart = threshold_audit_chart(report)
        return await charts.chart_response(chart, format, f"threshold-audit-{start_on}-{end_on}")
    if format == "csv" or (format is None and "text/csv" in request.headers.get("accept", "")):
        return Response(
            threshold_audit.to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="threshold-audit-{start_on}-{end_on}.csv"'
            },
        )
    return report


# ---- the FHIR R4 facade (issue 22, docs/fhir.md): a referral as a ServiceRequest ----
# The same scopes, rules and policy as /v1/referrals (services/referrals/fhir.py); errors leave
# as OperationOutcomes (shared/fhir.py).

fhir = APIRouter(prefix="/fhir", tags=["fhir"])
NhsToken = Annotated[
    str | None,
    Query(
        max_length=80,
        description=f"`{NHS_NUMBER_SYSTEM}|<NHS number>`: referrals naming the child with this NHS number",
    ),
]


def _disclosed(disclosures: Any, c: service.Context, referral: Referral) -> None:
    """A FHIR read of a referral is noted as `GET /v1/referrals/{id}` notes it."""
    people = fhir_rules.people_of(c, referral)
    disclosures.note(people, "referral", referral.id, provided_by_agency_id=referral.source_agency_id)


@fhir.get(
    "/ServiceRequest/{referral_id}", response_class=FhirResponse, responses=fhir_responses("ServiceRequest")
)
async def fhir_read_service_request(
    referral_id: Id,
    identity: CanRead,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    disclosures: DisclosuresDep,
) -> FhirResponse:
    """A referral as a FHIR ServiceRequest (as `GET /v1/referrals/{id}`: a disclosure when it is one)."""
    c = ctx(session, runtime, identity, now)
    referral, resource = await fhir_rules.read(c, referral_id)
    _disclosed(disclosures, c, referral)
    return FhirResponse(resource)


@fhir.get(
    "/ServiceRequest", response_class=FhirResponse, responses=fhir_responses("ServiceRequest", bundle=True)
)
async def fhir_search_service_requests(
    request: Request,
    identity: CanRead,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    disclosures: DisclosuresDep,
    patient_identifier: Annotated[NhsToken, Query(alias="patient.identifier")] = None,
    subject_identifier: Annotated[NhsToken, Query(alias="subject:identifier")] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=fhir_rules.SEARCH_LIMIT)] = fhir_rules.SEARCH_LIMIT,
) -> FhirResponse:
    """Referrals naming a child, by NHS number (`patient.identifier` or `subject:identifier`),
    newest first: a searchset Bundle of those the caller may see (partners: their own)."""
    given = [
        (n, v)
        for n, v in (("patient.identifier", patient_identifier), ("subject:identifier", subject_identifier))
        if v
    ]
    if len(given) != 1:
        raise ValidationProblem("patient.identifier", "search by one patient identifier (the NHS number)")
    nhs_number = nhs_number_token(given[0][1], given[0][0])
    c = ctx(session, runtime, identity, now)
    found = await fhir_rules.search(c, nhs_number, count)
    for referral, _ in found:
        _disclosed(disclosures, c, referral)
    return FhirResponse(searchset([r for _, r in found], str(request.url.path) + "?" + request.url.query))


@fhir.post(
    "/ServiceRequest",
    status_code=201,
    response_class=FhirResponse,
    responses=fhir_responses("ServiceRequest", created=True),
    openapi_extra=request_body("ServiceRequest"),
)
async def fhir_create_service_request(
    request: Request, identity: CanCreate, session: SessionDep, runtime: RuntimeDep, now: Now
) -> FhirResponse:
    """Submit a referral as a FHIR ServiceRequest (every `POST /v1/referrals` rule holds);
    201 with its Location, or 422 naming the element."""
    doc = await resource_body(request)
    resource = await fhir_rules.create(ctx(session, runtime, identity, now), doc)
    location = f"/fhir/ServiceRequest/{resource['id']}"
    return FhirResponse(resource, status_code=201, headers={"Location": location})


# ---- bulk import (issue 22: imports.py, docs/import.md) ----

CanImport = Annotated[Identity, Depends(require_scope(IMPORT_SCOPE))]


@router.post("/imports/referrals", response_model=ReferralImportResult, tags=["imports"])
async def import_referrals(
    body: ReferralImportBatch, identity: CanImport, session: SessionDep, runtime: RuntimeDep, now: Now
) -> ReferralImportResult:
    """One batch of an incumbent system's people, relationships and referrals, stored in one
    transaction (any row wrong: 422 naming each `<list>.<row>.<field>`, nothing stored). People
    are matched against the person index (a certain match is linked, not doubled). A row
    already imported (same source id) is skipped and answered with what it created
    (`created: false`). The council's admin client only (`bulk-import`: 403 otherwise)."""
    return await imports.import_batch(ctx(session, runtime, identity, now), body)
