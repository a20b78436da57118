"""Bulk import of the incumbent system's current plans of open episodes (issue 22 item 2,
docs/import.md).

`POST /v1/imports/plans` takes a batch of plans, each of an episode the episodes import opened,
with its outcomes and actions (owner, due date, status), and stores it in the request's
transaction, wholly or (any row wrong: one 422 naming each `plans.<row>.<field>`) not at all.
Each plan is checked by the SMART rules of every plan (`plans.smart_errors`), as of its own
`agreed_at` (a due date since passed is an overdue action, not an error), and stored by the
rule every plan is agreed by (`plans.agree_plan`) as the episode's version 1: `plan.agreed` and
`action.created` follow, so the notifications service opens each action's `action_due`
deadline (and the first review's) as for a plan agreed today. Each row's source id is recorded
with the plan it created (`shared/imports.py`): a re-run skips it, answering with that plan.
With `dry_run` the rows are checked (with their episode when it is stored) and nothing is kept.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from services.assessments import plans
from services.assessments import repository as repo
from services.assessments.context import Context
from services.assessments.models import IMPORT_RECORD, Episode
from services.assessments.schemas import (
    ActionIn,
    ImportPlanIn,
    OutcomeIn,
    PlanImportBatch,
    PlanImportResult,
    PlanPut,
)
from shared.imports import (
    answered,
    imported,
    one_batch_at_a_time,
    record,
    repeated,
    require_importer,
    row_errors,
)

PLAN = "plan"


async def import_batch(ctx: Context, body: PlanImportBatch) -> PlanImportResult:
    require_importer(ctx.identity)
    await one_batch_at_a_time(ctx.session, "assessments")
    rows = body.plans
    done = await imported(ctx.session, IMPORT_RECORD, PLAN, (r.source_id for r in rows))
    todo = [(i, r) for i, r in enumerate(rows) if r.source_id not in done]
    episodes = await _check(ctx, todo, [r.source_id for r in rows], dry_run=body.dry_run)
    created: list[tuple[str, str, str | None]] = []
    for _, row in todo:
        if row.episode_id in episodes:
            then = dataclasses.replace(ctx, now=row.agreed_at)
            plan = await plans.agree_plan(
                then, episodes[row.episode_id], as_plan(row), None, {}, progress=_progress(row)
            )
            created.append((row.source_id, plan.id, None))
    await record(ctx.session, IMPORT_RECORD, PLAN, created, at=ctx.now, client_id=ctx.identity.client_id)
    if body.dry_run:
        await ctx.session.rollback()
    made = {s: t for s, t, _ in created}
    return PlanImportResult(plans=answered((r.source_id for r in rows), made, done))


def as_plan(row: ImportPlanIn) -> PlanPut:
    """The row as the plan a `PUT /v1/episodes/{id}/plan` would send (outcomes named by index)."""
    index = {o.source_id: j for j, o in enumerate(row.outcomes)}
    return PlanPut.model_construct(
        outcomes=[
            OutcomeIn.model_construct(id=None, **o.model_dump(exclude={"source_id"})) for o in row.outcomes
        ],
        actions=[
            ActionIn.model_construct(
                id=None,
                description=a.description,
                owner=a.owner,
                due_on=a.due_on,
                outcome_refs=[index.get(ref, -1) for ref in a.outcomes],
            )
            for a in row.actions
        ],
    )


def _progress(row: ImportPlanIn) -> list[plans.ActionProgress]:
    return [plans.ActionProgress(a.status, a.progress_notes, a.completed_at) for a in row.actions]


async def _check(
    ctx: Context, todo: list[tuple[int, ImportPlanIn]], source_ids: list[str], *, dry_run: bool
) -> dict[str, Episode]:
    """Every row's faults at once; answers the rows' episodes (those stored: in a dry run of a
    whole file they are not, and their rows are checked without them)."""
    errors = repeated("plans", source_ids)
    episodes: dict[str, Episode] = {}
    for _, row in todo:
        found = await repo.get_episode(ctx.session, row.episode_id)
        if found is not None:
            episodes[row.episode_id] = found
    planned: set[str] = set()
    for i, row in todo:
        at = f"plans.{i}"
        if row.agreed_at > ctx.now:
            errors.append((f"{at}.agreed_at", "must not be in the future"))
        errors += [(f"{at}.{e['field']}", e["message"]) for e in _smart(row, min(row.agreed_at, ctx.now))]
        errors += _item_errors(at, row, ctx.now)
        episode = episodes.get(row.episode_id)
        if episode is None:
            if not dry_run:
                errors.append((f"{at}.episode_id", "no such episode"))
            continue
        if episode.closed_at is not None:
            errors.append((f"{at}.episode_id", "this episode is closed"))
        elif row.agreed_at < episode.opened_at:
            errors.append((f"{at}.agreed_at", "is before the episode opened"))
        if row.episode_id in planned or await repo.latest_plan(ctx.session, row.episode_id) is not None:
            errors.append((f"{at}.episode_id", "this episode already has a plan"))
        planned.add(row.episode_id)
    if errors:
        raise row_errors(errors)
    return episodes


def _smart(row: ImportPlanIn, agreed_at: datetime) -> list[dict[str, Any]]:
    """The SMART rules of every plan, as of the day it was agreed; an action's `outcome_refs`
    are its `outcomes` here."""
    found = plans.smart_errors(as_plan(row), set(), set(), agreed_at.date())
    for e in found:
        e["field"] = e["field"].replace(".outcome_refs.", ".outcomes.")
    return found


def _item_errors(at: str, row: ImportPlanIn, now: datetime) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    for kind, ids in (
        ("outcomes", [o.source_id for o in row.outcomes]),
        ("actions", [a.source_id for a in row.actions]),
    ):
        seen: set[str] = set()
        for j, source_id in enumerate(ids):
            if source_id in seen:
                errors.append((f"{at}.{kind}.{j}.source_id", "appears twice in this plan"))
            seen.add(source_id)
    for j, a in enumerate(row.actions):
        if a.status == "completed" and a.completed_at is None:
            errors.append((f"{at}.actions.{j}.completed_at", "is required for a completed action"))
        elif a.status != "completed" and a.completed_at is not None:
            errors.append((f"{at}.actions.{j}.completed_at", "only a completed action has one"))
        elif a.completed_at is not None and a.completed_at > now:
            errors.append((f"{at}.actions.{j}.completed_at", "must not be in the future"))
    return errors
