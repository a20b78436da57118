"""Events this service receives: the referrals service's decisions and the consent service's
withdrawals.

`referral.decided` with the outcome `team_around_the_family` opens an episode;
`consent.withdrawn` forgets cached access answers for the person and marks their episodes.
Module-level handlers, each called with the runtime, the receiver's session and the envelope
(they act as the service itself: `Context.for_system`);
`main.py` binds the `HANDLERS` table to the runtime (`shared.runtime.bind_handlers`). Each
runs in the receiver's transaction, once per event id (shared.events.receive).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.assessments import episodes, supporting_families
from services.assessments import repository as repo
from services.assessments.app_runtime import AssessmentsRuntime
from services.assessments.context import Context
from shared.clock import parse_datetime, utcnow
from shared.events import EventEnvelope
from shared.runtime import RuntimeHandler

# The logger these handlers have always written to (log routing and alerts match on it).
log = logging.getLogger("assessments.service")


async def referral_decided(
    runtime: AssessmentsRuntime, session: AsyncSession, envelope: EventEnvelope
) -> None:
    """`team_around_the_family` opens an episode; a replay (or a second delivery with a new
    event id) finds the episode by its unique `referral_id` and does nothing."""
    data = envelope.data
    if data.get("outcome") != "team_around_the_family":
        return
    referral_id = data.get("referral_id")
    people = data.get("person_ids") or []
    if not isinstance(referral_id, str) or not isinstance(people, list) or not people:
        log.warning("referral.decided without referral or people", extra={"event_id": envelope.id})
        return
    if await repo.episode_by_referral(session, referral_id) is not None:
        return
    received_at = _moment(data.get("received_at"))
    ctx = Context.for_system(session, runtime)
    episode = await episodes.open_episode(
        ctx,
        origin="referral",
        person_ids=[str(p) for p in people],
        level_of_need=str(data.get("level_of_need") or "partnership_plus"),
        opened_by_agency_id=None,
        referral_id=referral_id,
        referral_received_at=received_at,
        # Issue 20: the referral's adults join the episode's family (ids and codes only).
        adults=[str(p) for p in data.get("adult_person_ids") or [] if isinstance(p, str)],
        relationships={
            str(k): str(v) for k, v in (data.get("adult_relationships") or {}).items() if isinstance(v, str)
        }
        if isinstance(data.get("adult_relationships"), dict)
        else {},
    )
    # Issue 21: the referral's needs (codes), for Supporting Families; absent before it.
    needs = data.get("needs")
    if isinstance(needs, list):
        await supporting_families.record_needs(ctx, episode.id, [str(n) for n in needs])


async def consent_withdrawn(
    runtime: AssessmentsRuntime, session: AsyncSession, envelope: EventEnvelope
) -> None:
    person_id = envelope.data.get("person_id")
    if not isinstance(person_id, str):
        return
    # Forget cached "allowed" answers at once, so the next read asks the consent service.
    runtime.access_cache.forget_person(person_id)
    at = _moment(envelope.data.get("withdrawn_at")) or utcnow()
    await repo.mark_consent_withdrawn(session, person_id, at)


def _moment(value: Any) -> datetime | None:
    """An event's timestamp, or None when it is missing or not one."""
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


HANDLERS: dict[str, RuntimeHandler] = {
    "referral.decided": referral_decided,
    "consent.withdrawn": consent_withdrawn,
}
