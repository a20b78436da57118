"""Rules of TAF plans (SMART, versioned, actions owned by agencies) and reviews."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from services.assessments import partner_events, policy, report_facts, review_facts
from services.assessments import repository as repo
from services.assessments.access import EpisodeAccess
from services.assessments.context import Context
from services.assessments.episodes import (
    ensure_open,
    managed_open_episode,
    not_future,
    valid_open_episode,
    visible_episode,
)
from services.assessments.errors import ActionNotFound, ActionSuperseded, NoPlan, PlanNotFound, PlanNotSmart
from services.assessments.models import Episode, Plan, PlanAction, PlanOutcome, Review, ReviewScore
from services.assessments.schemas import (
    ActionRead,
    ActionUpdate,
    OutcomeRead,
    PlanPut,
    PlanRead,
    ReviewCreate,
    ReviewRead,
)
from shared.etag import etag_for
from shared.problems import ValidationProblem

HEADLINES = (
    "good_education",
    "good_early_years_development",
    "improved_mental_and_physical_health",
    "better_managed_substance_use",
    "improved_family_relationships",
    "children_safe_from_abuse_and_exploitation",
    "families_diverted_from_crime",
    "safe_from_domestic_abuse",
    "secure_housing",
    "financial_stability",
)


@dataclass(frozen=True)
class ActionProgress:
    """An action's state, as a plan version carries it (from the previous one, or imported)."""

    status: str
    progress_notes: str | None
    completed_at: datetime | None


def _err(field: str, message: str) -> dict[str, Any]:
    return {"field": field, "loc": field.split("."), "message": message}


# --- plans ----------------------------------------------------------------------------------


def smart_errors(
    body: PlanPut, previous_outcomes: set[str], previous_actions: set[str], today: date
) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    ids: set[str] = set()
    for i, o in enumerate(body.outcomes):
        at = f"outcomes.{i}"
        if o.headline is None:
            errors.append(_err(f"{at}.headline", "is required (one of the 10 Supporting Families headlines)"))
        elif o.headline not in HEADLINES:
            errors.append(
                _err(f"{at}.headline", "is not a Supporting Families headline: " + ", ".join(HEADLINES))
            )
        for name in ("measure", "baseline", "target"):
            if not (getattr(o, name) or "").strip():
                errors.append(_err(f"{at}.{name}", "is required: a SMART outcome is measurable"))
        if o.target_on is None:
            errors.append(_err(f"{at}.target_on", "is required: a SMART outcome is time-bound"))
        elif o.target_on < today:
            errors.append(_err(f"{at}.target_on", "is in the past"))
        if o.id is not None:
            if o.id not in previous_outcomes:
                errors.append(_err(f"{at}.id", "is not an outcome of the previous plan version"))
            elif o.id in ids:
                errors.append(_err(f"{at}.id", "is listed twice"))
            ids.add(o.id)
    action_ids: set[str] = set()
    for i, a in enumerate(body.actions):
        at = f"actions.{i}"
        if a.owner is None:
            errors.append(_err(f"{at}.owner", "is required: every action has an owning agency and person"))
        else:
            if a.owner.agency_id is None:
                errors.append(_err(f"{at}.owner.agency_id", "is required"))
            if a.owner.name is None:
                errors.append(_err(f"{at}.owner.name", "is required"))
        if a.due_on is None:
            errors.append(_err(f"{at}.due_on", "is required: a SMART action is time-bound"))
        elif a.due_on < today:
            errors.append(_err(f"{at}.due_on", "is in the past"))
        for j, ref in enumerate(a.outcome_refs):
            ok = (isinstance(ref, int) and 0 <= ref < len(body.outcomes)) or (
                isinstance(ref, str) and ref in ids
            )
            if not ok:
                errors.append(_err(f"{at}.outcome_refs.{j}", "names no outcome of this plan"))
        if a.id is not None:
            if a.id not in previous_actions:
                errors.append(_err(f"{at}.id", "is not an action of the previous plan version"))
            elif a.id in action_ids:
                errors.append(_err(f"{at}.id", "is listed twice"))
            action_ids.add(a.id)
    return errors


def action_read(a: PlanAction, version: int) -> ActionRead:
    # A mapper: `id` is the stable action id, `owner` nests three columns, the ETag is computed.
    return ActionRead(
        id=a.action_id,
        plan_version=version,
        description=a.description,
        owner={
            "agency_id": a.owner_agency_id,
            "name": a.owner_name,
            "practitioner_id": a.owner_practitioner_id,
        },
        due_on=a.due_on,
        outcome_refs=list(a.outcome_refs),
        status=a.status,
        progress_notes=a.progress_notes,
        completed_at=a.completed_at,
        etag=etag_for(a.action_id, a.version),
    )


async def plan_read(ctx: Context, plan: Plan) -> PlanRead:
    # A mapper: the outcomes, actions and version list are rows of their own, read here.
    return PlanRead(
        id=plan.id,
        episode_id=plan.episode_id,
        version=plan.version,
        agreed_at=plan.agreed_at,
        outcomes=[
            OutcomeRead.model_validate(o, from_attributes=True)
            for o in await repo.plan_outcomes(ctx.session, plan.id)
        ],
        actions=[action_read(a, plan.version) for a in await repo.plan_actions(ctx.session, plan.id)],
        versions=await repo.plan_versions(ctx.session, plan.episode_id),
    )


async def put_plan(ctx: Context, episode_id: str, body: PlanPut) -> PlanRead:
    episode, _ = await managed_open_episode(ctx, episode_id, "rewrite-plan")
    previous = await repo.latest_plan(ctx.session, episode.id)
    prev_outcomes = (
        {o.outcome_id for o in await repo.plan_outcomes(ctx.session, previous.id)} if previous else set()
    )
    prev_actions = (
        {a.action_id: a for a in await repo.plan_actions(ctx.session, previous.id)} if previous else {}
    )
    errors = smart_errors(body, prev_outcomes, set(prev_actions), ctx.today)
    if errors:
        raise PlanNotSmart(errors)
    plan = await agree_plan(ctx, episode, body, previous, prev_actions)
    return await plan_read(ctx, plan)


async def agree_plan(
    ctx: Context,
    episode: Episode,
    body: PlanPut,
    previous: Plan | None,
    prev_actions: dict[str, PlanAction],
    *,
    progress: list[ActionProgress] | None = None,
) -> Plan:
    """Store a checked (SMART) plan version as of `ctx.now` and announce it (`plan.agreed`,
    `action.created` for each new action not already completed). `progress`, one per action
    (the bulk import's), sets an action's status instead of carrying the previous version's."""
    now = ctx.now
    plan = Plan(
        id=str(uuid.uuid4()),
        episode_id=episode.id,
        version=(previous.version + 1) if previous else 1,
        agreed_at=now,
        agreed_by_agency_id=ctx.identity.agency_id,
    )
    ctx.session.add(plan)
    await ctx.session.flush()
    await report_facts.refresh(ctx.session, episode.id)
    outcome_ids: list[str] = []
    for i, o in enumerate(body.outcomes):
        oid = o.id or str(uuid.uuid4())
        outcome_ids.append(oid)
        ctx.session.add(
            PlanOutcome(
                row_id=str(uuid.uuid4()),
                plan_id=plan.id,
                outcome_id=oid,
                position=i,
                headline=o.headline,
                description=o.description,
                measure=o.measure,
                baseline=o.baseline,
                target=o.target,
                target_on=o.target_on,
            )
        )
    created: list[PlanAction] = []
    rows: list[PlanAction] = []
    for i, a in enumerate(body.actions):
        assert a.owner is not None and a.owner.agency_id and a.owner.name and a.due_on
        before: PlanAction | ActionProgress | None = prev_actions.get(a.id) if a.id else None
        if progress is not None:
            before = progress[i]
        row = PlanAction(
            row_id=str(uuid.uuid4()),
            plan_id=plan.id,
            action_id=a.id or str(uuid.uuid4()),
            position=i,
            description=a.description,
            owner_agency_id=a.owner.agency_id,
            owner_name=a.owner.name,
            owner_practitioner_id=a.owner.practitioner_id,
            due_on=a.due_on,
            outcome_refs=[outcome_ids[r] if isinstance(r, int) else r for r in a.outcome_refs],
            # Progress belongs to the action, not the plan text: it carries into the new version.
            status=before.status if before else "open",
            progress_notes=before.progress_notes if before else None,
            completed_at=before.completed_at if before else None,
            version=1,
        )
        ctx.session.add(row)
        rows.append(row)
        if (before is None or progress is not None) and row.status != "completed":
            created.append(row)
    await ctx.session.flush()
    await ctx.publish(
        "plan.agreed",
        {
            "episode_id": episode.id,
            "plan_id": plan.id,
            "version": plan.version,
            "agreed_at": now.isoformat(),
            # For partners' alerts (issue 20): who is on the TAF, and every action of this
            # version, so notifications opens, moves and cancels the actions' due dates.
            "taf_agency_ids": await partner_events.taf_agency_ids(ctx, episode.id),
            "actions": partner_events.plan_actions_data(rows),
        },
    )
    for row in created:
        await ctx.publish(
            "action.created",
            {
                "episode_id": episode.id,
                "action_id": row.action_id,
                "owner_agency_id": row.owner_agency_id,
                "owner_practitioner_id": row.owner_practitioner_id,
                "due_on": row.due_on.isoformat(),
            },
        )
    return plan


async def read_plan(ctx: Context, episode_id: str, version: int | None) -> PlanRead:
    episode, access = await visible_episode(ctx, episode_id)
    if version is None:
        plan = await repo.latest_plan(ctx.session, episode.id)
    else:
        plan = await repo.plan_version(ctx.session, episode.id, version)
    if plan is None:
        raise PlanNotFound("This episode has no plan" if version is None else f"No plan version {version}")
    ctx.viewer.disclosed(access, "plan", plan.id)
    return await plan_read(ctx, plan)


async def update_action(
    ctx: Context,
    action_id: str,
    body: ActionUpdate,
    check_etag: Any,
) -> tuple[ActionRead, PlanAction]:
    """Only the action's owner may update it (policy.may_update_action): the owning
    practitioner when the action names one, else the owning agency. A caller that cannot see
    the episode gets 404; one that can see it but does not own the action gets 403."""
    found = await repo.action_in_latest_plan(ctx.session, action_id)
    if found is None:
        raise ActionNotFound("No such action")
    row, plan = found
    episode = await repo.get_episode(ctx.session, plan.episode_id)
    access: EpisodeAccess | None
    access, _ = await ctx.viewer.check(ctx.session, episode)  # type: ignore[arg-type]
    if access is None:
        raise ActionNotFound("No such action")
    policy.may_update_action(ctx.identity, row)
    assert episode is not None
    ensure_open(episode)
    latest = await repo.latest_plan(ctx.session, episode.id)
    if latest is None or latest.id != plan.id:
        raise ActionSuperseded("This action is not part of the current plan version")
    check_etag(row.action_id, row.version)
    completed_now = body.status == "completed" and row.status != "completed"
    if body.status is not None:
        row.status = body.status
        row.completed_at = ctx.now if body.status == "completed" else None
    if body.progress_notes is not None:
        row.progress_notes = body.progress_notes
    row.version += 1
    await ctx.session.flush()
    if completed_now and row.completed_at is not None:  # set just above
        await ctx.publish(
            "action.completed",
            {
                "episode_id": episode.id,
                "action_id": row.action_id,
                "owner_agency_id": row.owner_agency_id,
                "completed_at": row.completed_at.isoformat(),
            },
        )
    return action_read(row, plan.version), row


# --- reviews --------------------------------------------------------------------------------


async def hold_review(ctx: Context, episode_id: str, body: ReviewCreate) -> ReviewRead:
    episode, _ = await valid_open_episode(ctx, episode_id)
    plan = await repo.latest_plan(ctx.session, episode.id)
    if plan is None:
        raise NoPlan("A review needs an agreed plan to review")
    not_future("held_on", body.held_on, ctx.now)
    if body.next_review_on <= body.held_on:
        raise ValidationProblem("next_review_on", "must be after held_on")
    weeks = ctx.settings.review_max_weeks
    if body.next_review_on > body.held_on + timedelta(weeks=weeks):
        raise ValidationProblem(
            "next_review_on", f"must be at most {weeks} weeks after held_on", type_slug="review-too-far-ahead"
        )
    outcomes = {o.outcome_id for o in await repo.plan_outcomes(ctx.session, plan.id)}
    seen: set[str] = set()
    for i, p in enumerate(body.outcome_progress):
        if p.outcome_id not in outcomes:
            raise ValidationProblem(
                f"outcome_progress.{i}.outcome_id", "is not an outcome of the current plan"
            )
        if p.outcome_id in seen:
            raise ValidationProblem(f"outcome_progress.{i}.outcome_id", "is scored twice")
        seen.add(p.outcome_id)
    review = Review(
        id=str(uuid.uuid4()),
        episode_id=episode.id,
        held_on=body.held_on,
        next_review_on=body.next_review_on,
        attendees=list(body.attendees),
        created_at=ctx.now,
    )
    ctx.session.add(review)
    await ctx.session.flush()
    ctx.session.add_all(
        [
            ReviewScore(review_id=review.id, outcome_id=p.outcome_id, score=p.score)
            for p in body.outcome_progress
        ]
    )
    episode.version += 1
    await ctx.session.flush()
    await review_facts.refresh(ctx.session, episode.id)
    await ctx.publish(
        "review.held",
        {
            "episode_id": episode.id,
            "review_id": review.id,
            "held_on": body.held_on.isoformat(),
            "next_review_on": body.next_review_on.isoformat(),
        },
    )
    return review_read(review, [(p.outcome_id, p.score) for p in body.outcome_progress])


def review_read(r: Review, scores: list[tuple[str, int]]) -> ReviewRead:
    # A mapper: the outcome scores are rows of their own, read separately.
    return ReviewRead(
        id=r.id,
        episode_id=r.episode_id,
        held_on=r.held_on,
        next_review_on=r.next_review_on,
        attendees=list(r.attendees),
        outcome_progress=[{"outcome_id": o, "score": s} for o, s in scores],
    )


async def list_reviews(
    ctx: Context, episode_id: str, updated_since: datetime | None = None
) -> list[ReviewRead]:
    episode, access = await visible_episode(ctx, episode_id)
    reviews = await repo.reviews_of(ctx.session, episode.id)
    # A review is recorded once and never changed: its last change is when it was recorded.
    reviews = [r for r in reviews if updated_since is None or r.created_at > updated_since]
    scores = await repo.scores_of(ctx.session, [r.id for r in reviews])
    ctx.viewer.disclosed(access, "reviews", episode.id)
    return [review_read(r, scores[r.id]) for r in reviews]
