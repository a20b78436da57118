"""Rules of the Early Help Assessment: draft -> submitted -> approved | returned (back to
editable), extensions approved by a manager, reassessment after 12 months."""

from __future__ import annotations

import uuid
from calendar import monthrange
from datetime import datetime, timedelta
from typing import Any

from services.assessments import policy, report_facts
from services.assessments import repository as repo
from services.assessments.access import EpisodeAccess
from services.assessments.context import Context
from services.assessments.episodes import ensure_open, valid_open_episode, visible_episode
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


async def to_read(ctx: Context, a: Assessment) -> AssessmentRead:
    return assessment_read(a, await repo.extensions_of(ctx.session, a.id))


def apply_fields(a: Assessment, body: AssessmentCreate | AssessmentUpdate) -> None:
    values = body.model_dump(mode="json", exclude_unset=True)
    for name in ("family_members", "baseline", "factors", "diversity", "priorities"):
        if name in values:
            empty: Any = {} if name in ("baseline", "diversity") else []
            setattr(a, name, empty if values[name] is None else values[name])
    if "analysis" in values:
        a.analysis = values["analysis"]


async def start_assessment(
    ctx: Context,
    episode_id: str,
    body: AssessmentCreate,
) -> Assessment:
    episode, _ = await valid_open_episode(ctx, episode_id)
    existing = await repo.assessments_of(ctx.session, episode.id)
    if any(a.status != "approved" for a in existing):
        raise AssessmentInProgress("Finish the assessment in progress before starting another")
    approved = [a.approved_at for a in existing if a.approved_at]
    now = ctx.now
    if approved:
        due = add_months(max(approved), ctx.settings.reassessment_months)
        if now < due:
            raise ReassessmentNotDue(
                f"A reassessment is allowed 12 months after the last approval, from {due.date().isoformat()}"
            )
        due_on = ctx.runtime.calendar.add_working_days(
            now, ctx.settings.assessment_complete_working_days
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
        author_practitioner_id=ctx.identity.practitioner_id,
        author_client_id=ctx.identity.client_id,
        version=1,
    )
    apply_fields(a, body)
    ctx.session.add(a)
    await ctx.session.flush()
    await report_facts.refresh(ctx.session, episode.id)
    await ctx.publish(
        "assessment.started",
        {
            "episode_id": episode.id,
            "assessment_id": a.id,
            "started_at": now.isoformat(),
            "due_on": due_on.isoformat(),
        },
    )
    return a


async def _load(ctx: Context, assessment_id: str) -> tuple[Assessment, Episode, EpisodeAccess]:
    a = await repo.get_assessment(ctx.session, assessment_id)
    if a is None:
        raise AssessmentNotFound("No such assessment")
    try:
        episode, access = await visible_episode(ctx, a.episode_id)
    except NotFound:
        raise AssessmentNotFound("No such assessment") from None
    return a, episode, access


async def read_assessment(ctx: Context, assessment_id: str) -> Assessment:
    a, _episode, access = await _load(ctx, assessment_id)
    ctx.viewer.disclosed(access, "assessment", a.id)
    return a


async def load_for_change(ctx: Context, assessment_id: str) -> Assessment:
    a, episode, _ = await _load(ctx, assessment_id)
    ensure_open(episode)
    return a


def _state(a: Assessment, allowed: frozenset[str] | set[str], action: str) -> None:
    if a.status not in allowed:
        raise AssessmentWrongState(f"An assessment that is {a.status} cannot be {action}")


async def update_assessment(ctx: Context, a: Assessment, body: AssessmentUpdate) -> Assessment:
    _state(a, EDITABLE, "edited")
    apply_fields(a, body)
    a.version += 1
    await ctx.session.flush()
    return a


async def submit_assessment(ctx: Context, a: Assessment) -> Assessment:
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
    now = ctx.now
    a.status = "submitted"
    a.submitted_at = now
    a.version += 1
    await ctx.session.flush()
    await ctx.publish(
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
    ctx: Context,
    a: Assessment,
    body: AssessmentApprove,
) -> Assessment:
    policy.may_approve(ctx.identity, a, "approve")
    _state(a, {"submitted"}, "approved")
    now = ctx.now
    a.status = "approved"
    a.approved_at = now
    a.approved_by = body.approved_by.model_dump()
    a.version += 1
    await ctx.session.flush()
    await report_facts.refresh(ctx.session, a.episode_id)
    await ctx.publish(
        "assessment.approved",
        {"episode_id": a.episode_id, "assessment_id": a.id, "approved_at": now.isoformat()},
    )
    return a


async def return_assessment(ctx: Context, a: Assessment, body: AssessmentReturn) -> Assessment:
    policy.may_approve(ctx.identity, a, "return")
    _state(a, {"submitted"}, "returned")
    a.status = "returned"
    a.returned_at = ctx.now
    a.return_reason = body.reason
    a.version += 1
    await ctx.session.flush()
    return a


async def extend_assessment(ctx: Context, a: Assessment, body: ExtensionCreate) -> Assessment:
    _state(a, {"draft", "returned", "submitted"}, "extended")
    if body.new_due_on <= a.due_on:
        raise ValidationProblem("new_due_on", f"must be after the current due date {a.due_on.isoformat()}")
    if body.new_due_on < ctx.today:
        raise ValidationProblem("new_due_on", "must not be in the past")
    if body.new_due_on > ctx.today + timedelta(days=366):
        raise ValidationProblem("new_due_on", "must be within a year")
    ctx.session.add(
        AssessmentExtension(
            id=str(uuid.uuid4()),
            assessment_id=a.id,
            previous_due_on=a.due_on,
            new_due_on=body.new_due_on,
            reason=body.reason,
            approved_by=body.approved_by.model_dump(),
            created_at=ctx.now,
        )
    )
    a.due_on = body.new_due_on
    a.version += 1
    await ctx.session.flush()
    await ctx.publish(
        "assessment.extended",
        {"episode_id": a.episode_id, "assessment_id": a.id, "new_due_on": body.new_due_on.isoformat()},
    )
    return a


async def awaiting_approval(
    ctx: Context, params: PageParams, updated_since: datetime | None = None
) -> AssessmentList:
    """`GET /v1/assessments?status=submitted`: the managers' worklist, oldest submission
    first, leaving out the caller's own (they may not approve them)."""
    policy.may_list_awaiting_approval(ctx.identity)
    rows = await repo.awaiting_approval(
        ctx.session, params, not_author=ctx.identity.practitioner_id, updated_since=updated_since
    )
    page, cursor = page_of(rows, params, "submitted_at")
    return AssessmentList(
        items=[AssessmentSummary.model_validate(a, from_attributes=True) for a in page],
        next_cursor=cursor,
    )
