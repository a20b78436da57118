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
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, String, and_, case, cast, func, literal_column, or_, select, text, true
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from services.assessments.models import Episode, EpisodeNeed, SfEvidenceFact, SfHeadline
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
            t.opened_at,
            t.at_start,
            t.from_needs,
            t.from_plan,
            t.met_on,
            add_months_sql(t.met_on, months).label("window_ends_on"),
            t.re_referral_after_on,
            t.review_below_after_on,
        )
        .where(_in_scope(scope, t.episode_id, t.opened_at))
        .subquery("sf_facts")
    )

    def in_window(col: Any) -> Any:
        return case((col <= facts.c.window_ends_on, col), else_=None)

    rows = select(
        facts.c.episode_id,
        facts.c.headline,
        facts.c.opened_at,
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
            func.min(h.c.opened_at).label("opened_at"),
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


@dataclass(frozen=True)
class Period:
    """The episodes opened in [start, end) (either end open): a scope the reads filter on the
    opening time where it is stored (`episode.opened_at`, `sf_headline.opened_at`, both indexed)
    instead of a list of ids to match."""

    start: datetime | None = None
    end: datetime | None = None

    def on(self, opened_at: Any) -> Any:
        conds = []
        if self.start is not None:
            conds.append(opened_at >= self.start)
        if self.end is not None:
            conds.append(opened_at < self.end)
        return and_(True, *conds)


def opened_between(start: datetime | None, end: datetime | None) -> Period:
    """The episodes opened in [start, end)."""
    return Period(start, end)


def _in_scope(scope: Any, episode_id: Any, opened_at: Any) -> Any:
    """`scope` (a `Period` or a select of episode ids) as a condition on a table's columns."""
    return scope.on(opened_at) if isinstance(scope, Period) else episode_id.in_(scope)


# On PostgreSQL, for the statements that aggregate every family of a period: JIT compilation
# cost more than the query (0.2-0.25 s a statement at 200,000 episodes, measured) and the
# grouping spilled to disk. A GET's read session runs each statement on its own (autocommit), so
# `SET LOCAL` would not hold: the settings are set for the connection and reset after the read.
POSTGRES_REPORT_SETTINGS = {"jit": "off", "work_mem": "'64MB'"}


@asynccontextmanager
async def report_settings(session: AsyncSession) -> AsyncIterator[None]:
    if session.get_bind().dialect.name != "postgresql":
        yield
        return

    async def reset() -> None:
        for name in POSTGRES_REPORT_SETTINGS:
            await session.execute(text(f"RESET {name}"))

    for name, value in POSTGRES_REPORT_SETTINGS.items():
        await session.execute(text(f"SET {name} = {value}"))
    try:
        yield
    except BaseException:
        # Inside a transaction that failed, its rollback undoes the SET (and a RESET would fail
        # too, hiding the error); outside one, the RESET runs.
        with contextlib.suppress(Exception):
            await reset()
        raise
    await reset()


# --- the reads ---------------------------------------------------------------------------------


async def episodes_page(
    session: AsyncSession, scope: Any, after: tuple[datetime, str] | None, limit: int
) -> list[Any]:
    """Episodes of the scope, oldest first (`opened_at`, `id`), `limit` + 1 of them."""
    stmt = select(Episode.id, Episode.reference, Episode.status, Episode.opened_at, Episode.closed_at).where(
        _in_scope(scope, Episode.id, Episode.opened_at)
    )
    if after is not None:
        at, eid = after
        stmt = stmt.where(or_(Episode.opened_at > at, and_(Episode.opened_at == at, Episode.id > eid)))
    stmt = stmt.order_by(Episode.opened_at, Episode.id).limit(limit + 1)
    return list((await session.execute(stmt)).all())


async def headlines_of(session: AsyncSession, ids: Sequence[str], months: int, today: date) -> list[Any]:
    h = headline_rows(select(Episode.id).where(Episode.id.in_(list(ids))), months, today)
    # On the connection: plain rows, without the ORM's result processing (thousands of rows
    # for a claims export).
    conn = await session.connection()
    return list((await conn.execute(select(h).order_by(h.c.episode_id, h.c.headline))).mappings())


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
    """Every piece of evidence that a headline was met, of the given episodes, oldest first
    (read from `sf_evidence`, kept by `sf_facts.py`)."""
    e = SfEvidenceFact
    conn = await session.connection()
    rows = await conn.execute(
        select(
            e.episode_id,
            e.headline,
            e.evidenced_on,
            e.kind,
            e.outcome_id,
            e.review_id,
            e.score,
            e.target_score,
        ).where(e.episode_id.in_(list(ids)))
    )
    out = [Evidence(eid, h, on, kind, o, r or None, sc, t) for eid, h, on, kind, o, r, sc, t in rows]
    return sorted(
        out, key=lambda e: (e.episode_id, e.headline, e.on, e.kind, e.review_id or "", e.outcome_id)
    )


def _evidence_piece(postgres: bool) -> tuple[Any, list[Any]]:
    """One piece of `sf_evidence` as the claims export writes it, and the order of an
    episode's pieces (`evidence_of`'s sort; PostgreSQL compares the text byte by byte under
    the "C" collation, as Python does)."""
    e = SfEvidenceFact

    def text_of(col: Any) -> Any:
        return cast(col, String)

    def ordered(col: Any) -> Any:
        return col.collate("C") if postgres else col

    day = text_of(e.evidenced_on)
    review = (
        e.headline + "=review:" + e.review_id + ":" + e.outcome_id + ":"
        + text_of(e.score) + "/" + text_of(e.target_score) + "@" + day
    )  # fmt: skip
    closure = e.headline + "=closure_outcome:" + e.outcome_id + "@" + day
    piece = case((e.kind == "review", review), else_=closure)
    return piece, [
        ordered(e.headline),
        e.evidenced_on,
        ordered(e.kind),
        ordered(e.review_id),
        ordered(e.outcome_id),
    ]


async def evidence_texts(session: AsyncSession, ids: Sequence[str]) -> dict[str, list[str]]:
    """`evidence_of` as the claims export writes each piece (`headline=review:<review>:<outcome>:
    <score>/<target>@<day>`, `headline=closure_outcome:<outcome>@<day>`), built and ordered by
    the database: thousands of families' evidence without a Python object each. Ordered as
    `evidence_of` sorts (PostgreSQL compares the text byte by byte, as Python does)."""
    e = SfEvidenceFact
    postgres = session.get_bind().dialect.name == "postgresql"
    piece, order = _evidence_piece(postgres)
    conn = await session.connection()
    rows = await conn.execute(
        select(e.episode_id, piece)
        .where(e.episode_id.in_(list(ids)))
        .order_by(e.episode_id.collate("C") if postgres else e.episode_id, *order)
    )
    out: dict[str, list[str]] = {}
    for eid, piece in rows:
        out.setdefault(eid, []).append(piece)
    return out


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
    async with report_settings(session):
        return list((await session.execute(stmt)).all())


# --- the claims export written by PostgreSQL ------------------------------------------------------

# The characters for which Python's `csv.writer` (QUOTE_MINIMAL, "\r\n" lines) quotes a field.
_CSV_QUOTED = '[,"\r\n]'
_SEMICOLON: Any = literal_column("';'")


def _csv_field(value: Any) -> Any:
    """`value` (text; NULL as empty) as `csv.writer` writes it: quoted, with its quotes doubled,
    when it holds a comma, a quote, a CR or a LF."""
    v = func.coalesce(value, "")
    return case((v.op("~")(_CSV_QUOTED), '"' + func.replace(v, '"', '""') + '"'), else_=v)


def _utc_day(at: Any) -> Any:
    return func.to_char(func.timezone("UTC", at), "YYYY-MM-DD")


async def claims_lines(
    session: AsyncSession, scope: Any, months: int, today: date, threshold: int, headlines: Sequence[str]
) -> list[str]:
    """PostgreSQL only: the claims export's rows (after the header), each line as `csv.writer`
    writes it, built by one statement. The claimable families are `family_rows`' (a numeric
    aggregate); only for them, by their key, the start headlines (in the order of `headlines`,
    then by name: every one is sustained, on `met_on` + `months`) and the evidence (in the order
    `evidence_texts` reads it) are aggregated into text. Python only joins the lines."""
    f = family_rows(scope, months, today, threshold)
    fam = (
        select(f.c.episode_id, f.c.start_n, f.c.claimable_on)
        .where(f.c.eligible == 1)
        .subquery("sf_claimable")
    )
    t = SfHeadline
    rank = case({name: i for i, name in enumerate(headlines)}, value=t.headline, else_=len(headlines))

    def start_list(item: Any) -> Any:
        return func.string_agg(item, aggregate_order_by(_SEMICOLON, rank, t.headline))

    def dated(day: Any) -> Any:
        return t.headline + "@" + func.to_char(day, "YYYY-MM-DD")

    starts = (
        select(
            start_list(t.headline).label("starts"),
            start_list(dated(t.met_on)).label("met"),
            start_list(dated(add_months_sql(t.met_on, months))).label("sustained"),
        )
        .where(t.episode_id == fam.c.episode_id, t.at_start == 1)
        .lateral("sf_starts")
    )
    e = SfEvidenceFact
    piece, order = _evidence_piece(True)
    evidence = (
        select(func.string_agg(piece, aggregate_order_by(_SEMICOLON, *order)).label("pieces"))
        .where(e.episode_id == fam.c.episode_id)
        .lateral("sf_pieces")
    )
    fields = [
        _csv_field(Episode.id),
        _csv_field(Episode.reference),
        _utc_day(Episode.opened_at),
        func.coalesce(_utc_day(Episode.closed_at), ""),
        _csv_field(starts.c.starts),
        cast(fam.c.start_n, String),
        func.coalesce(func.to_char(fam.c.claimable_on, "YYYY-MM-DD"), ""),
        _csv_field(starts.c.met),
        _csv_field(starts.c.sustained),
        _csv_field(evidence.c.pieces),
    ]
    line = func.concat_ws(",", *fields) + "\r\n"
    stmt = (
        select(line)
        .select_from(
            Episode.__table__.join(fam, fam.c.episode_id == Episode.id)
            .join(starts, true())
            .join(evidence, true())
        )
        .order_by(Episode.opened_at, Episode.id)
    )
    async with report_settings(session):
        conn = await session.connection()
        return list((await conn.execute(stmt)).scalars())


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
    async with report_settings(session):
        return await _quarter_figures(session, (start, end), (start_at, end_at), months, today, threshold)


async def _quarter_figures(
    session: AsyncSession,
    days: tuple[date, date],
    moments: tuple[datetime, datetime],
    months: int,
    today: date,
    threshold: int,
) -> QuarterFigures:
    (start, end), (start_at, end_at) = days, moments
    quarter = Period(start_at, end_at)
    # Only the families something happened to in the quarter: opened in it, or a headline met
    # from `months` before it to its end (met in it, or sustained in it: the window ends
    # `months` after the day met). Every figure below counts only such families and rows, so
    # the rest of the history is never aggregated.
    t = SfHeadline
    scope = select(t.episode_id).where(
        t.opened_at < end_at,
        or_(t.opened_at >= start_at, and_(t.met_on >= add_months(start, -months), t.met_on <= end)),
    )
    f = family_rows(scope, months, today, threshold)
    opened = select(Episode.id).where(quarter.on(Episode.opened_at)).subquery()

    def count_if(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    def in_q(col: Any) -> Any:
        return and_(col >= start, col <= end)

    fam = (
        await session.execute(
            select(
                count_if(and_(quarter.on(f.c.opened_at), f.c.multiple_needs == 1)).label("multiple"),
                count_if(in_q(f.c.first_met_on)).label("met"),
                count_if(in_q(f.c.first_sustained_on)).label("sustained"),
                count_if(in_q(f.c.claimable_on)).label("claimable"),
            )
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
    hstarted = quarter.on(h.c.opened_at)
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
