"""Queries of the Supporting Families reports (issue 21 item 1; the rule: docs/assessments.md,
"Supporting Families"). Only `supporting_families.py` calls them.

Everything is computed in SQL, one row per (episode, headline): whether the headline applied at
the start, when it was first evidenced as met, when its sustainment window ends and what broke
it. The facts that do not depend on the settings are read from `sf_headline` (kept by
`sf_facts.py`); the window is applied here. Dates are UTC days. `add_months` (clamped to the
month's end, as PostgreSQL does and as `add_months` below does in Python) keeps the SQL the same
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from services.assessments.models import ClosureOutcome, Episode, EpisodeNeed, SfHeadline
from services.assessments.sf_facts import scored_reviews
from shared.codes import NEED_CODES


class add_months_sql(FunctionElement[date]):
    """A date plus whole months, clamped to the end of a shorter month (31 Aug + 6 = 28 Feb)."""

    type = Date()
    inherit_cache = False  # the months are part of the SQL text
    name = "add_months"

    def __init__(self, day: Any, months: int) -> None:
        self.months = int(months)
        super().__init__(day)


@compiles(add_months_sql)
def _add_months(element: Any, compiler: Any, **kw: Any) -> str:
    day = compiler.process(element.clauses, **kw)
    return f"CAST(({day} + INTERVAL '{element.months} months') AS DATE)"


@compiles(add_months_sql, "sqlite")
def _add_months_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    day, n = compiler.process(element.clauses, **kw), element.months
    return (
        f"min(date({day}, 'start of month', '+{n} months', "
        f"'+' || (CAST(strftime('%d', {day}) AS INTEGER) - 1) || ' days'), "
        f"date({day}, 'start of month', '+{n + 1} months', '-1 day'))"
    )


def add_months(day: date, months: int) -> date:
    """`add_months_sql` in Python."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


async def record_needs(session: AsyncSession, episode_id: str, needs: Sequence[str]) -> None:
    """The referral's needs, each under its headline; an unknown code is left out."""
    for need in dict.fromkeys(needs):
        if need in NEED_CODES:
            session.add(EpisodeNeed(episode_id=episode_id, need=need, headline=NEED_CODES[need]))
    await session.flush()


def headline_rows(scope: Any, months: int, today: date) -> Any:
    """One row per (episode, headline) of the episodes `scope` selects (a select of ids), read
    from `sf_headline` (kept by `sf_facts.py`): `at_start`, `from_needs`, `from_plan`, `met_on`,
    `window_ends_on`, `re_referral_on`, `review_below_on` (the first break inside the window),
    `sustained_on` (NULL unless sustained by `today`)."""
    t = SfHeadline
    facts = (
        select(
            t.episode_id,
            t.headline,
            t.at_start,
            t.from_needs,
            t.from_plan,
            t.met_on,
            add_months_sql(t.met_on, months).label("window_ends_on"),
            t.re_referral_after_on,
            t.review_below_after_on,
        )
        .where(t.episode_id.in_(scope))
        .subquery("sf_facts")
    )

    def in_window(col: Any) -> Any:
        return case((col <= facts.c.window_ends_on, col), else_=None)

    rows = select(
        facts.c.episode_id,
        facts.c.headline,
        facts.c.at_start,
        facts.c.from_needs,
        facts.c.from_plan,
        facts.c.met_on,
        facts.c.window_ends_on,
        in_window(facts.c.re_referral_after_on).label("re_referral_on"),
        in_window(facts.c.review_below_after_on).label("review_below_on"),
    ).subquery("sf_rows")
    sustained = and_(
        rows.c.met_on.is_not(None),
        rows.c.window_ends_on <= today,
        rows.c.re_referral_on.is_(None),
        rows.c.review_below_on.is_(None),
    )
    return select(
        *rows.c, case((sustained, rows.c.window_ends_on), else_=None).label("sustained_on")
    ).subquery("sf_headlines")


def family_rows(scope: Any, months: int, today: date, threshold: int) -> Any:
    """One row per episode of the scope with any headline: `start_n`, `met_n`, `sustained_n`
    (of the start headlines), `multiple_needs`, `eligible`, `claimable_on`, `first_met_on`,
    `first_sustained_on`."""
    h = headline_rows(scope, months, today)
    at_start = h.c.at_start == 1
    start_n = func.sum(h.c.at_start)
    met_n = func.sum(case((and_(at_start, h.c.met_on.is_not(None)), 1), else_=0))
    sustained_n = func.sum(case((and_(at_start, h.c.sustained_on.is_not(None)), 1), else_=0))
    eligible = and_(start_n >= threshold, met_n == start_n, sustained_n == start_n)
    return (
        select(
            h.c.episode_id,
            start_n.label("start_n"),
            met_n.label("met_n"),
            sustained_n.label("sustained_n"),
            case((start_n >= threshold, 1), else_=0).label("multiple_needs"),
            case((eligible, 1), else_=0).label("eligible"),
            case((eligible, func.max(h.c.sustained_on)), else_=None).label("claimable_on"),
            func.min(h.c.met_on).label("first_met_on"),
            func.min(h.c.sustained_on).label("first_sustained_on"),
        )
        .group_by(h.c.episode_id)
        .subquery("sf_families")
    )


def opened_between(start: datetime | None, end: datetime | None) -> Any:
    """The ids of the episodes opened in [start, end)."""
    conds = []
    if start is not None:
        conds.append(Episode.opened_at >= start)
    if end is not None:
        conds.append(Episode.opened_at < end)
    return select(Episode.id).where(and_(True, *conds))


# --- the reads ---------------------------------------------------------------------------------


async def episodes_page(
    session: AsyncSession, scope: Any, after: tuple[datetime, str] | None, limit: int
) -> list[Any]:
    """Episodes of the scope, oldest first (`opened_at`, `id`), `limit` + 1 of them."""
    stmt = select(Episode.id, Episode.reference, Episode.status, Episode.opened_at, Episode.closed_at).where(
        Episode.id.in_(scope)
    )
    if after is not None:
        at, eid = after
        stmt = stmt.where(or_(Episode.opened_at > at, and_(Episode.opened_at == at, Episode.id > eid)))
    stmt = stmt.order_by(Episode.opened_at, Episode.id).limit(limit + 1)
    return list((await session.execute(stmt)).all())


async def headlines_of(session: AsyncSession, ids: Sequence[str], months: int, today: date) -> list[Any]:
    h = headline_rows(select(Episode.id).where(Episode.id.in_(list(ids))), months, today)
    return list((await session.execute(select(h).order_by(h.c.episode_id, h.c.headline))).mappings())


async def needs_recorded(session: AsyncSession, ids: Sequence[str]) -> set[str]:
    rows = await session.execute(
        select(EpisodeNeed.episode_id).where(EpisodeNeed.episode_id.in_(list(ids))).distinct()
    )
    return set(rows.scalars())


@dataclass(frozen=True)
class Evidence:
    episode_id: str
    headline: str
    on: date
    kind: str  # closure_outcome | review
    outcome_id: str
    review_id: str | None = None
    score: int | None = None
    target_score: int | None = None


async def evidence_of(session: AsyncSession, ids: Sequence[str]) -> list[Evidence]:
    """Every piece of evidence that a headline was met, of the given episodes, oldest first."""
    scope = select(Episode.id).where(Episode.id.in_(list(ids)))
    closures = await session.execute(
        select(
            ClosureOutcome.episode_id, ClosureOutcome.headline, Episode.closed_at, ClosureOutcome.outcome_id
        )
        .join(Episode, Episode.id == ClosureOutcome.episode_id)
        .where(ClosureOutcome.episode_id.in_(scope), Episode.closed_at.is_not(None))
    )
    out = [Evidence(e, h, at.date(), "closure_outcome", o) for e, h, at, o in closures if at is not None]
    scored = scored_reviews(scope).subquery()
    reviews = await session.execute(select(scored).where(scored.c.score >= scored.c.target_score))
    out += [
        Evidence(
            r.episode_id, r.headline, r.held_on, "review", r.outcome_id, r.review_id, r.score, r.target_score
        )
        for r in reviews
    ]
    return sorted(
        out, key=lambda e: (e.episode_id, e.headline, e.on, e.kind, e.review_id or "", e.outcome_id)
    )


async def claimable(session: AsyncSession, scope: Any, months: int, today: date, threshold: int) -> list[Any]:
    """The claimable families of the scope, oldest first: episode and family figures."""
    f = family_rows(scope, months, today, threshold)
    stmt = (
        select(
            Episode.id, Episode.reference, Episode.opened_at, Episode.closed_at, f.c.start_n, f.c.claimable_on
        )
        .join(f, f.c.episode_id == Episode.id)
        .where(f.c.eligible == 1)
        .order_by(Episode.opened_at, Episode.id)
    )
    return list((await session.execute(stmt)).all())


@dataclass(frozen=True)
class QuarterFigures:
    families_started: int
    with_multiple_needs: int
    needs_not_recorded: int
    families_met: int
    families_sustained: int
    families_claimable: int
    by_headline: dict[str, tuple[int, int, int]]  # started, met, sustained


async def quarter_figures(
    session: AsyncSession,
    start: date,
    end: date,
    start_at: datetime,
    end_at: datetime,
    months: int,
    today: date,
    threshold: int,
) -> QuarterFigures:
    """[start, end] are the quarter's days, [start_at, end_at) its moments. Families started:
    opened in the quarter; met, sustained, claimable: the day it happened is in the quarter."""
    scope = select(Episode.id).where(Episode.opened_at < end_at)
    f = family_rows(scope, months, today, threshold)
    opened = select(Episode.id).where(Episode.opened_at >= start_at, Episode.opened_at < end_at).subquery()

    def count_if(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    def in_q(col: Any) -> Any:
        return and_(col >= start, col <= end)

    started = opened.c.id.is_not(None)
    fam = (
        await session.execute(
            select(
                count_if(and_(started, f.c.multiple_needs == 1)).label("multiple"),
                count_if(in_q(f.c.first_met_on)).label("met"),
                count_if(in_q(f.c.first_sustained_on)).label("sustained"),
                count_if(in_q(f.c.claimable_on)).label("claimable"),
            ).select_from(f.outerjoin(opened, opened.c.id == f.c.episode_id))
        )
    ).one()
    counts = (
        await session.execute(
            select(
                func.count().label("started"),
                count_if(
                    ~select(EpisodeNeed.episode_id).where(EpisodeNeed.episode_id == opened.c.id).exists()
                ).label("not_recorded"),
            ).select_from(opened)
        )
    ).one()
    h = headline_rows(scope, months, today)
    hstarted = h.c.episode_id.in_(select(opened.c.id))
    by = await session.execute(
        select(
            h.c.headline,
            count_if(and_(h.c.at_start == 1, hstarted)),
            count_if(in_q(h.c.met_on)),
            count_if(in_q(h.c.sustained_on)),
        ).group_by(h.c.headline)
    )
    return QuarterFigures(
        families_started=int(counts.started),
        with_multiple_needs=int(fam.multiple),
        needs_not_recorded=int(counts.not_recorded),
        families_met=int(fam.met),
        families_sustained=int(fam.sustained),
        families_claimable=int(fam.claimable),
        by_headline={str(k): (int(a), int(b), int(c)) for k, a, b, c in by},
    )
