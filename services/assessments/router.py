"""HTTP endpoints of the assessments service: thin, they call the service modules."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from services.assessments import (
    assessments,
    drift,
    episodes,
    family,
    imports,
    notes,
    plans,
    reports,
    step_ups,
    supporting_families,
    timeline,
)
from services.assessments import fhir as fhir_rules
from services.assessments import import_plans as import_plans_rules
from services.assessments.access import Viewer, ViewerDep
from services.assessments.app_runtime import AppRuntimeDep
from services.assessments.context import Context
from services.assessments.report_charts import drift_chart, episode_chart, sf_summary_chart
from services.assessments.schemas import (
    DRIFT_CSV,
    EPISODE_REPORT_CSV,
    SF_CLAIMS_CSV,
    SF_SUMMARY_CSV,
    ActionRead,
    ActionUpdate,
    AssessmentApprove,
    AssessmentCreate,
    AssessmentList,
    AssessmentRead,
    AssessmentReturn,
    AssessmentUpdate,
    CaseloadList,
    CaseNoteAmend,
    CaseNoteCreate,
    CaseNoteHistory,
    CaseNoteList,
    CaseNoteRead,
    Chronology,
    ChronologyKind,
    ContactCreate,
    ContactList,
    ContactRead,
    DriftList,
    EpisodeClose,
    EpisodeCreate,
    EpisodeImportBatch,
    EpisodeImportResult,
    EpisodeList,
    EpisodeRead,
    EpisodeReport,
    ExtensionCreate,
    FamilyMemberList,
    FamilyMembersSet,
    FamilyRead,
    JointVisitCreate,
    JointVisitRead,
    LeadProfessionalRead,
    LeadProfessionalSet,
    PlanImportBatch,
    PlanImportResult,
    PlanPut,
    PlanRead,
    ReviewCreate,
    ReviewRead,
    SfFamilies,
    SfSummary,
    StepUpCreate,
    StepUpRead,
    TafMemberCreate,
    TafMemberRead,
    Timeline,
)
from shared import charts
from shared.changes import UpdatedSince
from shared.clock import utcnow
from shared.context import Now
from shared.deps import IdempotencyDep, SessionDep
from shared.etag import check_if_match, set_etag
from shared.fhir import FhirResponse, fhir_responses, searchset
from shared.idempotency import IdempotencyClaim, claim
from shared.identity import ServiceIdentity, require_scope
from shared.imports import SCOPE as IMPORT_SCOPE
from shared.pagination import PageDep, PageParams, page_params_up_to
from shared.validation import BoundedDate, IsoUtcDatetime

# The chronology is read whole: a page of up to 500 items (docs/performance.md).
ChronologyPage = Annotated[PageParams, Depends(page_params_up_to(500))]

router = APIRouter(prefix="/v1", tags=["assessments"])
internal = APIRouter(prefix="/internal", include_in_schema=False)

READ = [Depends(require_scope("episodes:read"))]
WRITE = [Depends(require_scope("episodes:write"))]
Id = Annotated[str, Path(max_length=36)]


async def request_context(
    session: SessionDep, runtime: AppRuntimeDep, viewer: ViewerDep, now: Now
) -> Context:
    """The request's `Context`, built once: its transaction, the caller's viewer, its moment."""
    return Context.of(session, runtime, viewer, now)


Ctx = Annotated[Context, Depends(request_context)]


# --- episodes -------------------------------------------------------------------------------


@router.post("/episodes", status_code=201, response_model=EpisodeRead, dependencies=WRITE)
async def create_episode(
    body: EpisodeCreate,
    ctx: Ctx,
    idem: IdempotencyDep,
    response: Response,
) -> EpisodeRead:
    """Open a step-down (`stepdown_panel_on`, `social_worker`) or self-referral episode."""
    episode = await episodes.create_episode(ctx, body)
    out = await episodes.episode_read(ctx, episode)
    location = f"/v1/episodes/{episode.id}"
    response.headers["Location"] = location
    set_etag(response, episode.id, episode.version)
    await idem.complete(201, out.model_dump(mode="json"), location)
    return out


@router.get("/episodes", response_model=EpisodeList, dependencies=READ)
async def list_episodes(
    ctx: Ctx,
    page: PageDep,
    person_id: Annotated[str | None, Query(max_length=36)] = None,
    status: Literal["open", "closed"] | None = None,
    updated_since: UpdatedSince = None,
) -> EpisodeList:
    """Only the episodes the caller may see."""
    return await episodes.list_episodes(
        ctx, page, person_id=person_id, status=status, updated_since=updated_since
    )


@router.get("/me/caseload", response_model=CaseloadList, dependencies=READ)
async def my_caseload(ctx: Ctx, page: PageDep, updated_since: UpdatedSince = None) -> CaseloadList:
    """Open episodes where the calling practitioner is the lead professional or a TAF member
    practitioner, newest first. A system call naming no practitioner: 403
    `practitioner-required`."""
    return await episodes.caseload(ctx, page, updated_since)


@router.get("/episodes/{episode_id}", response_model=EpisodeRead, dependencies=READ)
async def get_episode(episode_id: Id, ctx: Ctx, response: Response) -> EpisodeRead:
    out, version = await episodes.read_episode(ctx, episode_id)
    set_etag(response, episode_id, version)
    return out


@router.put(
    "/episodes/{episode_id}/lead-professional", response_model=LeadProfessionalRead, dependencies=WRITE
)
async def set_lead_professional(episode_id: Id, body: LeadProfessionalSet, ctx: Ctx) -> LeadProfessionalRead:
    return await episodes.set_lead_professional(ctx, episode_id, body)


@router.post(
    "/episodes/{episode_id}/taf-members", status_code=201, response_model=TafMemberRead, dependencies=WRITE
)
async def add_taf_member(
    episode_id: Id, body: TafMemberCreate, ctx: Ctx, idem: IdempotencyDep
) -> TafMemberRead:
    out = await episodes.add_taf_member(ctx, episode_id, body)
    await idem.complete(201, out.model_dump(mode="json"))
    return out


@router.delete("/episodes/{episode_id}/taf-members/{member_id}", status_code=204, dependencies=WRITE)
async def remove_taf_member(episode_id: Id, member_id: Id, ctx: Ctx) -> Response:
    await episodes.remove_taf_member(ctx, episode_id, member_id)
    return Response(status_code=204)


@router.post(
    "/episodes/{episode_id}/contacts", status_code=201, response_model=ContactRead, dependencies=WRITE
)
async def record_contact(
    episode_id: Id,
    body: ContactCreate,
    ctx: Ctx,
    idem: IdempotencyDep,
) -> ContactRead:
    out = await episodes.record_contact(ctx, episode_id, body)
    await idem.complete(201, out.model_dump(mode="json"))
    return out


@router.post(
    "/episodes/{episode_id}/step-up",
    status_code=201,
    response_model=StepUpRead,
    dependencies=WRITE,
    responses={202: {"description": "Stored; the referrals service has not confirmed yet (retried)"}},
)
async def step_up(
    episode_id: Id, body: StepUpCreate, request: Request, runtime: AppRuntimeDep, viewer: ViewerDep, now: Now
) -> Any:
    """Create a safeguarding referral in the MASH; the episode stays open."""
    # Three short transactions, none held open across the HTTP call (so this endpoint, not
    # the session dependency, owns them and the Idempotency-Key):
    # 1. store the step-up (its id is the idempotency key at the referrals service) and claim
    #    the client's Idempotency-Key;
    # 2. call the referrals service, retrying with backoff a few times;
    # 3. record the answer, and complete the Idempotency-Key.
    # A step-up still unconfirmed after the retries stays `pending` (202) and the background
    # worker keeps trying with the same `step_up_id`, so there is never a second referral.
    async with runtime.db.session() as session:
        idem = await claim(request, session, runtime.tables, viewer.identity)
        record, people = await step_ups.request_step_up(
            Context.of(session, runtime, viewer, now), episode_id, body
        )
        step_up_id, payload = record.id, step_ups.step_up_payload(record, people)
    referral_id, attempts = await step_ups.send_step_up(runtime, step_up_id, payload)
    async with runtime.db.session() as session:
        out = await step_ups.record_step_up_answer(
            Context.of(session, runtime, viewer, utcnow()), step_up_id, referral_id, attempts
        )
        status = 201 if referral_id else 202
        await IdempotencyClaim(session, runtime.tables, viewer.identity.client_id, idem.key).complete(
            status, out.model_dump(mode="json"), f"/v1/episodes/{episode_id}/step-ups/{step_up_id}"
        )
    return JSONResponse(out.model_dump(mode="json"), status_code=status)


@router.get("/episodes/{episode_id}/step-ups", response_model=list[StepUpRead], dependencies=READ)
async def list_step_ups(episode_id: Id, ctx: Ctx, updated_since: UpdatedSince = None) -> list[StepUpRead]:
    return await step_ups.list_step_ups(ctx, episode_id, updated_since)


@router.post("/episodes/{episode_id}/joint-visit", response_model=JointVisitRead, dependencies=WRITE)
async def record_joint_visit(episode_id: Id, body: JointVisitCreate, ctx: Ctx) -> dict[str, Any]:
    """Step-down episodes: the joint visit by the social worker and the lead professional."""
    return await episodes.record_joint_visit(ctx, episode_id, body)


@router.post("/episodes/{episode_id}/close", response_model=EpisodeRead, dependencies=WRITE)
async def close_episode(episode_id: Id, body: EpisodeClose, ctx: Ctx) -> EpisodeRead:
    return await episodes.close_episode(ctx, episode_id, body)


# --- assessments ----------------------------------------------------------------------------


async def _assessment_out(ctx: Context, a: Any, response: Response) -> AssessmentRead:
    set_etag(response, a.id, a.version)
    return await assessments.to_read(ctx, a)


@router.post(
    "/episodes/{episode_id}/assessments", status_code=201, response_model=AssessmentRead, dependencies=WRITE
)
async def start_assessment(
    episode_id: Id,
    ctx: Ctx,
    idem: IdempotencyDep,
    response: Response,
    body: AssessmentCreate | None = None,
) -> AssessmentRead:
    a = await assessments.start_assessment(ctx, episode_id, body or AssessmentCreate())
    out = await _assessment_out(ctx, a, response)
    location = f"/v1/assessments/{a.id}"
    response.headers["Location"] = location
    await idem.complete(201, out.model_dump(mode="json"), location)
    return out


@router.get("/assessments", response_model=AssessmentList, dependencies=READ)
async def assessments_awaiting_approval(
    ctx: Ctx,
    page: PageDep,
    status: Literal["submitted"] = "submitted",
    updated_since: UpdatedSince = None,
) -> AssessmentList:
    """Assessments awaiting approval (`status=submitted`), oldest first: early help managers
    only (403 `not-permitted` otherwise). The caller's own are left out."""
    return await assessments.awaiting_approval(ctx, page, updated_since)


@router.get("/assessments/{assessment_id}", response_model=AssessmentRead, dependencies=READ)
async def get_assessment(assessment_id: Id, ctx: Ctx, response: Response) -> AssessmentRead:
    a = await assessments.read_assessment(ctx, assessment_id)
    return await _assessment_out(ctx, a, response)


@router.patch("/assessments/{assessment_id}", response_model=AssessmentRead, dependencies=WRITE)
async def update_assessment(
    assessment_id: Id,
    body: AssessmentUpdate,
    request: Request,
    ctx: Ctx,
    response: Response,
) -> AssessmentRead:
    """Needs `If-Match` with the current ETag (428 without, 412 when stale)."""
    a = await assessments.load_for_change(ctx, assessment_id)
    check_if_match(request, a.id, a.version)
    a = await assessments.update_assessment(ctx, a, body)
    return await _assessment_out(ctx, a, response)


@router.post("/assessments/{assessment_id}/submit", response_model=AssessmentRead, dependencies=WRITE)
async def submit_assessment(assessment_id: Id, ctx: Ctx, response: Response) -> AssessmentRead:
    a = await assessments.load_for_change(ctx, assessment_id)
    a = await assessments.submit_assessment(ctx, a)
    return await _assessment_out(ctx, a, response)


@router.post("/assessments/{assessment_id}/approve", response_model=AssessmentRead, dependencies=WRITE)
async def approve_assessment(
    assessment_id: Id,
    body: AssessmentApprove,
    ctx: Ctx,
    response: Response,
) -> AssessmentRead:
    a = await assessments.load_for_change(ctx, assessment_id)
    a = await assessments.approve_assessment(ctx, a, body)
    return await _assessment_out(ctx, a, response)


@router.post("/assessments/{assessment_id}/return", response_model=AssessmentRead, dependencies=WRITE)
async def return_assessment(
    assessment_id: Id, body: AssessmentReturn, ctx: Ctx, response: Response
) -> AssessmentRead:
    a = await assessments.load_for_change(ctx, assessment_id)
    a = await assessments.return_assessment(ctx, a, body)
    return await _assessment_out(ctx, a, response)


@router.post(
    "/assessments/{assessment_id}/extensions",
    response_model=AssessmentRead,
    status_code=201,
    dependencies=WRITE,
)
async def extend_assessment(
    assessment_id: Id,
    body: ExtensionCreate,
    ctx: Ctx,
    response: Response,
) -> AssessmentRead:
    """Move the due date: a manager's approval and a reason are required."""
    a = await assessments.load_for_change(ctx, assessment_id)
    a = await assessments.extend_assessment(ctx, a, body)
    return await _assessment_out(ctx, a, response)


# --- plans, actions, reviews ----------------------------------------------------------------


@router.put("/episodes/{episode_id}/plan", response_model=PlanRead, dependencies=WRITE)
async def put_plan(episode_id: Id, body: PlanPut, ctx: Ctx) -> PlanRead:
    """Agree a new version of the TAF plan (SMART, or 422 naming each faulty item)."""
    return await plans.put_plan(ctx, episode_id, body)


@router.get("/episodes/{episode_id}/plan", response_model=PlanRead, dependencies=READ)
async def get_plan(episode_id: Id, ctx: Ctx) -> PlanRead:
    return await plans.read_plan(ctx, episode_id, None)


@router.get("/episodes/{episode_id}/plan/versions/{version}", response_model=PlanRead, dependencies=READ)
async def get_plan_version(
    episode_id: Id, version: Annotated[int, Path(ge=1, le=100_000)], ctx: Ctx
) -> PlanRead:
    return await plans.read_plan(ctx, episode_id, version)


@router.patch("/actions/{action_id}", response_model=ActionRead, dependencies=WRITE)
async def update_action(
    action_id: Id,
    body: ActionUpdate,
    request: Request,
    ctx: Ctx,
    response: Response,
) -> ActionRead:
    """Only the owner: the owning practitioner (or an early help manager) when the action
    names one, else the owning agency (403 `not-action-owner` for others who can see the
    episode, 404 for those who cannot). Needs `If-Match`."""

    def check(resource_id: str, version: int) -> None:
        check_if_match(request, resource_id, version)

    out, row = await plans.update_action(ctx, action_id, body, check)
    set_etag(response, row.action_id, row.version)
    return out


@router.post("/episodes/{episode_id}/reviews", status_code=201, response_model=ReviewRead, dependencies=WRITE)
async def hold_review(
    episode_id: Id,
    body: ReviewCreate,
    ctx: Ctx,
    idem: IdempotencyDep,
) -> ReviewRead:
    out = await plans.hold_review(ctx, episode_id, body)
    await idem.complete(201, out.model_dump(mode="json"))
    return out


@router.get("/episodes/{episode_id}/reviews", response_model=list[ReviewRead], dependencies=READ)
async def list_reviews(episode_id: Id, ctx: Ctx, updated_since: UpdatedSince = None) -> list[ReviewRead]:
    return await plans.list_reviews(ctx, episode_id, updated_since)


# --- reports --------------------------------------------------------------------------------


@router.get(
    "/reports/episodes",
    response_model=EpisodeReport,
    dependencies=[Depends(require_scope("reports:read"))],
    responses={
        200: {
            "description": "The report: JSON, or CSV with `Accept: text/csv` (or `format=csv`), or a "
            "chart (`format=svg`/`png`)",
            "content": {"text/csv": EPISODE_REPORT_CSV, **charts.openapi_content("The report")},
        }
    },
)
async def episode_report(
    request: Request,
    ctx: Ctx,
    opened_from: BoundedDate | None = None,
    opened_to: BoundedDate | None = None,
    format_: charts.FormatQuery = None,
) -> Any:
    """Timeliness, closures by reason, outcomes by headline and drift. `Accept: text/csv` for CSV."""
    # A transaction of its own: the report's planner settings are `SET LOCAL` (PostgreSQL).
    async with ctx.runtime.db.session(write=False, transaction=True) as session:
        report = await reports.episode_report(replace(ctx, session=session), opened_from, opened_to)
    fmt = charts.chosen_format(format_, request.headers.get("accept", ""))
    if fmt in charts.CHART_FORMATS:
        name = f"episodes-{opened_from or 'start'}-{opened_to or 'today'}"
        return await charts.chart_response(episode_chart(report), fmt, name)
    if fmt == charts.ReportFormat.csv:
        return Response(reports.report_csv(report), media_type="text/csv")
    return report


@router.get(
    "/reports/drift",
    response_model=DriftList,
    dependencies=[Depends(require_scope("reports:read"))],
    responses={
        200: {
            "description": "Drifting episodes: a page as JSON, or every one as CSV with `format=csv`, "
            "or counted by reason and months open as a chart (`format=svg`/`png`)",
            "content": {"text/csv": DRIFT_CSV, **charts.openapi_content("The drifting episodes counted")},
        }
    },
)
async def drift_report(
    ctx: Ctx,
    page: PageDep,
    format: Annotated[
        Literal["json", "csv", "svg", "png"],
        Query(description="`csv`: every row, not a page; `svg` or `png`: a chart of the counts"),
    ] = "json",
) -> Any:
    """Open episodes open more than `drift_open_months`, or whose latest three reviews show no
    movement in outcome scores, oldest first (issue 21)."""
    if format in charts.CHART_FORMATS:
        summary = await drift.drift_summary(ctx)
        return await charts.chart_response(drift_chart(summary), format, f"drift-{summary.on}")
    if format == "csv":
        return Response(await drift.drift_csv(ctx), media_type="text/csv")
    return await drift.drift_list(ctx, page)


# --- contacts, case notes and the chronology (issue 20) -------------------------------------


@router.get("/episodes/{episode_id}/contacts", response_model=ContactList, dependencies=READ)
async def list_contacts(
    episode_id: Id, ctx: Ctx, page: PageDep, updated_since: UpdatedSince = None
) -> ContactList:
    """The episode's contacts, newest first (`contact_at`); read like the episode."""
    return await notes.list_contacts(ctx, episode_id, page, updated_since)


@router.get("/episodes/{episode_id}/contacts/{contact_id}", response_model=ContactRead, dependencies=READ)
async def get_contact(episode_id: Id, contact_id: Id, ctx: Ctx) -> ContactRead:
    return await notes.read_contact(ctx, episode_id, contact_id)


def _note_out(note: Any, response: Response) -> CaseNoteRead:
    set_etag(response, note.id, note.version)
    return notes.note_read(note)


@router.post("/episodes/{episode_id}/notes", status_code=201, response_model=CaseNoteRead, dependencies=WRITE)
async def write_note(
    episode_id: Id, body: CaseNoteCreate, ctx: Ctx, idem: IdempotencyDep, response: Response
) -> CaseNoteRead:
    """A case note; the author (practitioner, agency, client) comes from the token.
    `restricted: true` (early help only) hides it from every other agency."""
    note = await notes.write_note(ctx, episode_id, body)
    out = _note_out(note, response)
    location = f"/v1/episodes/{episode_id}/notes/{note.id}"
    response.headers["Location"] = location
    await idem.complete(201, out.model_dump(mode="json"), location)
    return out


@router.get("/episodes/{episode_id}/notes", response_model=CaseNoteList, dependencies=READ)
async def list_notes(
    episode_id: Id, ctx: Ctx, page: PageDep, updated_since: UpdatedSince = None
) -> CaseNoteList:
    """Newest first (`occurred_at`); restricted notes only for early help and the MASH."""
    return await notes.list_notes(ctx, episode_id, page, updated_since)


@router.get("/episodes/{episode_id}/notes/{note_id}", response_model=CaseNoteRead, dependencies=READ)
async def get_note(episode_id: Id, note_id: Id, ctx: Ctx, response: Response) -> CaseNoteRead:
    return _note_out(await notes.read_note(ctx, episode_id, note_id), response)


@router.patch("/episodes/{episode_id}/notes/{note_id}", response_model=CaseNoteRead, dependencies=WRITE)
async def amend_note(
    episode_id: Id, note_id: Id, body: CaseNoteAmend, request: Request, ctx: Ctx, response: Response
) -> CaseNoteRead:
    """Amend a note (its author, or an early help manager): `reason` required, every earlier
    version kept (`.../history`). Needs `If-Match` (428 without, 412 when stale)."""
    note = await notes.load_for_amend(ctx, episode_id, note_id)
    check_if_match(request, note.id, note.version)
    return _note_out(await notes.amend_note(ctx, note, body), response)


@router.get(
    "/episodes/{episode_id}/notes/{note_id}/history", response_model=CaseNoteHistory, dependencies=READ
)
async def note_history(episode_id: Id, note_id: Id, ctx: Ctx) -> CaseNoteHistory:
    """Every version of the note, the first one first, with who recorded it and why."""
    return await notes.note_history(ctx, episode_id, note_id)


@router.get("/episodes/{episode_id}/chronology", response_model=Chronology, dependencies=READ)
async def chronology(
    episode_id: Id,
    ctx: Ctx,
    page: ChronologyPage,
    order: Literal["asc", "desc"] = "desc",
    kind: Annotated[list[ChronologyKind] | None, Query(max_length=20)] = None,
    since: Annotated[IsoUtcDatetime | None, Query(alias="from")] = None,
    until: Annotated[IsoUtcDatetime | None, Query(alias="to")] = None,
    updated_since: UpdatedSince = None,
) -> Chronology:
    """The episode's record in time, newest first (`order=asc` for oldest first): contacts,
    case notes, assessments, plan versions, reviews, lead professional and TAF changes,
    step-up/down, the joint visit, opening and closure; each item links to its source.
    Filters: `kind` (repeatable), `from`, `to` (inclusive); `updated_since`: the items whose
    moment is after it (exclusive; an item is an event, it does not change)."""
    return await timeline.chronology(
        ctx,
        episode_id,
        page,
        order=order,
        kinds=list(kind) if kind else None,
        since=since,
        until=until,
        changed_after=updated_since,
    )


# --- the episode's family (issue 20: family.py) ---------------------------------------------


@router.put("/episodes/{episode_id}/family-members", response_model=FamilyMemberList, dependencies=WRITE)
async def set_family_members(episode_id: Id, body: FamilyMembersSet, ctx: Ctx) -> FamilyMemberList:
    """Replace the episode's family (its children stay): the episode's managers."""
    return FamilyMemberList(items=await family.set_members(ctx, episode_id, body))


@router.get("/episodes/{episode_id}/family", response_model=FamilyRead, dependencies=READ)
async def get_family(episode_id: Id, ctx: Ctx) -> FamilyRead:
    """The family's names and dates of birth, for whoever may see the episode (a disclosure)."""
    return await family.family(ctx, episode_id)


# --- internal -------------------------------------------------------------------------------


@internal.get("/people/{person_id}/timeline", response_model=Timeline)
async def person_timeline(
    person_id: Id,
    caller: ServiceIdentity,
    session: SessionDep,
    runtime: AppRuntimeDep,
    now: Now,
    agency_id: Annotated[str, Query(min_length=1, max_length=120)],
    agency_type: Annotated[str, Query(min_length=1, max_length=40)],
) -> Timeline:
    return await timeline.person_timeline(
        Context.of(session, runtime, Viewer(caller, runtime), now), person_id, agency_id, agency_type
    )


# --- Supporting Families (issue 21 item 1: supporting_families.py) --------------------------

REPORTS = [Depends(require_scope("reports:read"))]
SfFrom = Annotated[BoundedDate | None, Query(alias="from", description="First day opened (UTC), inclusive")]
SfTo = Annotated[BoundedDate | None, Query(description="Last day opened (UTC), inclusive")]


@router.get(
    "/reports/supporting-families",
    response_model=SfFamilies,
    dependencies=REPORTS,
    responses={403: {"description": "Not an agency that reads reports (`read-family-outcomes`)"}},
)
async def supporting_families_report(
    ctx: Ctx, page: PageDep, from_: SfFrom = None, to: SfTo = None
) -> SfFamilies:
    """Per family (episode) opened in [from, to], oldest first: the headlines at the start (from
    the referral's needs and the first plan), those met (with the evidence) and sustained, and
    whether it may be claimed. Episode ids and references only, never names."""
    return await supporting_families.families(ctx, from_, to, page)


@router.get(
    "/reports/supporting-families/claims",
    dependencies=REPORTS,
    response_class=Response,
    responses={
        200: {"description": "The claimable families, one row each", "content": {"text/csv": SF_CLAIMS_CSV}},
        403: {"description": "Not an agency that reads reports (`read-family-outcomes`)"},
    },
)
async def supporting_families_claims(ctx: Ctx, from_: SfFrom = None, to: SfTo = None) -> Response:
    """The claims-ready export (CSV): families opened in [from, to] with multiple needs at the
    start, every start headline met and sustained, with the evidence behind each."""
    return Response(
        await supporting_families.claims_csv(ctx, from_, to), media_type="text/csv; charset=utf-8"
    )


@router.get(
    "/reports/supporting-families/summary",
    response_model=SfSummary,
    dependencies=REPORTS,
    responses={
        200: {
            "description": "JSON, or CSV with `format=csv`, or a chart with `format=svg`/`png`",
            "content": {"text/csv": SF_SUMMARY_CSV, **charts.openapi_content("The quarter's figures")},
        },
        403: {"description": "Not an agency that reads reports (`read-reports`)"},
    },
)
async def supporting_families_summary(
    ctx: Ctx,
    quarter: Annotated[str, Query(max_length=10, description="A calendar quarter, `2026-Q3`")],
    format: Literal["json", "csv", "svg", "png"] = "json",
) -> Any:
    """The quarter's families started, with multiple needs, met, sustained and claimable, in all
    and by headline."""
    summary = await supporting_families.summary(ctx, quarter)
    if format in ("svg", "png"):
        return await charts.chart_response(
            sf_summary_chart(summary), format, f"supporting-families-{quarter}"
        )
    if format == "csv":
        return Response(supporting_families.summary_csv(summary), media_type="text/csv; charset=utf-8")
    return summary


# ---- the FHIR R4 facade (issue 22, docs/fhir.md): the TAF, the plan and its actions ----
# The same scope, consent checks and disclosures as the /v1 episode reads
# (services/assessments/fhir.py); errors leave as OperationOutcomes (shared/fhir.py).

fhir = APIRouter(prefix="/fhir", tags=["fhir"])
FocusParam = Annotated[
    str,
    Query(max_length=80, description="`CarePlan/<episode id>`: the actions of that episode's current plan"),
]


@fhir.get(
    "/CareTeam/{episode_id}",
    response_class=FhirResponse,
    responses=fhir_responses("CareTeam"),
    dependencies=READ,
)
async def fhir_read_care_team(episode_id: Id, ctx: Ctx) -> FhirResponse:
    """The episode's Team Around the Family as a CareTeam (as `GET /v1/episodes/{id}`)."""
    return FhirResponse(await fhir_rules.care_team(ctx, episode_id))


@fhir.get(
    "/CarePlan/{episode_id}",
    response_class=FhirResponse,
    responses=fhir_responses("CarePlan"),
    dependencies=READ,
)
async def fhir_read_care_plan(episode_id: Id, ctx: Ctx) -> FhirResponse:
    """The episode's current plan as a CarePlan (as `GET /v1/episodes/{id}/plan`)."""
    return FhirResponse(await fhir_rules.care_plan(ctx, episode_id))


@fhir.get(
    "/Task/{action_id}", response_class=FhirResponse, responses=fhir_responses("Task"), dependencies=READ
)
async def fhir_read_task(action_id: Id, ctx: Ctx) -> FhirResponse:
    """A plan action as a Task, for whoever may see its episode."""
    return FhirResponse(await fhir_rules.task(ctx, action_id))


@fhir.get(
    "/Task", response_class=FhirResponse, responses=fhir_responses("Task", bundle=True), dependencies=READ
)
async def fhir_search_tasks(request: Request, ctx: Ctx, focus: FocusParam) -> FhirResponse:
    """The current plan's actions as Tasks (`focus=CarePlan/<episode id>`): a searchset Bundle,
    empty for an episode the caller may not see or one with no plan."""
    found = await fhir_rules.tasks_of_plan(ctx, focus)
    return FhirResponse(searchset(found, str(request.url.path) + "?" + request.url.query))


# --- bulk import (issue 22: imports.py, docs/import.md) -------------------------------------


@router.post(
    "/imports/episodes",
    response_model=EpisodeImportResult,
    dependencies=[Depends(require_scope(IMPORT_SCOPE))],
    tags=["imports"],
)
async def import_episodes(body: EpisodeImportBatch, ctx: Ctx) -> EpisodeImportResult:
    """One batch of the incumbent system's open episodes, each with its lead professional and
    TAF, opened as of its `opened_at` and announced by the usual events (so their deadlines
    follow). One transaction: any row wrong is a 422 naming `episodes.<row>.<field>` and
    nothing is stored. A row already imported (same source id) is skipped and answered with
    its episode (`created: false`). The council's admin client only (`bulk-import`)."""
    return await imports.import_batch(ctx, body)


@router.post(
    "/imports/plans",
    response_model=PlanImportResult,
    dependencies=[Depends(require_scope(IMPORT_SCOPE))],
    tags=["imports"],
)
async def import_plans(body: PlanImportBatch, ctx: Ctx) -> PlanImportResult:
    """One batch of the incumbent system's current plans of imported open episodes, each with
    its outcomes and actions (owner, due date, status), SMART as of its `agreed_at` and agreed
    by the rule every plan is (so `plan.agreed` and `action.created` follow, and each open
    action's due-date deadline). One transaction: any row wrong is a 422 naming
    `plans.<row>.<field>` and nothing is stored. A row already imported (same source id) is
    skipped and answered with its plan (`created: false`). The council's admin client only."""
    return await import_plans_rules.import_batch(ctx, body)
