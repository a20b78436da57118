"""Rules of the assessments service: episodes, lead professional, TAF, contacts, step-up,
step-down, closure, the timeline for the referrals service and reports. Assessments are in
`service_assessments.py`, plans and reviews in `service_plans.py`, the events this service
receives in `handlers.py`, its background jobs in `jobs.py`. Services flush; the request
session commits.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.assessments import policy
from services.assessments import repository as repo
from services.assessments.access import EpisodeAccess, Viewer
from services.assessments.app_runtime import AssessmentsRuntime
from services.assessments.clients.referrals import ReferralsUnavailable, StepUpFailed
from services.assessments.config import Settings
from services.assessments.errors import (
    EpisodeClosed,
    EpisodeNotFound,
    JointVisitAlreadyRecorded,
    NotAStepDown,
    PeopleCheckUnavailable,
    StepUpInProgress,
    UnknownPeople,
)
from services.assessments.models import (
    ClosureOutcome,
    Contact,
    Episode,
    LeadProfessional,
    StepUp,
    TafMember,
)
from services.assessments.schemas import (
    CaseloadItem,
    CaseloadList,
    ContactCreate,
    ContactRead,
    DistanceTravelled,
    EpisodeClose,
    EpisodeCreate,
    EpisodeDrift,
    EpisodeList,
    EpisodeRead,
    EpisodeReport,
    EpisodeSummary,
    JointVisitCreate,
    LeadProfessionalRead,
    LeadProfessionalSet,
    StepUpCreate,
    StepUpRead,
    TafMemberCreate,
    TafMemberRead,
    Timeline,
    TimelineItem,
    Withheld,
)
from shared.clock import utcnow
from shared.events import backoff
from shared.idempotency import IdempotencyClaim, claim
from shared.identity import Identity
from shared.pagination import PageParams, page_of
from shared.problems import ValidationProblem

log = logging.getLogger("assessments.service")


# --- loading and the closed-episode guard ---------------------------------------------------


async def visible_episode(
    session: AsyncSession, viewer: Viewer, episode_id: str
) -> tuple[Episode, EpisodeAccess]:
    episode, people = await repo.episode_and_people(session, episode_id)
    access = await viewer.require(session, episode, people)
    assert episode is not None
    return episode, access


async def valid_open_episode(
    session: AsyncSession, viewer: Viewer, episode_id: str
) -> tuple[Episode, EpisodeAccess]:
    """The episode, visible to the caller (else 404) and open (else 409): every change uses it."""
    episode, access = await visible_episode(session, viewer, episode_id)
    ensure_open(episode)
    return episode, access


async def managed_open_episode(
    session: AsyncSession, viewer: Viewer, episode_id: str, rule: str
) -> tuple[Episode, EpisodeAccess]:
    """Visible to the caller (else 404), theirs to manage under `rule` (else 403,
    policy.may_manage_team), and open (else 409)."""
    episode, access = await visible_episode(session, viewer, episode_id)
    policy.may_manage_team(viewer.identity, await repo.current_lead(session, episode.id), rule)
    ensure_open(episode)
    return episode, access


def ensure_open(episode: Episode) -> None:
    if episode.status != "open":
        raise EpisodeClosed()


def touch(episode: Episode) -> None:
    episode.version += 1


def today() -> date:
    return utcnow().date()


def not_future(field: str, value: date | datetime) -> None:
    if isinstance(value, datetime):
        if value > utcnow() + timedelta(minutes=5):
            raise ValidationProblem(field, "must not be in the future")
    elif value > today():
        raise ValidationProblem(field, "must not be in the future")


# --- opening --------------------------------------------------------------------------------


async def open_episode(
    session: AsyncSession,
    runtime: AssessmentsRuntime,
    *,
    origin: str,
    person_ids: list[str],
    level_of_need: str,
    opened_by_agency_id: str | None,
    referral_id: str | None = None,
    referral_received_at: datetime | None = None,
    stepdown_panel_on: date | None = None,
    social_worker: dict[str, Any] | None = None,
    social_work_assessment_ref: str | None = None,
) -> Episode:
    cfg = runtime.settings
    cal = runtime.calendar
    now = utcnow()
    # Assessment timescales run from the request for support (domain.md); without one, from now.
    start = referral_received_at or now
    number = await repo.next_reference_number(session, now.year)
    episode = Episode(
        id=str(uuid.uuid4()),
        reference=f"EH-{now.year}-{number:06d}",
        referral_id=referral_id,
        origin=origin,
        level_of_need=level_of_need,
        status="open",
        opened_at=now,
        opened_by_agency_id=opened_by_agency_id,
        referral_received_at=start if referral_received_at else None,
        first_contact_due_at=cal.add(now, cfg.first_contact_hours, "hours").astimezone(UTC),
        assessment_start_due_at=cal.add_working_days(start, cfg.assessment_start_working_days).astimezone(
            UTC
        ),
        assessment_complete_due_at=cal.add_working_days(
            start, cfg.assessment_complete_working_days
        ).astimezone(UTC),
        social_care_involved=origin == "step_down",
        stepdown_panel_on=stepdown_panel_on,
        social_worker=social_worker,
        social_work_assessment_ref=social_work_assessment_ref,
        joint_visit_due_on=(
            cal.add_working_days_to_date(stepdown_panel_on, cfg.joint_visit_working_days)
            if stepdown_panel_on
            else None
        ),
        version=1,
    )
    session.add(episode)
    await session.flush()
    await repo.add_people(session, episode.id, person_ids)
    await session.flush()
    data: dict[str, Any] = {
        "episode_id": episode.id,
        "reference": episode.reference,
        "person_ids": list(dict.fromkeys(person_ids)),
        "origin": origin,
        "level_of_need": level_of_need,
        "opened_at": now.isoformat(),
    }
    if referral_id:
        data["referral_id"] = referral_id
        data["referral_received_at"] = start.isoformat()
    await runtime.publish(session, "episode.opened", data)
    if origin == "step_down" and stepdown_panel_on:
        await runtime.publish(
            session,
            "stepdown.opened",
            {
                "episode_id": episode.id,
                "panel_on": stepdown_panel_on.isoformat(),
                "person_ids": data["person_ids"],
            },
        )
    return episode


async def create_episode(
    session: AsyncSession, runtime: AssessmentsRuntime, identity: Identity, body: EpisodeCreate
) -> Episode:
    policy.may_open_episode(identity, body.origin)
    people = [str(p) for p in body.person_ids]
    if body.origin == "step_down":
        if body.stepdown_panel_on is None:
            raise ValidationProblem("stepdown_panel_on", "a step-down needs the date of the step-down panel")
        if body.social_worker is None:
            raise ValidationProblem("social_worker", "a step-down needs the social worker handing over")
        not_future("stepdown_panel_on", body.stepdown_panel_on)
    elif body.stepdown_panel_on is not None or body.social_worker is not None:
        field = "stepdown_panel_on" if body.stepdown_panel_on is not None else "social_worker"
        raise ValidationProblem(field, "only a step-down episode has a panel date and a social worker")
    await ensure_known(runtime, people)
    return await open_episode(
        session,
        runtime,
        origin=body.origin,
        person_ids=people,
        level_of_need=body.level_of_need,
        opened_by_agency_id=identity.agency_id,
        stepdown_panel_on=body.stepdown_panel_on,
        social_worker=body.social_worker.model_dump(mode="json") if body.social_worker else None,
        social_work_assessment_ref=body.social_work_assessment_ref,
    )


async def ensure_known(runtime: AssessmentsRuntime, people: list[str]) -> None:
    """Episodes only for people the referrals service holds: 422 naming each unknown id,
    503 when it cannot answer (nothing is stored either way)."""
    try:
        answer = await runtime.referrals().known_people(list(dict.fromkeys(people)))
    except ReferralsUnavailable as exc:
        log.warning("people check unavailable", extra={"error": str(exc)})
        raise PeopleCheckUnavailable(
            "The referrals service cannot confirm these people right now; try again shortly",
            headers={"Retry-After": "2"},
        ) from None
    unknown = [i for i, p in enumerate(people) if p in answer.unknown]
    if unknown:
        raise UnknownPeople(unknown)


# --- reading --------------------------------------------------------------------------------


async def distance_travelled(session: AsyncSession, episode_id: str) -> list[DistanceTravelled]:
    reviews = await repo.reviews_of(session, episode_id)
    scores = await repo.scores_of(session, [r.id for r in reviews])
    series: dict[str, list[int]] = {}
    for review in reviews:  # held_on order
        for outcome_id, score in sorted(scores[review.id]):
            series.setdefault(outcome_id, []).append(score)
    headlines = await repo.headlines_of(session, list(series))
    return [
        DistanceTravelled(
            outcome_id=oid,
            headline=headlines.get(oid),
            first_score=s[0],
            latest_score=s[-1],
            change=s[-1] - s[0],
            reviews=len(s),
        )
        for oid, s in series.items()
    ]


async def episode_read(
    session: AsyncSession, episode: Episode, people: list[str] | None = None
) -> EpisodeRead:
    if people is None:
        people = await repo.person_ids(session, episode.id)
    leads = await repo.lead_history(session, episode.id)
    current = next((lp for lp in leads if lp.ended_at is None), None)
    return EpisodeRead(
        id=episode.id,
        reference=episode.reference,
        person_ids=people,
        referral_id=episode.referral_id,
        origin=episode.origin,
        level_of_need=episode.level_of_need,
        status=episode.status,
        opened_at=episode.opened_at,
        first_contact_due_at=episode.first_contact_due_at,
        first_contact_at=episode.first_contact_at,
        assessment_start_due_at=episode.assessment_start_due_at,
        assessment_complete_due_at=episode.assessment_complete_due_at,
        lead_professional=LeadProfessionalRead.model_validate(current, from_attributes=True)
        if current
        else None,
        lead_professional_history=[
            LeadProfessionalRead.model_validate(lp, from_attributes=True) for lp in leads
        ],
        taf_members=[
            TafMemberRead.model_validate(m, from_attributes=True)
            for m in await repo.taf_members(session, episode.id)
        ],
        social_care_involved=episode.social_care_involved,
        consent_withdrawn_at=episode.consent_withdrawn_at,
        stepdown_panel_on=episode.stepdown_panel_on,
        social_worker=episode.social_worker,
        social_work_assessment_ref=episode.social_work_assessment_ref,
        joint_visit_due_on=episode.joint_visit_due_on,
        joint_visit_held_on=episode.joint_visit_held_on,
        distance_travelled=await distance_travelled(session, episode.id),
        closed_at=episode.closed_at,
        close_reason=episode.close_reason,
        closure_summary=episode.closure_summary,
        # Only `close_episode` records them, on an open episode it closes, and nothing opens
        # an episode again: an open one has none to look up (a query fewer per read).
        outcomes_achieved=[]
        if episode.status == "open"
        else await repo.closure_outcomes(session, episode.id),
        signed_off_by_practitioner_id=episode.signed_off_by_practitioner_id,
        signed_off_by_client_id=episode.signed_off_by_client_id,
    )


async def read_episode(session: AsyncSession, viewer: Viewer, episode_id: str) -> tuple[EpisodeRead, int]:
    episode, access = await visible_episode(session, viewer, episode_id)
    viewer.disclosed(access, "episode", episode.id)
    return await episode_read(session, episode, access.person_ids), episode.version


async def list_episodes(
    session: AsyncSession, viewer: Viewer, params: PageParams, *, person_id: str | None, status: str | None
) -> EpisodeList:
    """Only what the caller may see. For partner agencies the TAF filter is in SQL; the
    consent check then removes episodes it does not allow, so a page may be shorter than
    `limit` (the cursor still moves on)."""
    taf_agency = None if viewer.identity.sees_all else viewer.agency_id
    rows = await repo.list_episodes(
        session, params, person_id=person_id, status=status, taf_agency_id=taf_agency
    )
    page, cursor = page_of(rows, params, "opened_at")
    people = await repo.person_ids_for(session, [e.id for e in page])
    items = []
    for episode in page:
        access, _reason = await viewer.check(session, episode, people[episode.id])
        if access is None:
            continue
        viewer.disclosed(access, "episode", episode.id)
        items.append(EpisodeSummary(**summary_fields(episode, people[episode.id])))
    return EpisodeList(items=items, next_cursor=cursor)


def summary_fields(episode: Episode, people: list[str]) -> dict[str, Any]:
    return {
        "id": episode.id,
        "reference": episode.reference,
        "person_ids": people,
        "referral_id": episode.referral_id,
        "origin": episode.origin,
        "level_of_need": episode.level_of_need,
        "status": episode.status,
        "opened_at": episode.opened_at,
        "social_care_involved": episode.social_care_involved,
        "closed_at": episode.closed_at,
    }


async def caseload(session: AsyncSession, viewer: Viewer, params: PageParams) -> CaseloadList:
    """`GET /v1/me/caseload`: open episodes where the calling practitioner is the lead
    professional or a TAF member practitioner. Visibility still applies (a partner needs the
    consent service's say-so), so a page may be shorter than `limit`, as in `list_episodes`."""
    me = policy.caseload_practitioner(viewer.identity)
    rows = await repo.caseload(session, params, practitioner_id=me, agency_id=viewer.agency_id)
    page, cursor = page_of(rows, params, "opened_at")
    ids = [e.id for e in page]
    people = await repo.person_ids_for(session, ids)
    relationships = await repo.relationships_of(session, ids, practitioner_id=me, agency_id=viewer.agency_id)
    items = []
    for episode in page:
        access, _reason = await viewer.check(session, episode, people[episode.id])
        if access is None:
            continue
        viewer.disclosed(access, "episode", episode.id)
        items.append(
            CaseloadItem(
                **summary_fields(episode, people[episode.id]),
                relationships=relationships[episode.id],  # type: ignore[arg-type]
            )
        )
    return CaseloadList(items=items, next_cursor=cursor)


# --- lead professional and TAF --------------------------------------------------------------


async def set_lead_professional(
    session: AsyncSession,
    runtime: AssessmentsRuntime,
    viewer: Viewer,
    episode_id: str,
    body: LeadProfessionalSet,
) -> LeadProfessionalRead:
    episode, _ = await managed_open_episode(session, viewer, episode_id, "change-lead-professional")
    if body.manager_delegates:
        policy.may_delegate(viewer.identity)
    if not body.family_agreed:
        raise ValidationProblem(
            "family_agreed",
            "the family must agree to the lead professional: record their agreement (true) first",
            type_slug="family-agreement-required",
        )
    now = utcnow()
    await repo.end_current_lead(session, episode.id, now)
    lead = LeadProfessional(
        id=str(uuid.uuid4()),
        episode_id=episode.id,
        name=body.name,
        agency_id=body.agency_id,
        email=str(body.email),
        phone=body.phone,
        family_agreed=body.family_agreed,
        practitioner_id=body.practitioner_id,
        manager_delegates=body.manager_delegates,
        assigned_at=now,
        assigned_by_agency_id=viewer.agency_id,
    )
    session.add(lead)
    touch(episode)
    await session.flush()
    await runtime.publish(
        session,
        "lead_professional.assigned",
        {
            "episode_id": episode.id,
            "agency_id": body.agency_id,
            "email": str(body.email),
            "family_agreed": body.family_agreed,
            "practitioner_id": body.practitioner_id,
            "manager_delegates": body.manager_delegates,
            "assigned_at": now.isoformat(),
        },
    )
    return LeadProfessionalRead.model_validate(lead, from_attributes=True)


async def add_taf_member(
    session: AsyncSession, viewer: Viewer, episode_id: str, body: TafMemberCreate
) -> TafMemberRead:
    episode, _ = await managed_open_episode(session, viewer, episode_id, "manage-team")
    member = TafMember(
        id=str(uuid.uuid4()),
        episode_id=episode.id,
        agency_id=body.agency_id,
        agency_type=body.agency_type,
        name=body.name,
        role=body.role,
        practitioner_id=body.practitioner_id,
        family_agreed=body.family_agreed,
        added_at=utcnow(),
    )
    session.add(member)
    touch(episode)
    await session.flush()
    return TafMemberRead.model_validate(member, from_attributes=True)


async def remove_taf_member(session: AsyncSession, viewer: Viewer, episode_id: str, member_id: str) -> None:
    episode, _ = await managed_open_episode(session, viewer, episode_id, "manage-team")
    member = await repo.get_taf_member(session, episode.id, member_id)
    if member is None:
        raise EpisodeNotFound("No such TAF member on this episode")
    member.removed_at = utcnow()
    touch(episode)
    await session.flush()


# --- contacts -------------------------------------------------------------------------------


async def record_contact(
    session: AsyncSession, runtime: AssessmentsRuntime, viewer: Viewer, episode_id: str, body: ContactCreate
) -> ContactRead:
    episode, _ = await valid_open_episode(session, viewer, episode_id)
    not_future("contact_at", body.contact_at)
    contact_at = body.contact_at
    if contact_at < episode.opened_at - timedelta(days=1):
        raise ValidationProblem("contact_at", "is before the episode was opened")
    first = not await repo.has_contact(session, episode.id)
    contact = Contact(
        id=str(uuid.uuid4()),
        episode_id=episode.id,
        contact_at=contact_at,
        method=body.method,
        notes=body.notes,
        first=first,
        recorded_by_agency_id=viewer.agency_id,
        created_at=utcnow(),
    )
    session.add(contact)
    if first:
        episode.first_contact_at = contact_at
    touch(episode)
    await session.flush()
    await runtime.publish(
        session,
        "contact.recorded",
        {
            "episode_id": episode.id,
            "contact_id": contact.id,
            "contact_at": contact_at.isoformat(),
            "first": first,
        },
    )
    return ContactRead(
        id=contact.id,
        episode_id=episode.id,
        contact_at=contact_at,
        method=contact.method,
        notes=contact.notes,
        first=first,
        within_deadline=(contact_at <= episode.first_contact_due_at) if first else None,
    )


# --- step-up and step-down -----------------------------------------------------------------


def step_up_read(s: StepUp) -> StepUpRead:
    # A mapper, not model_validate: the row's `id` is published as `step_up_id`.
    return StepUpRead(
        step_up_id=s.id,
        episode_id=s.episode_id,
        status=s.status,  # type: ignore[arg-type]
        referral_id=s.referral_id,
        requested_at=s.requested_at,
        attempts=s.attempts,
    )


async def step_up(
    request: Request, runtime: AssessmentsRuntime, viewer: Viewer, episode_id: str, body: StepUpCreate
) -> tuple[StepUpRead, int]:
    """Three short transactions, none held open across the HTTP call:
    1. store the step-up (its id is the idempotency key at the referrals service) and claim
       the client's Idempotency-Key;
    2. call the referrals service, retrying with backoff a few times;
    3. record the answer, set `social_care_involved`, and complete the Idempotency-Key.
    A step-up still unconfirmed after the retries stays `pending` (202) and the background
    worker keeps trying with the same `step_up_id`, so there is never a second referral.
    """
    async with runtime.db.session() as session:
        idem = await claim(request, session, runtime.tables, viewer.identity)
        episode, access = await managed_open_episode(session, viewer, episode_id, "step-up")
        if await repo.pending_step_up(session, episode.id) is not None:
            raise StepUpInProgress("A step-up of this episode is still being sent to the MASH")
        now = utcnow()
        record = StepUp(
            id=str(uuid.uuid4()),
            episode_id=episode.id,
            reason=body.reason,
            agency_id=viewer.agency_id,
            agency_type=viewer.identity.agency_type,
            requested_at=now,
            status="pending",
            attempts=0,
            next_attempt_at=now + timedelta(seconds=60),  # the request itself tries first
        )
        session.add(record)
        episode.social_care_involved = True
        touch(episode)
        await session.flush()
        step_up_id, people = record.id, access.person_ids
        idem_key = idem.key
    referral_id: str | None = None
    attempts = 0
    payload = step_up_payload(record, people)
    for attempt in range(max(1, runtime.settings.stepup_attempts)):
        attempts += 1
        try:
            referral_id = await runtime.referrals().create_step_up(payload)
            break
        except StepUpFailed as exc:
            log.warning("step-up not confirmed", extra={"step_up_id": step_up_id, "error": str(exc)})
            if attempt + 1 < runtime.settings.stepup_attempts:
                await asyncio.sleep(runtime.settings.stepup_backoff_seconds * (2**attempt))
    async with runtime.db.session() as session:
        record = await session.get(StepUp, step_up_id)  # type: ignore[assignment]
        assert record is not None
        record.attempts += attempts
        if referral_id is not None:
            await mark_step_up_sent(session, runtime, record, referral_id)
        else:
            record.next_attempt_at = utcnow() + timedelta(seconds=backoff(record.attempts))
        out = step_up_read(record)
        status = 201 if referral_id else 202
        await IdempotencyClaim(session, runtime.tables, viewer.identity.client_id, idem_key).complete(
            status, out.model_dump(mode="json"), f"/v1/episodes/{episode_id}/step-ups/{step_up_id}"
        )
    return out, status


def step_up_payload(record: StepUp, people: list[str]) -> dict[str, Any]:
    return {
        "step_up_id": record.id,
        "episode_id": record.episode_id,
        "person_ids": people,
        "reason": record.reason,
        "agency_id": record.agency_id,
        "agency_type": record.agency_type,
    }


async def mark_step_up_sent(
    session: AsyncSession, runtime: AssessmentsRuntime, record: StepUp, referral_id: str
) -> None:
    record.status = "sent"
    record.referral_id = referral_id
    record.sent_at = utcnow()
    record.last_error = None
    await session.flush()


async def list_step_ups(session: AsyncSession, viewer: Viewer, episode_id: str) -> list[StepUpRead]:
    episode, _ = await visible_episode(session, viewer, episode_id)
    return [step_up_read(s) for s in await repo.step_ups_of(session, episode.id)]


async def record_joint_visit(
    session: AsyncSession,
    runtime: AssessmentsRuntime,
    viewer: Viewer,
    episode_id: str,
    body: JointVisitCreate,
) -> dict[str, Any]:
    episode, _ = await valid_open_episode(session, viewer, episode_id)
    if episode.origin != "step_down":
        raise NotAStepDown("Only a step-down episode has a joint visit")
    if episode.joint_visit_held_on is not None:
        raise JointVisitAlreadyRecorded("The joint visit of this step-down is already recorded")
    not_future("held_on", body.held_on)
    if episode.stepdown_panel_on and body.held_on < episode.stepdown_panel_on:
        raise ValidationProblem("held_on", "is before the step-down panel")
    episode.joint_visit_held_on = body.held_on
    touch(episode)
    await session.flush()
    await runtime.publish(
        session, "joint_visit.recorded", {"episode_id": episode.id, "held_on": body.held_on.isoformat()}
    )
    due = episode.joint_visit_due_on
    return {
        "episode_id": episode.id,
        "held_on": body.held_on,
        "due_on": due,
        "within_deadline": (body.held_on <= due) if due else None,
    }


# --- closure --------------------------------------------------------------------------------


async def close_episode(
    session: AsyncSession, runtime: AssessmentsRuntime, viewer: Viewer, episode_id: str, body: EpisodeClose
) -> EpisodeRead:
    episode, access = await visible_episode(session, viewer, episode_id)
    policy.may_close(viewer.identity)
    ensure_open(episode)
    plan = await repo.latest_plan(session, episode.id)
    outcomes = {o.outcome_id: o for o in await repo.plan_outcomes(session, plan.id)} if plan else {}
    seen: set[str] = set()
    for i, outcome_id in enumerate(body.outcomes_achieved):
        if outcome_id not in outcomes:
            raise ValidationProblem(f"outcomes_achieved.{i}", "is not an outcome of the current plan")
        if outcome_id in seen:
            raise ValidationProblem(f"outcomes_achieved.{i}", "is listed twice")
        seen.add(outcome_id)
    now = utcnow()
    episode.status = "closed"
    episode.closed_at = now
    episode.close_reason = body.reason
    episode.closure_summary = body.summary
    episode.signed_off_by_practitioner_id = viewer.identity.practitioner_id
    episode.signed_off_by_client_id = viewer.identity.client_id
    touch(episode)
    session.add_all(
        [ClosureOutcome(episode_id=episode.id, outcome_id=o, headline=outcomes[o].headline) for o in seen]
    )
    await session.flush()
    await runtime.publish(
        session,
        "episode.closed",
        {
            "episode_id": episode.id,
            "reason": body.reason,
            "closed_at": now.isoformat(),
            "signed_off_by_practitioner_id": viewer.identity.practitioner_id,
        },
    )
    return await episode_read(session, episode, access.person_ids)


# --- timeline for the referrals service -----------------------------------------------------


async def person_timeline(
    session: AsyncSession, runtime: AssessmentsRuntime, person_id: str, agency_id: str, agency_type: str
) -> Timeline:
    """The assessments part of a person's journey as `agency_id` may see it. Withheld
    episodes are named with a reason and nothing else. Visible items are disclosures to
    that agency (unless it is early help), recorded like any read."""
    as_agency = Identity(
        sub=f"timeline:{agency_id}",
        client_id="timeline",
        agency_id=agency_id,
        agency_type=agency_type,
    )
    viewer = Viewer(as_agency, runtime)
    items: list[TimelineItem] = []
    withheld: list[Withheld] = []
    for episode in await repo.episodes_of_person(session, person_id):
        access, reason = await viewer.check(session, episode)
        if access is None:
            withheld.append(Withheld(episode_id=episode.id, reason=reason or "not_visible"))
            continue
        viewer.disclosed(access, "episode", episode.id)
        items.extend(await episode_events(session, episode))
    items.sort(key=lambda i: (i.at, i.kind))
    await viewer.store_disclosures()
    return Timeline(items=items, withheld=withheld)


def _at_day(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


async def episode_events(session: AsyncSession, episode: Episode) -> list[TimelineItem]:
    eid = episode.id
    kind = "stepdown_opened" if episode.origin == "step_down" else "episode_opened"
    out = [
        TimelineItem(
            at=episode.opened_at,
            kind=kind,
            episode_id=eid,
            reference=episode.reference,
            origin=episode.origin,
            level_of_need=episode.level_of_need,
            referral_id=episode.referral_id,
        )
    ]
    for lp in await repo.lead_history(session, eid):
        out.append(
            TimelineItem(
                at=lp.assigned_at,
                kind="lead_professional_assigned",
                episode_id=eid,
                agency_id=lp.agency_id,
            )
        )
    for a in await repo.assessments_of(session, eid):
        out.append(
            TimelineItem(at=a.started_at, kind="assessment_started", episode_id=eid, assessment_id=a.id)
        )
        if a.approved_at:
            out.append(
                TimelineItem(at=a.approved_at, kind="assessment_approved", episode_id=eid, assessment_id=a.id)
            )
    for p in await repo.plans_of(session, eid):
        out.append(
            TimelineItem(at=p.agreed_at, kind="plan_agreed", episode_id=eid, plan_id=p.id, version=p.version)
        )
    for r in await repo.reviews_of(session, eid):
        out.append(
            TimelineItem(
                at=_at_day(r.held_on),
                kind="review_held",
                episode_id=eid,
                review_id=r.id,
                next_review_on=r.next_review_on.isoformat(),
            )
        )
    for s in await repo.step_ups_of(session, eid):
        out.append(
            TimelineItem(
                at=s.requested_at,
                kind="stepped_up",
                episode_id=eid,
                step_up_id=s.id,
                referral_id=s.referral_id,
            )
        )
    if episode.joint_visit_held_on:
        out.append(TimelineItem(at=_at_day(episode.joint_visit_held_on), kind="joint_visit", episode_id=eid))
    if episode.closed_at:
        out.append(
            TimelineItem(
                at=episode.closed_at,
                kind="episode_closed",
                episode_id=eid,
                reason=episode.close_reason,
            )
        )
    return out


# --- reports --------------------------------------------------------------------------------


def timeliness_keys(settings: Settings) -> tuple[str, str, str]:
    """The report's "within" keys, named after this council's timescales (with the default
    settings: `within_72_hours`, `within_10_working_days`, `within_45_working_days`)."""
    return (
        f"within_{settings.first_contact_hours}_hours",
        f"within_{settings.assessment_start_working_days}_working_days",
        f"within_{settings.assessment_complete_working_days}_working_days",
    )


async def episode_report(
    session: AsyncSession, settings: Settings, opened_from: date | None, opened_to: date | None
) -> EpisodeReport:
    start = _at_day(opened_from) if opened_from else None
    end = _at_day(opened_to + timedelta(days=1)) if opened_to else None
    if start and end and end <= start:
        raise ValidationProblem("opened_to", "must not be before opened_from")
    f = await repo.episode_report(session, start, end, utcnow())
    contact, started, completed = timeliness_keys(settings)
    return EpisodeReport(
        opened_from=opened_from,
        opened_to=opened_to,
        episodes_opened=f.episodes_opened,
        first_contact={
            contact: f.first_contact_within,
            "late": f.first_contact_late,
            "overdue_no_contact": f.first_contact_overdue,
        },
        assessment_started={
            started: f.assessment_started_within,
            "late": f.assessment_started_late,
            "overdue_not_started": f.assessment_started_overdue,
        },
        assessment_completed={
            completed: f.assessment_completed_within,
            "late": f.assessment_completed_late,
            "overdue_not_completed": f.assessment_completed_overdue,
        },
        closures_by_reason=f.closures_by_reason,
        outcomes_achieved_by_headline=f.outcomes_achieved_by_headline,
        drift=EpisodeDrift(
            open_more_than_12_months=f.open_more_than_12_months,
            three_or_more_reviews=f.three_or_more_reviews,
            open_and_drifting=f.open_and_drifting,
        ),
    )


def report_csv(report: EpisodeReport) -> str:
    """One row per figure: section, measure, value, in the order of the JSON."""
    import csv
    import io

    figures = report.model_dump(mode="json")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["section", "measure", "value"])
    writer.writerow(["episodes", "opened", report.episodes_opened])
    for section in (
        "first_contact",
        "assessment_started",
        "assessment_completed",
        "closures_by_reason",
        "outcomes_achieved_by_headline",
        "drift",
    ):
        for measure, value in figures[section].items():
            writer.writerow([section, measure, value])
    return buf.getvalue()
