"""Linked referrals follow what they were parked on (issue 20, item 5).

A request for support for a child already known to an open episode or to an undecided
referral is parked as `linked` (service._link_and_add). It must not stay parked forever:

- **Linked to an episode** (`open_episode_id`): when that episode closes, the referral goes
  back to the MASH queue - `status: received`, a new `decision_due_at` counted from the moment
  it was re-queued (`decision_working_days`, as at intake), `requeued_at` and
  `requeue_reason: episode_closed` - and `referral.requeued` tells notifications to open the
  `front_door_decision` deadline again. The MASH then decides it as any other, and its
  referrer gets that decision's outcome as every referrer does.
- **Linked to an undecided referral only** (`linked_referral_id`): it follows that referral.
  Decided `team_around_the_family` (the outcome that opens an episode), the referral joins
  the case: its referrer is told that outcome at once (`referral.linked_outcome`, which
  notifications turns into the same "Outcome of your referral" alert the first referrer
  gets, about the follower's own referral), and it is parked on the episode when
  `episode.opened` names it (then re-queued when that episode closes). Decided anything else,
  or withdrawn, nothing was opened that could hold it: it is re-queued
  (`linked_referral_decided` / `linked_referral_withdrawn`) for the MASH to decide on its own
  information.

The ids a referral was linked to stay on it, the record of what it had joined. Least
disclosure holds: a partner sees `linked` as `received` anyway, so a re-queue changes nothing
it sees but the due time; the outcome alert names only its own referral.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.referrals import repository as repo
from services.referrals.models import Episode, Referral

if TYPE_CHECKING:
    from services.referrals.service import Context

# Decisions that open an episode (the assessments service's referral.decided handler): a
# referral linked to one so decided joins that episode instead of coming back to the MASH.
FOLLOWED_OUTCOMES = frozenset({"team_around_the_family"})

EPISODE_CLOSED = "episode_closed"
LINKED_REFERRAL_DECIDED = "linked_referral_decided"
LINKED_REFERRAL_WITHDRAWN = "linked_referral_withdrawn"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


async def requeue(ctx: Context, referral: Referral, reason: str) -> None:
    """Back to the MASH queue with a new decision due time; `referral.requeued` published."""
    referral.status = "received"
    referral.requeued_at = ctx.now
    referral.requeue_reason = reason
    referral.decision_due_at = ctx.runtime.calendar.add_working_days(
        ctx.now, ctx.settings.decision_working_days
    )
    referral.version += 1
    await ctx.session.flush()
    children = await repo.referral_person_ids(ctx.session, referral.id, "child")
    await ctx.publish(
        "referral.requeued",
        {
            "referral_id": referral.id,
            "reference": referral.reference,
            "source_agency_id": referral.source_agency_id,
            "referral_type": referral.referral_type,
            "source_code": referral.source_code,
            "person_ids": children,
            "urgent": referral.urgent,
            "received_at": _iso(referral.received_at),
            "requeued_at": _iso(referral.requeued_at),
            "decision_due_at": _iso(referral.decision_due_at),
            "reason": reason,
            "open_episode_id": referral.open_episode_id,
            "linked_referral_id": referral.linked_referral_id,
        },
    )


async def after_episode_closed(ctx: Context, episode_id: str) -> int:
    """Every referral parked on the closed episode goes back to the MASH."""
    followers = await repo.referrals_following_episode(ctx.session, episode_id)
    for referral in followers:
        await requeue(ctx, referral, EPISODE_CLOSED)
    return len(followers)


async def after_episode_opened(ctx: Context, episode: Episode) -> int:
    """The episode a decision opened: the referrals parked on that referral join it (or, if
    it closed already - a close that overtook its open - go back to the MASH)."""
    if not episode.referral_id:
        return 0
    followers = await repo.referrals_following_referral(ctx.session, episode.referral_id)
    for referral in followers:
        if episode.closed_at is not None:
            await requeue(ctx, referral, EPISODE_CLOSED)
        else:
            referral.open_episode_id = episode.id
            referral.version += 1
    await ctx.session.flush()
    return len(followers)


async def after_decision(ctx: Context, decided: Referral) -> int:
    """The referrals parked on `decided` follow its decision (module docstring)."""
    followers = await repo.referrals_following_referral(ctx.session, decided.id)
    for referral in followers:
        if decided.outcome in FOLLOWED_OUTCOMES:
            await ctx.publish(
                "referral.linked_outcome",
                {
                    "referral_id": referral.id,
                    "reference": referral.reference,
                    "source_agency_id": referral.source_agency_id,
                    "level_of_need": decided.level_of_need,
                    "outcome": decided.outcome,
                    "decided_at": _iso(decided.decided_at),
                    "linked_referral_id": decided.id,
                },
            )
        else:
            await requeue(ctx, referral, LINKED_REFERRAL_DECIDED)
    return len(followers)


async def after_withdrawal(ctx: Context, withdrawn: Referral) -> int:
    followers = await repo.referrals_following_referral(ctx.session, withdrawn.id)
    for referral in followers:
        await requeue(ctx, referral, LINKED_REFERRAL_WITHDRAWN)
    return len(followers)
