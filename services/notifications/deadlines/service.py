"""Rules of the deadline engine: opening, meeting, moving and cancelling deadlines.

Decisions (docs/notifications.md):
- A deadline copies its due time, reminder time, escalation time and escalation target when
  it opens. Changing a rule affects deadlines opened afterwards, never those already open.
- Order tolerance: a "met" or "cancelled" for a deadline not opened yet is kept as a
  `deadline_fact`; the later "opened" then creates the deadline already met/cancelled.
- Stages: `reminder` (due - lead; skipped when the deadline is already overdue by the time
  the worker reaches it), `overdue` (due), `escalation` (due + delay). `next_stage` and
  `next_check_at` name the next stage owed, so the worker's due query is one index range scan.

The operations take the `Context` first (`service.Context`: the event's session, the runtime
whose working-day calendar due times are counted on, and the moment the event is applied).
"""

from __future__ import annotations

import uuid
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from services.notifications.deadlines import repository as repo
from services.notifications.models import Deadline, DeadlineFact, DeadlineRule, EpisodeLink

if TYPE_CHECKING:  # the worker imports this module's stage helpers without the app's runtime
    from services.notifications.service import Context

STAGES = ("reminder", "overdue", "escalation")


def stage_time(d: Deadline | dict, stage: str) -> datetime | None:
    get = d.get if isinstance(d, dict) else lambda k: getattr(d, k)
    value = {"reminder": get("reminder_at"), "overdue": get("due_at"), "escalation": get("escalation_at")}[
        stage
    ]
    return value


def next_stage_after(
    d: Deadline | dict, stage: str | None, skip: AbstractSet[str] = frozenset()
) -> str | None:
    order = list(STAGES)
    start = 0 if stage is None else order.index(stage) + 1
    for s in order[start:]:
        if s not in skip and stage_time(d, s) is not None:
            return s
    return None


def schedule(d: Deadline, alerted: AbstractSet[str] = frozenset()) -> None:
    d.next_stage = next_stage_after(d, None, alerted) if d.status == "open" else None
    d.next_check_at = stage_time(d, d.next_stage) if d.next_stage else None


def due_from(ctx: Context, rule: DeadlineRule, start: datetime) -> datetime:
    """`rule`'s timescale counted from `start` on the configured working-day calendar."""
    return ctx.runtime.calendar.add(start, rule.amount, rule.unit).astimezone(UTC)  # type: ignore[arg-type]


async def open(
    ctx: Context,
    kind: str,
    *,
    start: datetime | None = None,
    due_at: datetime | None = None,
    **subject: Any,
) -> Deadline | None:
    """Open one deadline (or return the one of its kind already open for the subject);
    `subject` is `open_all`'s keywords (subject_type, subject_id, the ids, reference)."""
    return (await open_all(ctx, {kind: (start, due_at)}, **subject)).get(kind)


async def open_all(
    ctx: Context,
    kinds: dict[str, tuple[datetime | None, datetime | None]],
    *,
    subject_type: str,
    subject_id: str,
    referral_id: str | None = None,
    episode_id: str | None = None,
    consent_id: str | None = None,
    reference: str | None = None,
    link: EpisodeLink | None = None,
) -> dict[str, Deadline]:
    """Open several deadlines of one subject, each from its (start, due_at), together.

    One query for the rules, what is already open and the early facts, and one flush,
    whatever the number of kinds: an opened episode starts three deadlines, and one at a
    time they cost twelve round trips. A kind already open is returned as it is; a kind
    without a rule is left out (rules are never deleted). `link` is the episode's link
    when the caller has it in hand already; otherwise it is looked up by `episode_id`.
    """
    rules: dict[str, DeadlineRule] = {}
    early: dict[str, tuple[str, datetime]] = {}
    opened: dict[str, Deadline] = {}
    for rule, open_id, outcome, at in await repo.opening_state(ctx.session, subject_id, sorted(kinds)):
        if open_id is not None:
            if rule.kind not in opened:  # already open: rare (an event sent again under a new id)
                found = await ctx.session.get(Deadline, open_id)
                if found is not None:
                    opened[rule.kind] = found
            continue
        rules[rule.kind] = rule
        if outcome is not None and at is not None:  # a fact's time is never null
            early[rule.kind] = (outcome, at)
    wanted = [k for k in sorted(rules) if k not in opened]
    if not wanted:
        return opened
    if link is None and episode_id:
        link = await repo.episode(ctx.session, episode_id)
    applied: list[str] = []
    for kind in wanted:
        rule = rules[kind]
        start, due_at = kinds[kind]
        if due_at is None:
            assert start is not None
            due_at = due_from(ctx, rule, start)
        d = Deadline(
            id=str(uuid.uuid4()),
            kind=kind,
            subject_type=subject_type,
            subject_id=subject_id,
            referral_id=referral_id,
            episode_id=episode_id,
            consent_id=consent_id,
            reference=reference,
            team=rule.team,
            escalation_target=rule.escalation_target,
            status="open",
            opened_at=start or ctx.now,
            created_at=ctx.now,
        )
        _set_due(d, due_at, rule)
        if link is not None:
            d.assignee_email, d.assignee_agency_id = link.lead_email, link.lead_agency_id
            d.reference = d.reference or link.reference
            if link.closed_at is not None:
                d.status, d.cancelled_at = "cancelled", link.closed_at
        fact = early.get(kind)
        if fact is not None and d.status == "open":
            outcome, at = fact
            if outcome == "met":
                d.status, d.met_at = "met", at
            else:
                d.status, d.cancelled_at = "cancelled", at
            applied.append(kind)
        schedule(d)
        ctx.session.add(d)
        opened[kind] = d
    if applied:
        await repo.drop_facts(ctx.session, subject_id, applied)
    await ctx.session.flush()
    return opened


def _set_due(d: Deadline, due_at: datetime, rule: DeadlineRule) -> None:
    d.due_at = due_at
    d.reminder_at = (
        due_at - timedelta(hours=rule.reminder_lead_hours) if rule.reminder_lead_hours > 0 else None
    )
    d.escalation_at = due_at + timedelta(hours=rule.escalation_delay_hours)


async def meet(ctx: Context, kind: str, subject_id: str, at: datetime, *, remember: bool = True) -> int:
    closed = await repo.close_open(ctx.session, kind, subject_id, status="met", met_at=at)
    if not closed and remember and not await repo.any_deadline(ctx.session, kind, subject_id):
        await _remember(ctx, kind, subject_id, "met", at)
    await ctx.session.flush()
    return closed


async def cancel(ctx: Context, kind: str, subject_id: str, at: datetime) -> int:
    closed = await repo.close_open(ctx.session, kind, subject_id, status="cancelled", cancelled_at=at)
    if not closed and not await repo.any_deadline(ctx.session, kind, subject_id):
        await _remember(ctx, kind, subject_id, "cancelled", at)
    await ctx.session.flush()
    return closed


async def cancel_episode(ctx: Context, episode_id: str, at: datetime) -> int:
    found = await repo.open_deadlines(ctx.session, episode_id=episode_id)
    for d in found:
        d.status, d.cancelled_at = "cancelled", at
        schedule(d)
    await ctx.session.flush()
    return len(found)


async def move(ctx: Context, kind: str, subject_id: str, due_at: datetime) -> int:
    found = await repo.open_deadlines(ctx.session, kind=kind, subject_id=subject_id)
    for d in found:
        rule = await repo.rule(ctx.session, kind)
        if rule is None:
            continue
        _set_due(d, due_at, rule)
        # Stages already alerted are not repeated; the rest follow the new due time.
        schedule(d, await repo.alerted_stages(ctx.session, d.id))
    await ctx.session.flush()
    return len(found)


async def _remember(ctx: Context, kind: str, subject_id: str, outcome: str, at: datetime) -> None:
    if await repo.fact(ctx.session, kind, subject_id) is None:
        ctx.session.add(DeadlineFact(kind=kind, subject_id=subject_id, outcome=outcome, at=at))


async def assign(ctx: Context, episode_id: str, email: str | None, agency_id: str | None) -> None:
    for d in await repo.open_deadlines(ctx.session, episode_id=episode_id):
        if d.subject_type == "action":  # an action's owner keeps its due date, not the lead
            continue
        d.assignee_email, d.assignee_agency_id = email, agency_id
    await ctx.session.flush()


async def reopen(ctx: Context, kind: str, *, start: datetime, **subject: Any) -> Deadline | None:
    """Open `kind` again for a subject whose earlier one is over (a linked referral re-queued
    for the MASH): what was remembered of the first round (a `met` kept when no deadline was
    open) must not close the new one at once."""
    await repo.drop_facts(ctx.session, subject["subject_id"], [kind])
    return await open(ctx, kind, start=start, **subject)
