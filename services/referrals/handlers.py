"""Events this service receives: the assessments service's episodes.

`episode.opened` / `episode.closed` keep the local projection of open episodes per person
that linking reads (so intake never waits on another service), and `episode.opened` with a
`referral_id` gives that referral its `episode_id`. Each handler runs in the receiver's
transaction, once per event id (shared.events.receive).

Then the referrals parked on the episode follow it (requeue.py): an episode closed sends them
back to the MASH, an episode a decision opened takes in those parked on that referral. The
`HANDLERS` table holds those steps, bound to the runtime in main.py (they publish).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.referrals import repository as repo
from services.referrals import requeue
from services.referrals.models import Episode
from services.referrals.runtime import ReferralsRuntime
from services.referrals.service import Context
from shared.clock import MissingOffset, parse_datetime, utcnow
from shared.context import system_identity
from shared.events import EventEnvelope
from shared.runtime import RuntimeHandler


def _when(value: Any) -> datetime | None:
    """The event's timestamp; None when absent or without its offset (then the envelope's)."""
    if not value:
        return None
    try:
        return parse_datetime(str(value), require_offset=True)
    except MissingOffset:
        return None


async def _episode(session: AsyncSession, episode_id: str) -> Episode:
    episode = await repo.get_episode(session, episode_id)
    if episode is None:
        # Pending until the next statement flushes it: one INSERT with what the handler
        # fills in, not an INSERT of the bare id and then an UPDATE.
        episode = Episode(id=episode_id)
        session.add(episode)
    return episode


async def episode_opened(session: AsyncSession, envelope: EventEnvelope) -> None:
    data = envelope.data
    episode = await _episode(session, str(data["episode_id"]))
    episode.reference = data.get("reference") or episode.reference
    episode.referral_id = data.get("referral_id") or episode.referral_id
    episode.origin = data.get("origin") or episode.origin
    episode.level_of_need = data.get("level_of_need") or episode.level_of_need
    episode.opened_at = _when(data.get("opened_at")) or envelope.occurred_at
    people = {str(pid): await repo.canonical_id(session, str(pid)) for pid in data.get("person_ids") or []}
    await repo.add_episode_people(session, episode.id, people)
    if episode.referral_id:
        await repo.set_referral_episode(session, episode.referral_id, episode.id)


async def episode_closed(session: AsyncSession, envelope: EventEnvelope) -> None:
    # A close that overtakes its open still lands: the open then only fills in the rest.
    episode = await _episode(session, str(envelope.data["episode_id"]))
    episode.closed_at = _when(envelope.data.get("closed_at")) or envelope.occurred_at
    episode.close_reason = envelope.data.get("reason")


def _system(session: AsyncSession, rt: ReferralsRuntime) -> Context:
    """The referrals service acting on its own behalf (as `Context.for_system`, typed)."""
    return Context(session, rt, system_identity(rt), utcnow())


async def episode_opened_and_follow(rt: ReferralsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    await episode_opened(s, e)
    episode = await _episode(s, str(e.data["episode_id"]))
    await requeue.after_episode_opened(_system(s, rt), episode)


async def episode_closed_and_requeue(rt: ReferralsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    await episode_closed(s, e)
    await s.flush()
    await requeue.after_episode_closed(_system(s, rt), str(e.data["episode_id"]))


HANDLERS: dict[str, RuntimeHandler] = {
    "episode.opened": episode_opened_and_follow,
    "episode.closed": episode_closed_and_requeue,
}
