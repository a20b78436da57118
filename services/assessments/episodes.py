"""Rules of episodes: opening (by a referral decision, a step-down or a self-referral), reading
and listing, the caseload, lead professional and TAF, contacts, the step-down joint visit and
closure. Also the loading helpers every rule module uses (visible, open, managed). Services
flush; the request session commits.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.assessments import partner_events, policy
from services.assessments import repository as repo
from services.assessments.access import EpisodeAccess
from services.assessments.clients.referrals import ReferralsUnavailable
from services.assessments.context import Context
from services.assessments.errors import (
    EpisodeClosed,
    EpisodeNotFound,
    JointVisitAlreadyRecorded,
    NotAStepDown,
    PeopleCheckUnavailable,
    UnknownPeople,
)
from services.assessments.models import (
    ClosureOutcome,
    Contact,
    Episode,
    LeadProfessional,
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
    EpisodeList,
    EpisodeRead,
    EpisodeSummary,
    FamilyMemberRead,
    JointVisitCreate,
    LeadProfessionalRead,
    LeadProfessionalSet,
    TafMemberCreate,
    TafMemberRead,
)
from shared.pagination import PageParams, page_of
from shared.problems import ValidationProblem

log = logging.getLogger("assessments.service")


# --- loading and the closed-episode guard ---------------------------------------------------


async def visible_episode(ctx: Context, episode_id: str) -> tuple[Episode, EpisodeAccess]:
    episode, people = await repo.episode_and_people(ctx.session, episode_id)
    access = await ctx.viewer.require(ctx.session, episode, people)
    assert episode is not None
    return episode, access


async def valid_open_episode(ctx: Context, episode_id: str) -> tuple[Episode, EpisodeAccess]:
    """The episode, visible to the caller (else 404) and open (else 409): every change uses it."""
    episode, access = await visible_episode(ctx, episode_id)
    ensure_open(episode)
    return episode, access


async def managed_open_episode(ctx: Context, episode_id: str, rule: str) -> tuple[Episode, EpisodeAccess]:
    """Visible to the caller (else 404), theirs to manage under `rule` (else 403,
    policy.may_manage_team), and open (else 409)."""
    episode, access = await visible_episode(ctx, episode_id)
    policy.may_manage_team(ctx.identity, await repo.current_lead(ctx.session, episode.id), rule)
    ensure_open(episode)
    return episode, access


def ensure_open(episode: Episode) -> None:
    if episode.status != "open":
        raise EpisodeClosed()


def touch(episode: Episode) -> None:
    episode.version += 1


def not_future(field: str, value: date | datetime, now: datetime) -> None:
    """422 for a moment more than five minutes (clock skew) after `now`, or a day after its date."""
    if isinstance(value, datetime):
        if value > now + timedelta(minutes=5):
            raise ValidationProblem(field, "must not be in the future")
    elif value > now.date():
        raise ValidationProblem(field, "must not be in the future")


# --- opening --------------------------------------------------------------------------------


async def open_episode(
    ctx: Context,
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
    adults: list[str] | None = None,
    relationships: dict[str, str] | None = None,
) -> Episode:
    """`adults` (and their `relationships` to the children, codes): the rest of the family
    (issue 20, family.py); `person_ids` are the children."""
    number = await repo.next_reference_number(ctx.session, ctx.now.year)
    episode = new_episode(
        ctx,
        number,
        origin,
        level_of_need,
        (referral_id, referral_received_at),
        opened_by_agency_id=opened_by_agency_id,
        stepdown_panel_on=stepdown_panel_on,
        social_worker=social_worker,
        social_work_assessment_ref=social_work_assessment_ref,
    )
    ctx.session.add(episode)
    await ctx.session.flush()
    await repo.add_people(ctx.session, episode.id, person_ids)
    await repo.add_family(ctx.session, episode.id, person_ids, adults or [], relationships or {}, at=ctx.now)
    await ctx.session.flush()
    await ctx.publish("episode.opened", opened_data(episode, person_ids))
    if origin == "step_down" and stepdown_panel_on:
        await ctx.publish(
            "stepdown.opened",
            {
                "episode_id": episode.id,
                "panel_on": stepdown_panel_on.isoformat(),
                "person_ids": list(dict.fromkeys(person_ids)),
            },
        )
    return episode


def new_episode(
    ctx: Context,
    number: int,
    origin: str,
    level_of_need: str,
    referral: tuple[str | None, datetime | None],
    *,
    opened_by_agency_id: str | None = None,
    stepdown_panel_on: date | None = None,
    social_worker: dict[str, Any] | None = None,
    social_work_assessment_ref: str | None = None,
) -> Episode:
    """The episode `open_episode` opens at `ctx.now`, numbered `number` in that year's series
    (not yet added to the session); `referral`: its referral's id and received time, if any."""
    referral_id, referral_received_at = referral
    cfg = ctx.settings
    cal = ctx.runtime.calendar
    now = ctx.now
    # Assessment timescales run from the request for support (domain.md); without one, from now.
    start = referral_received_at or now
    return Episode(
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


def opened_data(episode: Episode, person_ids: list[str]) -> dict[str, Any]:
    """The `episode.opened` event of a new episode (its children `person_ids`)."""
    data: dict[str, Any] = {
        "episode_id": episode.id,
        "reference": episode.reference,
        "person_ids": list(dict.fromkeys(person_ids)),
        "origin": episode.origin,
        "level_of_need": episode.level_of_need,
        "opened_at": episode.opened_at.isoformat(),
    }
    if episode.referral_id:
        data["referral_id"] = episode.referral_id
        # The assessment timescales' start: the referral's receipt, or the opening.
        data["referral_received_at"] = (episode.referral_received_at or episode.opened_at).isoformat()
    return data


async def create_episode(ctx: Context, body: EpisodeCreate) -> Episode:
    policy.may_open_episode(ctx.identity, body.origin)
    people = [str(p) for p in body.person_ids]
    if body.origin == "step_down":
        if body.stepdown_panel_on is None:
            raise ValidationProblem("stepdown_panel_on", "a step-down needs the date of the step-down panel")
        if body.social_worker is None:
            raise ValidationProblem("social_worker", "a step-down needs the social worker handing over")
        not_future("stepdown_panel_on", body.stepdown_panel_on, ctx.now)
    elif body.stepdown_panel_on is not None or body.social_worker is not None:
        field = "stepdown_panel_on" if body.stepdown_panel_on is not None else "social_worker"
        raise ValidationProblem(field, "only a step-down episode has a panel date and a social worker")
    await ensure_known(ctx, people)
    return await open_episode(
        ctx,
        origin=body.origin,
        person_ids=people,
        level_of_need=body.level_of_need,
        opened_by_agency_id=ctx.identity.agency_id,
        stepdown_panel_on=body.stepdown_panel_on,
        social_worker=body.social_worker.model_dump(mode="json") if body.social_worker else None,
        social_work_assessment_ref=body.social_work_assessment_ref,
    )


async def ensure_known(ctx: Context, people: list[str]) -> None:
    """Episodes only for people the referrals service holds: 422 naming each unknown id,
    503 when it cannot answer (nothing is stored either way)."""
    try:
        answer = await ctx.runtime.referrals().known_people(list(dict.fromkeys(people)))
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


async def distance_travelled(ctx: Context, episode_id: str) -> list[DistanceTravelled]:
    reviews = await repo.reviews_of(ctx.session, episode_id)
    scores = await repo.scores_of(ctx.session, [r.id for r in reviews])
    series: dict[str, list[int]] = {}
    for review in reviews:  # held_on order
        for outcome_id, score in sorted(scores[review.id]):
            series.setdefault(outcome_id, []).append(score)
    headlines = await repo.headlines_of(ctx.session, list(series))
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


async def episode_read(ctx: Context, episode: Episode, people: list[str] | None = None) -> EpisodeRead:
    # A mapper: people, leads, TAF, distance travelled and closure outcomes are read and derived here.
    if people is None:
        people = await repo.person_ids(ctx.session, episode.id)
    leads = await repo.lead_history(ctx.session, episode.id)
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
            for m in await repo.taf_members(ctx.session, episode.id)
        ],
        social_care_involved=episode.social_care_involved,
        consent_withdrawn_at=episode.consent_withdrawn_at,
        stepdown_panel_on=episode.stepdown_panel_on,
        social_worker=episode.social_worker,
        social_work_assessment_ref=episode.social_work_assessment_ref,
        joint_visit_due_on=episode.joint_visit_due_on,
        joint_visit_held_on=episode.joint_visit_held_on,
        distance_travelled=await distance_travelled(ctx, episode.id),
        closed_at=episode.closed_at,
        close_reason=episode.close_reason,
        closure_summary=episode.closure_summary,
        # Only `close_episode` records them, on an open episode it closes, and nothing opens
        # an episode again: an open one has none to look up (a query fewer per read).
        outcomes_achieved=[]
        if episode.status == "open"
        else await repo.closure_outcomes(ctx.session, episode.id),
        signed_off_by_practitioner_id=episode.signed_off_by_practitioner_id,
        signed_off_by_client_id=episode.signed_off_by_client_id,
        family_members=[
            FamilyMemberRead.model_validate(m) for m in await repo.family_members(ctx.session, episode.id)
        ],
    )


async def read_episode(ctx: Context, episode_id: str) -> tuple[EpisodeRead, int]:
    episode, access = await visible_episode(ctx, episode_id)
    ctx.viewer.disclosed(access, "episode", episode.id)
    return await episode_read(ctx, episode, access.person_ids), episode.version


async def list_episodes(
    ctx: Context,
    params: PageParams,
    *,
    person_id: str | None,
    status: str | None,
    updated_since: datetime | None = None,
) -> EpisodeList:
    """Only what the caller may see. For partner agencies the TAF filter is in SQL; the
    consent check then removes episodes it does not allow, so a page may be shorter than
    `limit` (the cursor still moves on)."""
    taf_agency = None if ctx.identity.sees_all else ctx.identity.agency_id
    rows = await repo.list_episodes(
        ctx.session,
        params,
        person_id=person_id,
        status=status,
        taf_agency_id=taf_agency,
        updated_since=updated_since,
    )
    page, cursor = page_of(rows, params, "opened_at")
    people = await repo.person_ids_for(ctx.session, [e.id for e in page])
    items = []
    for episode in page:
        access, _reason = await ctx.viewer.check(ctx.session, episode, people[episode.id])
        if access is None:
            continue
        ctx.viewer.disclosed(access, "episode", episode.id)
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


async def caseload(ctx: Context, params: PageParams, updated_since: datetime | None = None) -> CaseloadList:
    """`GET /v1/me/caseload`: open episodes where the calling practitioner is the lead
    professional or a TAF member practitioner. Visibility still applies (a partner needs the
    consent service's say-so), so a page may be shorter than `limit`, as in `list_episodes`."""
    me = policy.caseload_practitioner(ctx.identity)
    rows = await repo.caseload(
        ctx.session, params, practitioner_id=me, agency_id=ctx.identity.agency_id, updated_since=updated_since
    )
    page, cursor = page_of(rows, params, "opened_at")
    ids = [e.id for e in page]
    people = await repo.person_ids_for(ctx.session, ids)
    relationships = await repo.relationships_of(
        ctx.session, ids, practitioner_id=me, agency_id=ctx.identity.agency_id
    )
    items = []
    for episode in page:
        access, _reason = await ctx.viewer.check(ctx.session, episode, people[episode.id])
        if access is None:
            continue
        ctx.viewer.disclosed(access, "episode", episode.id)
        items.append(
            CaseloadItem(
                **summary_fields(episode, people[episode.id]),
                relationships=relationships[episode.id],  # type: ignore[arg-type]
            )
        )
    return CaseloadList(items=items, next_cursor=cursor)


# --- lead professional and TAF --------------------------------------------------------------


async def set_lead_professional(
    ctx: Context,
    episode_id: str,
    body: LeadProfessionalSet,
) -> LeadProfessionalRead:
    episode, _ = await managed_open_episode(ctx, episode_id, "change-lead-professional")
    if body.manager_delegates:
        policy.may_delegate(ctx.identity)
    if not body.family_agreed:
        raise ValidationProblem(
            "family_agreed",
            "the family must agree to the lead professional: record their agreement (true) first",
            type_slug="family-agreement-required",
        )
    now = ctx.now
    await repo.end_current_lead(ctx.session, episode.id, now)
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
        assigned_by_agency_id=ctx.identity.agency_id,
    )
    ctx.session.add(lead)
    touch(episode)
    await ctx.session.flush()
    await ctx.publish(
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


async def add_taf_member(ctx: Context, episode_id: str, body: TafMemberCreate) -> TafMemberRead:
    episode, _ = await managed_open_episode(ctx, episode_id, "manage-team")
    member = TafMember(
        id=str(uuid.uuid4()),
        episode_id=episode.id,
        agency_id=body.agency_id,
        agency_type=body.agency_type,
        name=body.name,
        role=body.role,
        practitioner_id=body.practitioner_id,
        family_agreed=body.family_agreed,
        added_at=ctx.now,
    )
    ctx.session.add(member)
    touch(episode)
    await ctx.session.flush()
    await partner_events.taf_member_changed(ctx, "taf.member_added", member)
    return TafMemberRead.model_validate(member, from_attributes=True)


async def remove_taf_member(ctx: Context, episode_id: str, member_id: str) -> None:
    episode, _ = await managed_open_episode(ctx, episode_id, "manage-team")
    member = await repo.get_taf_member(ctx.session, episode.id, member_id)
    if member is None:
        raise EpisodeNotFound("No such TAF member on this episode")
    member.removed_at = ctx.now
    touch(episode)
    await ctx.session.flush()
    await partner_events.taf_member_changed(ctx, "taf.member_removed", member)


# --- contacts -------------------------------------------------------------------------------


async def record_contact(ctx: Context, episode_id: str, body: ContactCreate) -> ContactRead:
    episode, _ = await valid_open_episode(ctx, episode_id)
    not_future("contact_at", body.contact_at, ctx.now)
    contact_at = body.contact_at
    if contact_at < episode.opened_at - timedelta(days=1):
        raise ValidationProblem("contact_at", "is before the episode was opened")
    first = not await repo.has_contact(ctx.session, episode.id)
    contact = Contact(
        id=str(uuid.uuid4()),
        episode_id=episode.id,
        contact_at=contact_at,
        method=body.method,
        notes=body.notes,
        first=first,
        recorded_by_agency_id=ctx.identity.agency_id,
        created_at=ctx.now,
    )
    ctx.session.add(contact)
    if first:
        episode.first_contact_at = contact_at
    touch(episode)
    await ctx.session.flush()
    await ctx.publish(
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


async def record_joint_visit(
    ctx: Context,
    episode_id: str,
    body: JointVisitCreate,
) -> dict[str, Any]:
    episode, _ = await valid_open_episode(ctx, episode_id)
    if episode.origin != "step_down":
        raise NotAStepDown("Only a step-down episode has a joint visit")
    if episode.joint_visit_held_on is not None:
        raise JointVisitAlreadyRecorded("The joint visit of this step-down is already recorded")
    not_future("held_on", body.held_on, ctx.now)
    if episode.stepdown_panel_on and body.held_on < episode.stepdown_panel_on:
        raise ValidationProblem("held_on", "is before the step-down panel")
    episode.joint_visit_held_on = body.held_on
    touch(episode)
    await ctx.session.flush()
    await ctx.publish("joint_visit.recorded", {"episode_id": episode.id, "held_on": body.held_on.isoformat()})
    due = episode.joint_visit_due_on
    return {
        "episode_id": episode.id,
        "held_on": body.held_on,
        "due_on": due,
        "within_deadline": (body.held_on <= due) if due else None,
    }


# --- closure --------------------------------------------------------------------------------


async def close_episode(ctx: Context, episode_id: str, body: EpisodeClose) -> EpisodeRead:
    episode, access = await visible_episode(ctx, episode_id)
    policy.may_close(ctx.identity)
    ensure_open(episode)
    plan = await repo.latest_plan(ctx.session, episode.id)
    outcomes = {o.outcome_id: o for o in await repo.plan_outcomes(ctx.session, plan.id)} if plan else {}
    seen: set[str] = set()
    for i, outcome_id in enumerate(body.outcomes_achieved):
        if outcome_id not in outcomes:
            raise ValidationProblem(f"outcomes_achieved.{i}", "is not an outcome of the current plan")
        if outcome_id in seen:
            raise ValidationProblem(f"outcomes_achieved.{i}", "is listed twice")
        seen.add(outcome_id)
    now = ctx.now
    episode.status = "closed"
    episode.closed_at = now
    episode.close_reason = body.reason
    episode.closure_summary = body.summary
    episode.signed_off_by_practitioner_id = ctx.identity.practitioner_id
    episode.signed_off_by_client_id = ctx.identity.client_id
    touch(episode)
    ctx.session.add_all(
        [ClosureOutcome(episode_id=episode.id, outcome_id=o, headline=outcomes[o].headline) for o in seen]
    )
    await ctx.session.flush()
    await ctx.publish(
        "episode.closed",
        {
            "episode_id": episode.id,
            "reason": body.reason,
            "closed_at": now.isoformat(),
            "signed_off_by_practitioner_id": ctx.identity.practitioner_id,
            "taf_agency_ids": await partner_events.taf_agency_ids(ctx, episode.id),
        },
    )
    return await episode_read(ctx, episode, access.person_ids)
