"""Queries of the deadline engine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, and_, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.models import Deadline, DeadlineAlert, DeadlineFact, DeadlineRule, EpisodeLink


async def rules(session: AsyncSession) -> Sequence[DeadlineRule]:
    return (await session.scalars(select(DeadlineRule).order_by(DeadlineRule.kind))).all()


async def rule(session: AsyncSession, kind: str) -> DeadlineRule | None:
    return await session.get(DeadlineRule, kind)


async def open_deadlines(
    session: AsyncSession,
    *,
    kind: str | None = None,
    subject_id: str | None = None,
    episode_id: str | None = None,
) -> Sequence[Deadline]:
    stmt = select(Deadline).where(Deadline.status == "open")
    if kind is not None:
        stmt = stmt.where(Deadline.kind == kind)
    if subject_id is not None:
        stmt = stmt.where(Deadline.subject_id == subject_id)
    if episode_id is not None:
        stmt = stmt.where(Deadline.episode_id == episode_id)
    return (await session.scalars(stmt)).all()


async def opening_state(
    session: AsyncSession, subject_id: str, kinds: list[str]
) -> Sequence[Row[DeadlineRule, str | None, str | None, datetime | None]]:
    """What opening deadlines of `kinds` for one subject needs, in one query: per kind that
    has a rule, the rule, the id of a deadline of that kind already open for the subject,
    and the outcome and time of an early fact kept for it (each None when there is none).

    Every event that opens deadlines asks this; three queries (open ones, rules, facts) cost
    two round trips more on every referral received and every episode opened. The statement
    is built once: building it cost about as much CPU as running it."""
    return (await session.execute(_OPENING_STATE, {"subject_id": subject_id, "kinds": kinds})).all()


_OPENING_STATE = (
    select(DeadlineRule, Deadline.id, DeadlineFact.outcome, DeadlineFact.at)
    .outerjoin(
        Deadline,
        and_(
            Deadline.kind == DeadlineRule.kind,
            Deadline.subject_id == bindparam("subject_id"),
            Deadline.status == "open",
        ),
    )
    .outerjoin(
        DeadlineFact,
        and_(DeadlineFact.kind == DeadlineRule.kind, DeadlineFact.subject_id == bindparam("subject_id")),
    )
    .where(DeadlineRule.kind.in_(bindparam("kinds", expanding=True)))
)


async def close_open(session: AsyncSession, kind: str, subject_id: str, **values: Any) -> int:
    """Close the open deadlines of one kind and subject (`values`: the status and its time)
    in one UPDATE, with nothing left to alert. Returns how many there were."""
    stmt = (
        update(Deadline)
        .where(Deadline.status == "open", Deadline.kind == kind, Deadline.subject_id == subject_id)
        .values(**values, next_stage=None, next_check_at=None)
        .execution_options(synchronize_session="evaluate")
    )
    return int((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


async def drop_facts(session: AsyncSession, subject_id: str, kinds: list[str]) -> None:
    await session.execute(
        delete(DeadlineFact).where(DeadlineFact.subject_id == subject_id, DeadlineFact.kind.in_(kinds))
    )


async def any_deadline(session: AsyncSession, kind: str, subject_id: str) -> bool:
    stmt = select(Deadline.id).where(Deadline.kind == kind, Deadline.subject_id == subject_id).limit(1)
    return (await session.execute(stmt)).first() is not None


async def fact(session: AsyncSession, kind: str, subject_id: str) -> DeadlineFact | None:
    return await session.get(DeadlineFact, (kind, subject_id))


async def episode(session: AsyncSession, episode_id: str) -> EpisodeLink | None:
    return await session.get(EpisodeLink, episode_id)


async def alerted_stages(session: AsyncSession, deadline_id: str) -> set[str]:
    rows = await session.scalars(select(DeadlineAlert.stage).where(DeadlineAlert.deadline_id == deadline_id))
    return set(rows)


def due_query(now: datetime, limit: int, *, postgres: bool) -> Select[Any]:
    """The worker's claim: one range scan of ix_deadline_next_check_at."""
    t = Deadline.__table__
    stmt = select(t).where(t.c.next_check_at <= now).order_by(t.c.next_check_at).limit(limit)
    if postgres:
        stmt = stmt.with_for_update(skip_locked=True)
    return stmt


def list_query(
    *,
    status: str | None,
    now: datetime,
    assignee_email: str | None,
    episode_id: str | None,
    referral_id: str | None,
    team: str | None,
) -> Select[Any]:
    stmt = select(Deadline)
    if status == "overdue":
        stmt = stmt.where(Deadline.status == "open", Deadline.due_at <= now)
    elif status is not None:
        stmt = stmt.where(Deadline.status == status)
    if assignee_email:
        stmt = stmt.where(func.lower(Deadline.assignee_email) == assignee_email.lower())
    if episode_id:
        stmt = stmt.where(Deadline.episode_id == episode_id)
    if referral_id:
        stmt = stmt.where(Deadline.referral_id == referral_id)
    if team:
        stmt = stmt.where(Deadline.team == team)
    return stmt


async def overdue_by_kind(
    session: AsyncSession,
    now: datetime,
    *,
    assignee_email: str | None,
    episode_id: str | None,
    referral_id: str | None,
    team: str | None,
) -> dict[str, int]:
    inner = list_query(
        status="overdue",
        now=now,
        assignee_email=assignee_email,
        episode_id=episode_id,
        referral_id=referral_id,
        team=team,
    ).subquery()
    rows = await session.execute(select(inner.c.kind, func.count()).group_by(inner.c.kind))
    return {kind: n for kind, n in rows.all()}
