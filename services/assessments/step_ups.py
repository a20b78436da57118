"""Rules of step-up: a safeguarding referral in the MASH for an open episode, stored first and
then sent to the referrals service with its own id (so a retry never makes a second referral).

A step-up takes three short transactions, none held open across the HTTP call; the router
runs them (it owns the Idempotency-Key and the transactions), this module says what each does:
`request_step_up`, then `send_step_up`, then `record_step_up_answer`. The background job
(`jobs.retry_pending_step_ups`) resends those still `pending`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from services.assessments import repository as repo
from services.assessments.app_runtime import AssessmentsRuntime
from services.assessments.clients.referrals import StepUpFailed
from services.assessments.context import Context
from services.assessments.episodes import managed_open_episode, touch, visible_episode
from services.assessments.errors import StepUpInProgress
from services.assessments.models import StepUp
from services.assessments.schemas import StepUpCreate, StepUpRead
from shared.events import backoff

# The logger step-ups have always written to (log routing and alerts match on it).
log = logging.getLogger("assessments.service")


def step_up_read(s: StepUp) -> StepUpRead:
    return StepUpRead.model_validate(s, from_attributes=True)


def step_up_payload(record: StepUp, people: list[str]) -> dict[str, Any]:
    """What the referrals service is sent (`POST /internal/step-ups`)."""
    return {
        "step_up_id": record.id,
        "episode_id": record.episode_id,
        "person_ids": people,
        "reason": record.reason,
        "agency_id": record.agency_id,
        "agency_type": record.agency_type,
    }


async def request_step_up(ctx: Context, episode_id: str, body: StepUpCreate) -> tuple[StepUp, list[str]]:
    """Store the step-up, `pending` (its id is the idempotency key at the referrals service),
    and mark the episode as involving social care; with the episode's people to send."""
    episode, access = await managed_open_episode(ctx, episode_id, "step-up")
    if await repo.pending_step_up(ctx.session, episode.id) is not None:
        raise StepUpInProgress("A step-up of this episode is still being sent to the MASH")
    record = StepUp(
        id=str(uuid.uuid4()),
        episode_id=episode.id,
        reason=body.reason,
        agency_id=ctx.identity.agency_id,
        agency_type=ctx.identity.agency_type,
        requested_at=ctx.now,
        status="pending",
        attempts=0,
        next_attempt_at=ctx.now + timedelta(seconds=60),  # the request itself tries first
    )
    ctx.session.add(record)
    episode.social_care_involved = True
    touch(episode)
    await ctx.session.flush()
    return record, access.person_ids


async def send_step_up(
    runtime: AssessmentsRuntime, step_up_id: str, payload: dict[str, Any]
) -> tuple[str | None, int]:
    """Call the referrals service, retrying with backoff a few times: (its referral id, or None
    while unconfirmed; the attempts made). Given the runtime, not a context: no transaction
    is open during the call."""
    attempts = 0
    for attempt in range(max(1, runtime.settings.stepup_attempts)):
        attempts += 1
        try:
            return await runtime.referrals().create_step_up(payload), attempts
        except StepUpFailed as exc:
            log.warning("step-up not confirmed", extra={"step_up_id": step_up_id, "error": str(exc)})
            if attempt + 1 < runtime.settings.stepup_attempts:
                await asyncio.sleep(runtime.settings.stepup_backoff_seconds * (2**attempt))
    return None, attempts


async def record_step_up_answer(
    ctx: Context, step_up_id: str, referral_id: str | None, attempts: int
) -> StepUpRead:
    """The referrals service's answer: `sent` with its referral, or still `pending` for the
    background job to resend after a backoff."""
    record = await ctx.session.get(StepUp, step_up_id)
    assert record is not None
    record.attempts += attempts
    if referral_id is not None:
        await mark_step_up_sent(ctx, record, referral_id)
    else:
        record.next_attempt_at = ctx.now + timedelta(seconds=backoff(record.attempts))
    return step_up_read(record)


async def mark_step_up_sent(ctx: Context, record: StepUp, referral_id: str) -> None:
    record.status = "sent"
    record.referral_id = referral_id
    record.sent_at = ctx.now
    record.last_error = None
    await ctx.session.flush()


async def list_step_ups(
    ctx: Context, episode_id: str, updated_since: datetime | None = None
) -> list[StepUpRead]:
    episode, _ = await visible_episode(ctx, episode_id)
    rows = await repo.step_ups_of(ctx.session, episode.id)
    # A step-up changes when requested and when sent (`?updated_since=`, shared/changes.py).
    if updated_since is not None:
        rows = [s for s in rows if max(s.requested_at, s.sent_at or s.requested_at) > updated_since]
    return [step_up_read(s) for s in rows]
