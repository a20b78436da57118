"""Every query of the assessments service lives here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.assessments.models import (
    Assessment,
    AssessmentExtension,
    CaseNote,
    CaseNoteVersion,
    ClosureOutcome,
    Contact,
    Episode,
    EpisodeCounter,
    EpisodeFamilyMember,
    EpisodePerson,
    EpisodeReportFact,
    EpisodeReviewFact,
    LeadProfessional,
    Plan,
    PlanAction,
    PlanOutcome,
    Review,
    ReviewScore,
    StepUp,
    TafMember,
)
from services.assessments.schemas import EpisodeFigures
from shared.changes import where_changed_since
from shared.pagination import PageParams, keyset

# --- references -----------------------------------------------------------------------------


async def next_reference_number(session: AsyncSession, year: int) -> int:
    """Atomic per-year counter: an UPDATE ... RETURNING takes the row lock, so two concurrent
    openings never get the same number (SQLite serialises writers with BEGIN IMMEDIATE)."""
    return await reserve_reference_numbers(session, year, 1)


async def reserve_reference_numbers(session: AsyncSession, year: int, count: int) -> int:
    """The first of `count` consecutive numbers of the year's series, taken at once (the bulk
    import numbers a batch of episodes in one statement), as `next_reference_number` takes one."""
    for _ in range(3):
        stmt = (
            update(EpisodeCounter)
            .where(EpisodeCounter.year == year)
            .values(last=EpisodeCounter.last + count)
            .returning(EpisodeCounter.last)
        )
        value = (await session.execute(stmt)).scalar_one_or_none()
        if value is not None:
            return int(value) - count + 1
        try:
            async with session.begin_nested():
                await session.execute(insert(EpisodeCounter).values(year=year, last=count))
            return 1
        except IntegrityError:
            continue  # another transaction created the year's row first: increment it
    raise RuntimeError("could not allocate an episode reference")


# --- episodes -------------------------------------------------------------------------------


async def get_episode(session: AsyncSession, episode_id: str) -> Episode | None:
    return await session.get(Episode, episode_id)


async def episode_and_people(session: AsyncSession, episode_id: str) -> tuple[Episode | None, list[str]]:
    """The episode and its people's ids (sorted), in one round trip: every read and change of
    an episode needs both (the access check is per person)."""
    rows = (await session.execute(_EPISODE_AND_PEOPLE, {"episode_id": episode_id})).all()
    if not rows:
        return None, []
    return rows[0][0], [person_id for _, person_id in rows if person_id is not None]


async def episode_by_referral(session: AsyncSession, referral_id: str) -> Episode | None:
    return (
        await session.execute(select(Episode).where(Episode.referral_id == referral_id))
    ).scalar_one_or_none()


# What every read of an episode runs, built once with bind parameters: building a statement
# (and its cache key) each time cost about as much CPU as running it (docs/performance.md).
_EPISODE_AND_PEOPLE = (
    select(Episode, EpisodePerson.person_id)
    .outerjoin(EpisodePerson, EpisodePerson.episode_id == Episode.id)
    .where(Episode.id == bindparam("episode_id"))
    .order_by(EpisodePerson.person_id)
)
_PERSON_IDS = (
    select(EpisodePerson.person_id)
    .where(EpisodePerson.episode_id == bindparam("episode_id"))
    .order_by(EpisodePerson.person_id)
)
_LEAD_HISTORY = (
    select(LeadProfessional)
    .where(LeadProfessional.episode_id == bindparam("episode_id"))
    .order_by(LeadProfessional.assigned_at, LeadProfessional.id)
)
_TAF_MEMBERS = (
    select(TafMember)
    .where(TafMember.episode_id == bindparam("episode_id"), TafMember.removed_at.is_(None))
    .order_by(TafMember.added_at, TafMember.id)
)
_REVIEWS = (
    select(Review)
    .where(Review.episode_id == bindparam("episode_id"))
    .order_by(Review.held_on, Review.created_at)
)


async def person_ids(session: AsyncSession, episode_id: str) -> list[str]:
    return list((await session.execute(_PERSON_IDS, {"episode_id": episode_id})).scalars())


async def person_ids_for(session: AsyncSession, episode_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {e: [] for e in episode_ids}
    if not episode_ids:
        return out
    rows = await session.execute(
        select(EpisodePerson.episode_id, EpisodePerson.person_id)
        .where(EpisodePerson.episode_id.in_(episode_ids))
        .order_by(EpisodePerson.person_id)
    )
    for eid, pid in rows:
        out[eid].append(pid)
    return out


async def add_people(session: AsyncSession, episode_id: str, people: list[str]) -> None:
    session.add_all([EpisodePerson(episode_id=episode_id, person_id=p) for p in dict.fromkeys(people)])


async def list_episodes(
    session: AsyncSession,
    params: PageParams,
    *,
    person_id: str | None,
    status: str | None,
    taf_agency_id: str | None,
    updated_since: datetime | None = None,
) -> list[Episode]:
    stmt = where_changed_since(select(Episode), updated_since, Episode.updated_at)
    if person_id:
        stmt = stmt.where(
            Episode.id.in_(select(EpisodePerson.episode_id).where(EpisodePerson.person_id == person_id))
        )
    if status:
        stmt = stmt.where(Episode.status == status)
    if taf_agency_id is not None:
        stmt = stmt.where(Episode.id.in_(active_taf_episode_ids(taf_agency_id)))
    stmt = keyset(stmt, Episode.opened_at, Episode.id, params)
    return list((await session.execute(stmt)).scalars())


def active_taf_episode_ids(agency_id: str) -> Any:
    return select(TafMember.episode_id).where(
        TafMember.agency_id == agency_id, TafMember.removed_at.is_(None)
    )


async def episodes_of_person(session: AsyncSession, person_id: str) -> list[Episode]:
    stmt = (
        select(Episode)
        .where(Episode.id.in_(select(EpisodePerson.episode_id).where(EpisodePerson.person_id == person_id)))
        .order_by(Episode.opened_at)
    )
    return list((await session.execute(stmt)).scalars())


async def mark_consent_withdrawn(session: AsyncSession, person_id: str, at: datetime) -> list[str]:
    ids = list(
        (
            await session.execute(
                select(EpisodePerson.episode_id).where(EpisodePerson.person_id == person_id)
            )
        ).scalars()
    )
    if ids:
        await session.execute(
            update(Episode)
            .where(Episode.id.in_(ids), Episode.status == "open")
            .values(consent_withdrawn_at=at, version=Episode.version + 1)
        )
    return ids


# --- lead professional and TAF --------------------------------------------------------------


async def lead_history(session: AsyncSession, episode_id: str) -> list[LeadProfessional]:
    return list((await session.execute(_LEAD_HISTORY, {"episode_id": episode_id})).scalars())


async def end_current_lead(session: AsyncSession, episode_id: str, at: datetime) -> None:
    await session.execute(
        update(LeadProfessional)
        .where(LeadProfessional.episode_id == episode_id, LeadProfessional.ended_at.is_(None))
        .values(ended_at=at)
    )


async def taf_members(session: AsyncSession, episode_id: str) -> list[TafMember]:
    return list((await session.execute(_TAF_MEMBERS, {"episode_id": episode_id})).scalars())


_TAF_JOINING = (
    select(TafMember.added_at, TafMember.family_agreed)
    .where(
        TafMember.episode_id == bindparam("episode_id"),
        TafMember.agency_id == bindparam("agency_id"),
        TafMember.removed_at.is_(None),
    )
    .order_by(TafMember.added_at, TafMember.id)
    .limit(1)
)


async def taf_joining(session: AsyncSession, episode_id: str, agency_id: str) -> tuple[datetime, bool] | None:
    """The agency's first current TAF membership of the episode: (added_at, family_agreed);
    None when the agency is not on the TAF."""
    row = (await session.execute(_TAF_JOINING, {"episode_id": episode_id, "agency_id": agency_id})).first()
    return None if row is None else (row[0], bool(row[1]))


async def current_lead(session: AsyncSession, episode_id: str) -> LeadProfessional | None:
    return (
        await session.execute(
            select(LeadProfessional)
            .where(LeadProfessional.episode_id == episode_id, LeadProfessional.ended_at.is_(None))
            .order_by(LeadProfessional.assigned_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


def _my_lead_episodes(practitioner_id: str, agency_id: str) -> Any:
    return select(LeadProfessional.episode_id).where(
        LeadProfessional.practitioner_id == practitioner_id,
        LeadProfessional.agency_id == agency_id,
        LeadProfessional.ended_at.is_(None),
    )


def _my_taf_episodes(practitioner_id: str, agency_id: str) -> Any:
    return select(TafMember.episode_id).where(
        TafMember.practitioner_id == practitioner_id,
        TafMember.agency_id == agency_id,
        TafMember.removed_at.is_(None),
    )


async def caseload(
    session: AsyncSession,
    params: PageParams,
    *,
    practitioner_id: str,
    agency_id: str,
    updated_since: datetime | None = None,
) -> list[Episode]:
    """Open episodes where the practitioner (of that agency) is the current lead professional
    or a current TAF member, newest first."""
    stmt = select(Episode).where(
        Episode.status == "open",
        or_(
            Episode.id.in_(_my_lead_episodes(practitioner_id, agency_id)),
            Episode.id.in_(_my_taf_episodes(practitioner_id, agency_id)),
        ),
    )
    stmt = where_changed_since(stmt, updated_since, Episode.updated_at)
    stmt = keyset(stmt, Episode.opened_at, Episode.id, params)
    return list((await session.execute(stmt)).scalars())


async def relationships_of(
    session: AsyncSession, episode_ids: list[str], *, practitioner_id: str, agency_id: str
) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {e: [] for e in episode_ids}
    if not episode_ids:
        return out
    lead = _my_lead_episodes(practitioner_id, agency_id).where(LeadProfessional.episode_id.in_(episode_ids))
    for eid in (await session.execute(lead)).scalars():
        if "lead_professional" not in out[eid]:
            out[eid].append("lead_professional")
    taf = _my_taf_episodes(practitioner_id, agency_id).where(TafMember.episode_id.in_(episode_ids))
    for eid in (await session.execute(taf)).scalars():
        if "taf_member" not in out[eid]:
            out[eid].append("taf_member")
    return out


async def taf_episode_ids(session: AsyncSession, agency_id: str, episode_ids: list[str]) -> set[str]:
    if not episode_ids:
        return set()
    rows = await session.execute(
        select(TafMember.episode_id).where(
            TafMember.episode_id.in_(episode_ids),
            TafMember.agency_id == agency_id,
            TafMember.removed_at.is_(None),
        )
    )
    return set(rows.scalars())


async def get_taf_member(session: AsyncSession, episode_id: str, member_id: str) -> TafMember | None:
    member = await session.get(TafMember, member_id)
    if member is None or member.episode_id != episode_id or member.removed_at is not None:
        return None
    return member


# --- contacts -------------------------------------------------------------------------------


async def has_contact(session: AsyncSession, episode_id: str) -> bool:
    row = await session.execute(select(Contact.id).where(Contact.episode_id == episode_id).limit(1))
    return row.first() is not None


# --- assessments ----------------------------------------------------------------------------


async def get_assessment(session: AsyncSession, assessment_id: str) -> Assessment | None:
    return await session.get(Assessment, assessment_id)


async def assessments_of(session: AsyncSession, episode_id: str) -> list[Assessment]:
    rows = await session.execute(
        select(Assessment).where(Assessment.episode_id == episode_id).order_by(Assessment.started_at)
    )
    return list(rows.scalars())


async def awaiting_approval(
    session: AsyncSession,
    params: PageParams,
    *,
    not_author: str | None,
    updated_since: datetime | None = None,
) -> list[Assessment]:
    """Submitted assessments of open episodes, oldest submission first; without those
    `not_author` started (no one approves their own)."""
    stmt = (
        select(Assessment)
        .join(Episode, Episode.id == Assessment.episode_id)
        .where(Assessment.status == "submitted", Episode.status == "open")
    )
    if not_author is not None:
        stmt = stmt.where(
            or_(Assessment.author_practitioner_id.is_(None), Assessment.author_practitioner_id != not_author)
        )
    stmt = where_changed_since(stmt, updated_since, Assessment.updated_at)
    stmt = keyset(stmt, Assessment.submitted_at, Assessment.id, params, descending=False)
    return list((await session.execute(stmt)).scalars())


async def extensions_of(session: AsyncSession, assessment_id: str) -> list[AssessmentExtension]:
    rows = await session.execute(
        select(AssessmentExtension)
        .where(AssessmentExtension.assessment_id == assessment_id)
        .order_by(AssessmentExtension.created_at)
    )
    return list(rows.scalars())


# --- plans ----------------------------------------------------------------------------------


async def latest_plan(session: AsyncSession, episode_id: str) -> Plan | None:
    rows = await session.execute(
        select(Plan).where(Plan.episode_id == episode_id).order_by(Plan.version.desc()).limit(1)
    )
    return rows.scalar_one_or_none()


async def plan_version(session: AsyncSession, episode_id: str, version: int) -> Plan | None:
    rows = await session.execute(select(Plan).where(Plan.episode_id == episode_id, Plan.version == version))
    return rows.scalar_one_or_none()


async def plan_versions(session: AsyncSession, episode_id: str) -> list[int]:
    rows = await session.execute(
        select(Plan.version).where(Plan.episode_id == episode_id).order_by(Plan.version)
    )
    return list(rows.scalars())


async def plans_of(session: AsyncSession, episode_id: str) -> list[Plan]:
    rows = await session.execute(select(Plan).where(Plan.episode_id == episode_id).order_by(Plan.version))
    return list(rows.scalars())


async def plan_outcomes(session: AsyncSession, plan_id: str) -> list[PlanOutcome]:
    rows = await session.execute(
        select(PlanOutcome).where(PlanOutcome.plan_id == plan_id).order_by(PlanOutcome.position)
    )
    return list(rows.scalars())


async def plan_actions(session: AsyncSession, plan_id: str) -> list[PlanAction]:
    rows = await session.execute(
        select(PlanAction).where(PlanAction.plan_id == plan_id).order_by(PlanAction.position)
    )
    return list(rows.scalars())


async def action_in_latest_plan(session: AsyncSession, action_id: str) -> tuple[PlanAction, Plan] | None:
    """The action's row in the newest plan version that contains it."""
    row = (
        await session.execute(
            select(PlanAction, Plan)
            .join(Plan, Plan.id == PlanAction.plan_id)
            .where(PlanAction.action_id == action_id)
            .order_by(Plan.version.desc())
            .limit(1)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def headlines_of(session: AsyncSession, outcome_ids: list[str]) -> dict[str, str]:
    if not outcome_ids:
        return {}
    rows = await session.execute(
        select(PlanOutcome.outcome_id, PlanOutcome.headline).where(PlanOutcome.outcome_id.in_(outcome_ids))
    )
    return {oid: headline for oid, headline in rows}


# --- reviews --------------------------------------------------------------------------------


async def reviews_of(session: AsyncSession, episode_id: str) -> list[Review]:
    return list((await session.execute(_REVIEWS, {"episode_id": episode_id})).scalars())


async def scores_of(session: AsyncSession, review_ids: list[str]) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {r: [] for r in review_ids}
    if not review_ids:
        return out
    rows = await session.execute(
        select(ReviewScore.review_id, ReviewScore.outcome_id, ReviewScore.score).where(
            ReviewScore.review_id.in_(review_ids)
        )
    )
    for rid, oid, score in rows:
        out[rid].append((oid, score))
    return out


# --- closure --------------------------------------------------------------------------------


async def closure_outcomes(session: AsyncSession, episode_id: str) -> list[str]:
    rows = await session.execute(
        select(ClosureOutcome.outcome_id)
        .where(ClosureOutcome.episode_id == episode_id)
        .order_by(ClosureOutcome.outcome_id)
    )
    return list(rows.scalars())


# --- step-ups -------------------------------------------------------------------------------


async def step_ups_of(session: AsyncSession, episode_id: str) -> list[StepUp]:
    rows = await session.execute(
        select(StepUp).where(StepUp.episode_id == episode_id).order_by(StepUp.requested_at)
    )
    return list(rows.scalars())


async def pending_step_up(session: AsyncSession, episode_id: str) -> StepUp | None:
    rows = await session.execute(
        select(StepUp).where(StepUp.episode_id == episode_id, StepUp.status == "pending").limit(1)
    )
    return rows.scalar_one_or_none()


def _step_up_due(now: datetime) -> tuple[Any, ...]:
    return (StepUp.status == "pending", StepUp.next_attempt_at <= now)


async def any_due_step_up(session: AsyncSession, now: datetime) -> bool:
    """Whether the worker has a step-up to resend: asked on the read side first, so an idle
    worker takes no write transaction (on SQLite, no write lock) every half second."""
    return (await session.execute(select(StepUp.id).where(*_step_up_due(now)).limit(1))).first() is not None


async def due_step_ups(session: AsyncSession, now: datetime, limit: int = 20) -> list[StepUp]:
    rows = await session.execute(
        select(StepUp).where(*_step_up_due(now)).order_by(StepUp.requested_at).limit(limit)
    )
    return list(rows.scalars())


# --- reports --------------------------------------------------------------------------------


async def episode_report(
    session: AsyncSession,
    opened_from: datetime | None,
    opened_to: datetime | None,
    now: datetime,
    extra: Sequence[Any] = (),
) -> EpisodeFigures:
    """Every figure is one aggregate query, read by column name; nothing is counted in Python.
    `extra`: labelled counts over the same rows (the cohort's episodes, each with its
    `episode_report_fact` and `episode_review_fact` if any), read in the same pass."""
    conds = []
    if opened_from is not None:
        conds.append(Episode.opened_at >= opened_from)
    if opened_to is not None:
        conds.append(Episode.opened_at < opened_to)
    where = and_(True, *conds)

    def count_if(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    # The episode's first assessment started and first approved (min skips the unapproved), as
    # kept when each is started and approved (report_facts.py); its reviews as they are recorded.
    first_assessment = EpisodeReportFact
    year_ago = now - timedelta(days=365)
    first_contact_at, first_contact_due = Episode.first_contact_at, Episode.first_contact_due_at
    started, start_due = first_assessment.first_assessment_started_at, Episode.assessment_start_due_at
    approved, complete_due = first_assessment.first_assessment_approved_at, Episode.assessment_complete_due_at
    reviews = func.coalesce(EpisodeReviewFact.reviews, 0)
    stmt = (
        select(
            func.count(Episode.id).label("episodes_opened"),
            count_if(and_(first_contact_at.is_not(None), first_contact_at <= first_contact_due)).label(
                "first_contact_within"
            ),
            count_if(and_(first_contact_at.is_not(None), first_contact_at > first_contact_due)).label(
                "first_contact_late"
            ),
            count_if(and_(first_contact_at.is_(None), first_contact_due < now)).label(
                "first_contact_overdue"
            ),
            count_if(started <= start_due).label("assessment_started_within"),
            count_if(started > start_due).label("assessment_started_late"),
            count_if(and_(started.is_(None), start_due < now)).label("assessment_started_overdue"),
            count_if(approved <= complete_due).label("assessment_completed_within"),
            count_if(approved > complete_due).label("assessment_completed_late"),
            count_if(and_(approved.is_(None), complete_due < now)).label("assessment_completed_overdue"),
            count_if(and_(Episode.status == "open", Episode.opened_at < year_ago)).label(
                "open_more_than_12_months"
            ),
            count_if(reviews >= 3).label("three_or_more_reviews"),
            count_if(and_(Episode.status == "open", or_(Episode.opened_at < year_ago, reviews >= 3))).label(
                "open_and_drifting"
            ),
            *extra,
        )
        .select_from(Episode)
        .outerjoin(first_assessment, first_assessment.episode_id == Episode.id)
        .outerjoin(EpisodeReviewFact, EpisodeReviewFact.episode_id == Episode.id)
        .where(where)
    )
    counts = (await session.execute(stmt)).mappings().one()
    closures = await session.execute(
        select(Episode.close_reason, func.count())
        .where(where, Episode.status == "closed")
        .group_by(Episode.close_reason)
        .order_by(Episode.close_reason)
    )
    outcomes = await session.execute(
        select(ClosureOutcome.headline, func.count())
        .join(Episode, Episode.id == ClosureOutcome.episode_id)
        .where(where)
        .group_by(ClosureOutcome.headline)
        .order_by(ClosureOutcome.headline)
    )
    extra_names = {column.name for column in extra}
    return EpisodeFigures(
        **{name: int(value) for name, value in counts.items() if name not in extra_names},
        extra={name: int(value) for name, value in counts.items() if name in extra_names},
        closures_by_reason={str(k): int(v) for k, v in closures},
        outcomes_achieved_by_headline={str(k): int(v) for k, v in outcomes},
    )


# --- contacts, case notes and the chronology (issue 20) -------------------------------------


async def contacts_page(
    session: AsyncSession, episode_id: str, params: PageParams, updated_since: datetime | None = None
) -> list[Contact]:
    """A contact never changes: `updated_since` is on when it was recorded."""
    stmt = where_changed_since(
        select(Contact).where(Contact.episode_id == episode_id), updated_since, Contact.created_at
    )
    stmt = keyset(stmt, Contact.contact_at, Contact.id, params)
    return list((await session.execute(stmt)).scalars())


async def get_contact(session: AsyncSession, episode_id: str, contact_id: str) -> Contact | None:
    contact = await session.get(Contact, contact_id)
    return contact if contact is not None and contact.episode_id == episode_id else None


async def notes_page(
    session: AsyncSession,
    episode_id: str,
    params: PageParams,
    *,
    include_restricted: bool,
    updated_since: datetime | None = None,
) -> list[CaseNote]:
    """`updated_since`: written or amended after it."""
    stmt = where_changed_since(
        select(CaseNote).where(CaseNote.episode_id == episode_id),
        updated_since,
        CaseNote.created_at,
        CaseNote.amended_at,
    )
    if not include_restricted:
        stmt = stmt.where(CaseNote.restricted.is_(False))
    stmt = keyset(stmt, CaseNote.occurred_at, CaseNote.id, params)
    return list((await session.execute(stmt)).scalars())


async def get_note(session: AsyncSession, episode_id: str, note_id: str) -> CaseNote | None:
    note = await session.get(CaseNote, note_id)
    return note if note is not None and note.episode_id == episode_id else None


async def note_versions(session: AsyncSession, note_id: str) -> list[CaseNoteVersion]:
    rows = await session.execute(
        select(CaseNoteVersion).where(CaseNoteVersion.note_id == note_id).order_by(CaseNoteVersion.version)
    )
    return list(rows.scalars())


# The chronology's sources, as columns (never whole rows: no note text, no JSON sections), one
# statement per source, built once (docs/performance.md, "The chronology").
_CHRONO_CONTACTS = select(Contact.id, Contact.contact_at, Contact.method, Contact.first).where(
    Contact.episode_id == bindparam("episode_id")
)
_CHRONO_NOTES = select(
    CaseNote.id, CaseNote.occurred_at, CaseNote.kind, CaseNote.restricted, CaseNote.version
).where(CaseNote.episode_id == bindparam("episode_id"))
_CHRONO_OPEN_NOTES = _CHRONO_NOTES.where(CaseNote.restricted.is_(False))
_CHRONO_ASSESSMENTS = (
    select(
        Assessment.id,
        Assessment.started_at,
        Assessment.submitted_at,
        Assessment.approved_at,
        Assessment.returned_at,
    )
    .where(Assessment.episode_id == bindparam("episode_id"))
    .order_by(Assessment.started_at, Assessment.id)
)
_CHRONO_TAF = (
    select(TafMember.id, TafMember.agency_id, TafMember.agency_type, TafMember.added_at, TafMember.removed_at)
    .where(TafMember.episode_id == bindparam("episode_id"))
    .order_by(TafMember.added_at, TafMember.id)
)
_CHRONO_LEADS = (
    select(LeadProfessional.id, LeadProfessional.agency_id, LeadProfessional.assigned_at)
    .where(LeadProfessional.episode_id == bindparam("episode_id"))
    .order_by(LeadProfessional.assigned_at, LeadProfessional.id)
)
_CHRONO_PLANS = (
    select(Plan.id, Plan.version, Plan.agreed_at)
    .where(Plan.episode_id == bindparam("episode_id"))
    .order_by(Plan.version)
)
_CHRONO_REVIEWS = (
    select(Review.id, Review.held_on, Review.next_review_on)
    .where(Review.episode_id == bindparam("episode_id"))
    .order_by(Review.held_on, Review.created_at)
)
_CHRONO_STEP_UPS = (
    select(StepUp.id, StepUp.requested_at, StepUp.referral_id)
    .where(StepUp.episode_id == bindparam("episode_id"))
    .order_by(StepUp.requested_at)
)


async def _rows(session: AsyncSession, stmt: Any, episode_id: str) -> list[Any]:
    return list((await session.execute(stmt, {"episode_id": episode_id})).all())


async def chrono_contacts(session: AsyncSession, episode_id: str) -> list[Any]:
    return await _rows(session, _CHRONO_CONTACTS, episode_id)


async def chrono_notes(session: AsyncSession, episode_id: str, *, include_restricted: bool) -> list[Any]:
    return await _rows(session, _CHRONO_NOTES if include_restricted else _CHRONO_OPEN_NOTES, episode_id)


async def chrono_assessments(session: AsyncSession, episode_id: str) -> list[Any]:
    return await _rows(session, _CHRONO_ASSESSMENTS, episode_id)


async def chrono_taf(session: AsyncSession, episode_id: str) -> list[Any]:
    """Every TAF membership, past ones included."""
    return await _rows(session, _CHRONO_TAF, episode_id)


async def chrono_leads(session: AsyncSession, episode_id: str) -> list[Any]:
    return await _rows(session, _CHRONO_LEADS, episode_id)


async def chrono_plans(session: AsyncSession, episode_id: str) -> list[Any]:
    return await _rows(session, _CHRONO_PLANS, episode_id)


async def chrono_reviews(session: AsyncSession, episode_id: str) -> list[Any]:
    return await _rows(session, _CHRONO_REVIEWS, episode_id)


async def chrono_step_ups(session: AsyncSession, episode_id: str) -> list[Any]:
    return await _rows(session, _CHRONO_STEP_UPS, episode_id)


# --- the episode's family (issue 20) ---------------------------------------------------------


async def family_members(session: AsyncSession, episode_id: str) -> list[EpisodeFamilyMember]:
    stmt = (
        select(EpisodeFamilyMember)
        .where(EpisodeFamilyMember.episode_id == episode_id)
        .order_by(
            EpisodeFamilyMember.role.desc(), EpisodeFamilyMember.added_at, EpisodeFamilyMember.person_id
        )
    )
    return list((await session.execute(stmt)).scalars().all())


async def replace_family(session: AsyncSession, episode_id: str, members: list[EpisodeFamilyMember]) -> None:
    await session.execute(delete(EpisodeFamilyMember).where(EpisodeFamilyMember.episode_id == episode_id))
    session.add_all(members)


FAMILY_RELATIONSHIPS = frozenset({"mother", "father", "carer", "guardian", "sibling", "partner", "other"})


async def add_family(
    session: AsyncSession,
    episode_id: str,
    children: list[str],
    adults: list[str],
    relationships: dict[str, str],
    *,
    at: datetime,
) -> None:
    """The family an episode opens with: its children, then the adults named with it (an
    unknown relationship code is left out, never stored)."""
    seen: set[str] = set()
    for role, ids in (("child", children), ("adult", adults)):
        for pid in ids:
            if pid in seen:
                continue
            seen.add(pid)
            rel = relationships.get(pid)
            session.add(
                EpisodeFamilyMember(
                    episode_id=episode_id,
                    person_id=pid,
                    role=role,
                    relationship=rel if rel in FAMILY_RELATIONSHIPS else None,
                    added_at=at,
                )
            )


async def referrals_with_episodes(session: AsyncSession, referral_ids: list[str]) -> set[str]:
    """Which of these referrals have an episode already (the bulk import, issue 22)."""
    if not referral_ids:
        return set()
    rows = await session.execute(select(Episode.referral_id).where(Episode.referral_id.in_(referral_ids)))
    return {r for r in rows.scalars() if r is not None}
