"""HTTP endpoints of the referrals service: thin, they call `service`, `people`, `journey`, `reports`.

Scopes are checked here as well as at the gateway; object-level rules (whose referral is
whose) are in `service.visible`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.responses import JSONResponse

from services.referrals import journey as journey_flow
from services.referrals import people, reports, service
from services.referrals.models import Referral
from services.referrals.repository import ReferralFilters, list_referrals
from services.referrals.schemas import (
    DecisionCreate,
    JourneyRead,
    MergeCreate,
    MergeRead,
    PersonMatchRead,
    PersonRead,
    PersonSearchResult,
    ReferralCreate,
    ReferralList,
    ReferralRead,
    StepUpCreate,
    WithdrawRequest,
)
from shared.calendar import LONDON
from shared.deps import IdempotencyDep, RuntimeDep, SessionDep
from shared.etag import check_if_match, set_etag
from shared.events import utcnow
from shared.identity import Identity, ServiceIdentity, require_scope
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


async def now_of(request: Request) -> datetime:
    """The current time; tests set `app.state.clock` to travel to a given moment."""
    clock = getattr(request.app.state, "clock", None)
    return clock() if clock else utcnow()


Now = Annotated[datetime, Depends(now_of)]


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
            day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            return datetime.combine(day, datetime.min.time(), tzinfo=LONDON)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationProblem(name, "a date (YYYY-MM-DD) or an ISO 8601 timestamp") from exc
    if moment.tzinfo is None:
        raise ValidationProblem(name, "a timestamp needs its UTC offset")
    return moment


@router.get("/referrals", response_model=ReferralList, tags=["referrals"])
async def list_referrals_endpoint(
    identity: CanRead,
    session: SessionDep,
    page: PageDep,
    status: Annotated[str | None, Query(pattern="^(received|decided|withdrawn|linked)$")] = None,
    source_agency_id: Annotated[str | None, Query(max_length=120)] = None,
    person_id: Annotated[str | None, Query(max_length=36)] = None,
    received_from: Annotated[
        str | None, Query(max_length=40, description="Date or timestamp, inclusive")
    ] = None,
    received_to: Annotated[
        str | None, Query(max_length=40, description="Date (inclusive) or timestamp (exclusive)")
    ] = None,
) -> ReferralList:
    """Referrals, newest first. Partner agencies see only those their agency submitted."""
    filters = ReferralFilters(
        status=status,
        source_agency_id=source_agency_id,
        person_id=person_id,
        received_from=_moment(received_from, "received_from", end=False),
        received_to=_moment(received_to, "received_to", end=True),
        only_agency_id=None if service.reads_all(identity) else identity.agency_id,
    )
    rows = await list_referrals(session, filters, page)
    items, cursor = page_of(rows, page, "received_at")
    return ReferralList(items=[service.summary(r) for r in items], next_cursor=cursor)


@router.get("/referrals/{referral_id}", response_model=ReferralRead, tags=["referrals"])
async def get_referral(
    referral_id: Id, response: Response, identity: CanRead, session: SessionDep, runtime: RuntimeDep, now: Now
) -> ReferralRead:
    c = ctx(session, runtime, identity, now)
    referral = await service.visible(c, referral_id, with_rows=True)
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


# ---- the person index ----


def _person(p: Any) -> PersonRead:
    return PersonRead.model_validate(p, from_attributes=True)


@router.get("/people", response_model=PersonSearchResult, tags=["people"])
async def search_people(
    _identity: CanSearchPeople,
    session: SessionDep,
    runtime: RuntimeDep,
    nhs_number: Annotated[str | None, Query(max_length=14)] = None,
    family_name: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    given_name: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    date_of_birth: IsoDate | None = None,
    postcode: Annotated[str | None, Query(max_length=10)] = None,
) -> PersonSearchResult:
    """Ranked matches with a score: by NHS number, or two of family name, date of birth, postcode."""
    q = people.SearchQuery(nhs_number, family_name, given_name, date_of_birth, postcode)
    found = await people.search(session, q, runtime.settings)  # type: ignore[arg-type]
    return PersonSearchResult(
        items=[
            PersonMatchRead(
                **_person(p).model_dump(),
                score=s.score,
                match="certain" if s.certain else "possible",
                reasons=s.reasons,
            )
            for p, s in found
        ]
    )


@router.get("/people/{person_id}", response_model=PersonRead, tags=["people"])
async def get_person(person_id: Id, _identity: CanSearchPeople, session: SessionDep) -> PersonRead:
    """A person in the index; `merged_into_id` names the surviving record of a merged duplicate."""
    return _person(await people.get(session, person_id))


@router.get("/people/{person_id}/journey", response_model=JourneyRead, tags=["people"])
async def person_journey(
    person_id: Id, identity: CanSearchPeople, session: SessionDep, runtime: RuntimeDep, now: Now
) -> JourneyRead:
    """Every referral and decision (here) and episode event (assessments service), in time order."""
    return await journey_flow.journey(ctx(session, runtime, identity, now), person_id)


def _merge(m: Any) -> MergeRead:
    return MergeRead.model_validate(m, from_attributes=True)


@router.post("/people/{person_id}/merge", status_code=201, response_model=MergeRead, tags=["triage"])
async def merge_person(
    person_id: Id,
    body: MergeCreate,
    identity: CanTriage,
    session: SessionDep,
    idem: IdempotencyDep,
    now: Now,
) -> MergeRead:
    """Merge a duplicate into the record that survives; recorded, and reversible."""
    record = await people.merge(
        session, person_id, body.into_person_id, identity=identity, now=now, reason=body.reason
    )
    out = _merge(record)
    await idem.complete(201, out.model_dump(mode="json"))
    return out


@router.post("/people/merges/{merge_id}/undo", response_model=MergeRead, tags=["triage"])
async def undo_merge(merge_id: Id, identity: CanTriage, session: SessionDep, now: Now) -> MergeRead:
    return _merge(await people.undo_merge(session, merge_id, identity=identity, now=now))


# ---- reports ----


@router.get(
    "/reports/referrals",
    tags=["reports"],
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV on Accept: text/csv"}},
)
async def referral_report(
    request: Request,
    _identity: CanReadReports,
    runtime: RuntimeDep,
    from_: Annotated[
        BoundedDate | None, Query(alias="from", description="First day (London), inclusive")
    ] = None,
    to: Annotated[BoundedDate | None, Query(description="Last day (London), inclusive")] = None,
) -> Response:
    """Volumes by source code and outcome, timeliness, conversion, re-referrals, what became of NFA."""
    end_on = to or datetime.now(LONDON).date()
    start_on = from_ or end_on - timedelta(days=365)
    if start_on > end_on:
        raise ValidationProblem("from", "must not be after to")
    # A transaction of its own: the report's planner settings are `SET LOCAL` (PostgreSQL).
    async with runtime.db.session(write=False, transaction=True) as session:
        report = await reports.referral_report(session, start_on, end_on)
    if "text/csv" in request.headers.get("accept", ""):
        return Response(
            reports.to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="referrals-{start_on}-{end_on}.csv"'},
        )
    return JSONResponse(report)


# ---- internal ----


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
