"""Rules of the Early Help Assessment: draft -> submitted -> approved | returned (back to
editable), extensions approved by a manager, reassessment after 12 months."""

from __future__ import annotations

import uuid
from calendar import monthrange
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.assessments import policy
from services.assessments import repository as repo
from services.assessments.access import EpisodeAccess, Viewer
from services.assessments.app_runtime import AssessmentsRuntime
from services.assessments.episodes import ensure_open, today, valid_open_episode, visible_episode
from services.assessments.errors import (
    AssessmentInProgress,
    AssessmentNotFound,
    AssessmentWrongState,
    ReassessmentNotDue,
)
from services.assessments.models import Assessment, AssessmentExtension, Episode
from services.assessments.schemas import (
    AssessmentApprove,
    AssessmentCreate,
    AssessmentList,
    AssessmentRead,
    AssessmentReturn,
    AssessmentSummary,
    AssessmentUpdate,
    ExtensionCreate,
    ExtensionRead,
)
from shared.clock import utcnow
from shared.identity import Identity
from shared.pagination import PageParams, page_of
from shared.problems import NotFound, ValidationProblem

EDITABLE = frozenset({"draft", "returned"})


def add_months(moment: datetime, months: int) -> datetime:
    year, month0 = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day)


def assessment_read(a: Assessment, extensions: list[AssessmentExtension]) -> AssessmentRead:
    # A mapper, not model_validate: the extensions are rows of their own, read separately.
    return AssessmentRead(
        id=a.id,
        episode_id=a.episode_id,
        status=a.status,
        started_at=a.started_at,
        due_on=a.due_on,
        submitted_at=a.submitted_at,
        approved_at=a.approved_at,
        approved_by=a.approved_by,
        returned_at=a.returned_at,
        return_reason=a.return_reason,
        family_members=a.family_members,
        baseline=a.baseline,
        factors=a.factors,
        diversity=a.diversity,
        analysis=a.analysis,
        priorities=a.priorities,
        extensions=[ExtensionRead.model_validate(e, from_attributes=True) for e in extensions],
        author_practitioner_id=a.author_practitioner_id,
        author_client_id=a.author_client_id,
    )


async def to_read(session: AsyncSession, a: Assessment) -> AssessmentRead:
    return assessment_read(a, await repo.extensions_of(session, a.id))


def apply_fields(a: Assessment, body: AssessmentCreate | AssessmentUpdate) -> None:
    values = body.model_dump(mode="json", exclude_unset=True)
    for name in ("family_members", "baseline", "factors", "diversity", "priorities"):
        if name in values:
            empty: Any = {} if name in ("baseline", "diversity") else []
            setattr(a, name, empty if values[name] is None else values[name])
    if "analysis" in values:
        a.analysis = values["analysis"]


async def start_assessment(
    session: AsyncSession,
    runtime: AssessmentsRuntime,
    viewer: Viewer,
    episode_id: str,
    body: AssessmentCreate,
) -> Assessment:
    episode, _ = await valid_open_episode(session, viewer, episode_id)
    existing = await repo.assessments_of(session, episode.id)
    if any(a.status != "approved" for a in existing):
        raise AssessmentInProgress("Finish the assessment in progress before starting another")
    approved = [a.approved_at for a in existing if a.approved_at]
    now = utcnow()
    if approved:
        due = add_months(max(approved), runtime.settings.reassessment_months)
        if now < due:
            raise ReassessmentNotDue(
                f"A reassessment is allowed 12 months after the last approval, from {due.date().isoformat()}"
            )
        due_on = runtime.calendar.add_working_days(
            now, runtime.settings.assessment_complete_working_days
        ).date()
    else:
        due_on = episode.assessment_complete_due_at.date()
    a = Assessment(
        id=str(uuid.uuid4()),
        episode_id=episode.id,
        status="draft",
        started_at=now,
        due_on=due_on,
        family_members=[],
        baseline={},
        factors=[],
        diversity={},
        priorities=[],
        author_practitioner_id=viewer.identity.practitioner_id,
        author_client_id=viewer.identity.client_id,
        version=1,
    )
    apply_fields(a, body)
    session.add(a)
    await session.flush()
    await runtime.publish(
        session,
        "assessment.started",
        {
            "episode_id": episode.id,
            "assessment_id": a.id,
            "started_at": now.isoformat(),
            "due_on": due_on.isoformat(),
        },
    )
    return a


async def _load(
    session: AsyncSession, viewer: Viewer, assessment_id: str
) -> tuple[Assessment, Episode, EpisodeAccess]:
    a = await repo.get_assessment(session, assessment_id)
    if a is None:
        raise AssessmentNotFound("No such assessment")
    try:
        episode, access = await visible_episode(session, viewer, a.episode_id)
    except NotFound:
        raise AssessmentNotFound("No such assessment") from None
    return a, episode, access


async def read_assessment(session: AsyncSession, viewer: Viewer, assessment_id: str) -> Assessment:
    a, _episode, access = await _load(session, viewer, assessment_id)
    viewer.disclosed(access, "assessment", a.id)
    return a


async def load_for_change(session: AsyncSession, viewer: Viewer, assessment_id: str) -> Assessment:
    a, episode, _ = await _load(session, viewer, assessment_id)
    ensure_open(episode)
    return a


def _state(a: Assessment, allowed: frozenset[str] | set[str], action: str) -> None:
    if a.status not in allowed:
        raise AssessmentWrongState(f"An assessment that is {a.status} cannot be {action}")


async def update_assessment(session: AsyncSession, a: Assessment, body: AssessmentUpdate) -> Assessment:
    _state(a, EDITABLE, "edited")
    apply_fields(a, body)
    a.version += 1
    await session.flush()
    return a


async def submit_assessment(session: AsyncSession, runtime: AssessmentsRuntime, a: Assessment) -> Assessment:
    _state(a, EDITABLE, "submitted")
    if not a.family_members:
        raise ValidationProblem(
            "family_members",
            "a whole-family assessment needs a section per family member",
            type_slug="assessment-incomplete",
        )
    if not (a.analysis or "").strip():
        raise ValidationProblem(
            "analysis", "the analysis is required before submitting", type_slug="assessment-incomplete"
        )
    now = utcnow()
    a.status = "submitted"
    a.submitted_at = now
    a.version += 1
    await session.flush()
    await runtime.publish(
        session,
        "assessment.submitted",
        {
            "episode_id": a.episode_id,
            "assessment_id": a.id,
            "submitted_at": now.isoformat(),
            # For the managers' alert: ids only, never a name.
            "author_practitioner_id": a.author_practitioner_id,
        },
    )
    return a


async def approve_assessment(
    session: AsyncSession,
    runtime: AssessmentsRuntime,
    identity: Identity,
    a: Assessment,
    body: AssessmentApprove,
) -> Assessment:
    policy.may_approve(identity, a, "approve")
    _state(a, {"submitted"}, "approved")
    now = utcnow()
    a.status = "approved"
    a.approved_at = now
    a.approved_by = body.approved_by.model_dump()
    a.version += 1
    await session.flush()
    await runtime.publish(
        session,
        "assessment.approved",
        {"episode_id": a.episode_id, "assessment_id": a.id, "approved_at": now.isoformat()},
    )
    return a


async def return_assessment(
    session: AsyncSession, identity: Identity, a: Assessment, body: AssessmentReturn
) -> Assessment:
    policy.may_approve(identity, a, "return")
    _state(a, {"submitted"}, "returned")
    a.status = "returned"
    a.returned_at = utcnow()
    a.return_reason = body.reason
    a.version += 1
    await session.flush()
    return a


async def extend_assessment(
    session: AsyncSession, runtime: AssessmentsRuntime, a: Assessment, body: ExtensionCreate
) -> Assessment:
    _state(a, {"draft", "returned", "submitted"}, "extended")
    if body.new_due_on <= a.due_on:
        raise ValidationProblem("new_due_on", f"must be after the current due date {a.due_on.isoformat()}")
    if body.new_due_on < today():
        raise ValidationProblem("new_due_on", "must not be in the past")
    if body.new_due_on > today() + timedelta(days=366):
        raise ValidationProblem("new_due_on", "must be within a year")
    session.add(
        AssessmentExtension(
            id=str(uuid.uuid4()),
            assessment_id=a.id,
            previous_due_on=a.due_on,
            new_due_on=body.new_due_on,
            reason=body.reason,
            approved_by=body.approved_by.model_dump(),
            created_at=utcnow(),
        )
    )
    a.due_on = body.new_due_on
    a.version += 1
    await session.flush()
    await runtime.publish(
        session,
        "assessment.extended",
        {"episode_id": a.episode_id, "assessment_id": a.id, "new_due_on": body.new_due_on.isoformat()},
    )
    return a


async def awaiting_approval(session: AsyncSession, identity: Identity, params: PageParams) -> AssessmentList:
    """`GET /v1/assessments?status=submitted`: the managers' worklist, oldest submission
    first, leaving out the caller's own (they may not approve them)."""
    policy.may_list_awaiting_approval(identity)
    rows = await repo.awaiting_approval(session, params, not_author=identity.practitioner_id)
    page, cursor = page_of(rows, params, "submitted_at")
    return AssessmentList(
        items=[
            AssessmentSummary(
                id=a.id,
                episode_id=a.episode_id,
                status=a.status,
                started_at=a.started_at,
                submitted_at=a.submitted_at,
                due_on=a.due_on,
                author_practitioner_id=a.author_practitioner_id,
            )
            for a in page
        ],
        next_cursor=cursor,
    )
