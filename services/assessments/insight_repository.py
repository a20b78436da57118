"""Queries of issue 21 item 4 (timeliness and drift): review cadence, plan actions overdue and
the drift case list. Every figure is counted in SQL (PostgreSQL and SQLite alike); Python only
shapes a page of rows. Definitions: docs/assessments.md, "Timeliness and drift".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, and_, case, cast, extract, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.assessments.models import (
    Episode,
    EpisodeReportFact,
    EpisodeReviewFact,
    EpisodeReviewGap,
    LeadProfessional,
    PlanAction,
    TafMember,
)
from shared.pagination import PageParams, keyset

# How many of the latest reviews are read for "no movement in outcome scores".
DRIFT_REVIEWS = 3
UNKNOWN_AGENCY_TYPE = "unknown"


def _count_if(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _cohort(opened_from: datetime | None, opened_to: datetime | None) -> Any:
    conds: list[Any] = [literal(True)]
    if opened_from is not None:
        conds.append(Episode.opened_at >= opened_from)
    if opened_to is not None:
        conds.append(Episode.opened_at < opened_to)
    return and_(*conds)


def _days_from_utc_day(dialect: str, moment: Any, day: Any) -> Any:
    """Whole days from the UTC date of the timestamp `moment` to the date `day`."""
    if dialect == "postgresql":
        return day - cast(func.timezone("UTC", moment), Date)
    return func.julianday(day) - func.julianday(func.date(moment))


def _month_index(day: Any) -> Any:
    return extract("year", day) * 12 + extract("month", day)


def _within_months(earlier: Any, later: Any, months: int) -> Any:
    """`later` on or before `earlier` + `months` calendar months (the day clamped to the month's
    end, as Nov 30 + 3 months is Feb 28): compared by month index and day, so no date
    arithmetic per row and the same answer on PostgreSQL and SQLite."""
    gap = _month_index(later) - _month_index(earlier)
    return or_(gap < months, and_(gap == months, extract("day", later) <= extract("day", earlier)))


def _within_months_per_row(dialect: str, earlier: Any, later: Any, months: int) -> Any:
    """`_within_months` for a condition read on every review: on PostgreSQL as `later` on or
    before `earlier` + an interval of `months` months (PostgreSQL clamps the day to the month's
    end too, so the answer is the same) - date arithmetic rather than six EXTRACTs in numeric
    per row, which cost most of the review cadence at 700,000 reviews."""
    if dialect == "postgresql":
        return later <= earlier + func.make_interval(0, months)
    return _within_months(earlier, later, months)


def _past_months(earlier: Any, today: date, months: int) -> Any:
    """`earlier` + `months` calendar months is before `today`."""
    gap = literal(today.year * 12 + today.month) - _month_index(earlier)
    return or_(gap > months, and_(gap == months, literal(today.day) > extract("day", earlier)))


def _past_months_per_row(dialect: str, earlier: Any, today: date, months: int) -> Any:
    """`_past_months` read on every episode: on PostgreSQL as `earlier` + an interval of
    `months` months before `today` (the day clamped to the month's end there too, and today's
    day is never past its month's end, so the answer is the same) - date arithmetic rather than
    EXTRACTs in numeric per row."""
    if dialect == "postgresql":
        return earlier + func.make_interval(0, months) < today
    return _past_months(earlier, today, months)


@dataclass
class ReviewCadence:
    first_within: int
    first_late: int
    first_overdue: int
    later_within: int
    later_late: int
    later_overdue: int


def first_review_counts(dialect: str, today: date, first_review_weeks: int) -> list[Any]:
    """The first-review counts as labelled columns over episodes outer-joined to their
    `episode_report_fact` and `episode_review_fact` (the episode report reads them in its pass
    over the cohort): per episode with an agreed plan, its earliest review against the UTC day
    the first plan version was agreed + `first_review_weeks`; overdue: open, no review, and that
    day is past. An episode without a plan counts in none (its agreed day is NULL)."""
    # The day the first plan version was agreed, as kept when each is agreed (report_facts.py).
    first_plan_agreed = EpisodeReportFact.first_plan_agreed_at
    # The first review day as kept when each review is recorded (review_facts.py).
    first_review = EpisodeReviewFact.first_review_on
    allowed = first_review_weeks * 7
    gap = _days_from_utc_day(dialect, first_plan_agreed, first_review)
    # Agreed on a UTC day before this instant: that day + the allowed days is before today.
    due_before = datetime.combine(today - timedelta(days=allowed), time(0), tzinfo=UTC)
    planned = first_plan_agreed.is_not(None)
    return [
        _count_if(and_(planned, first_review.is_not(None), gap <= allowed)).label(FIRST_REVIEW[0]),
        _count_if(and_(planned, first_review.is_not(None), gap > allowed)).label(FIRST_REVIEW[1]),
        _count_if(
            and_(planned, first_review.is_(None), Episode.status == "open", first_plan_agreed < due_before)
        ).label(FIRST_REVIEW[2]),
    ]


# The labels of `first_review_counts`: within, late, overdue.
FIRST_REVIEW = ("first_review_within", "first_review_late", "first_review_overdue")


async def review_cadence(
    session: AsyncSession,
    opened_from: datetime | None,
    opened_to: datetime | None,
    today: date,
    interval_months: int,
    first_counts: Mapping[str, int],
) -> ReviewCadence:
    """First review: `first_counts`, the `first_review_counts` as read with the episode
    report's timeliness counts in one pass over the cohort. Later reviews: each review after
    the first against the one before + `interval_months`; overdue: open episodes whose latest
    review + `interval_months` is past."""
    dialect = session.get_bind().dialect.name
    cohort = _cohort(opened_from, opened_to)
    f = {
        key: first_counts[label]
        for key, label in zip(("within", "late", "overdue"), FIRST_REVIEW, strict=True)
    }

    # Each review after the first, counted by the calendar months it came after the one before
    # (kept as each review is recorded, review_facts.py): within when that is `interval_months`
    # or fewer; late: every other.
    gaps = EpisodeReviewGap
    later = (
        select(
            func.coalesce(func.sum(case((gaps.months <= interval_months, gaps.reviews), else_=0)), 0).label(
                "within"
            ),
            func.coalesce(func.sum(gaps.reviews), 0).label("after_first"),
        )
        .select_from(gaps)
        .join(Episode, Episode.id == gaps.episode_id)
        .where(cohort)
    )
    last_review = EpisodeReviewFact.last_review_on
    overdue = (
        select(func.count())
        .select_from(Episode)
        .join(EpisodeReviewFact, EpisodeReviewFact.episode_id == Episode.id)
        .where(
            cohort,
            Episode.status == "open",
            _past_months_per_row(dialect, last_review, today, interval_months),
        )
    )
    lr = (await session.execute(later)).mappings().one()
    return ReviewCadence(
        first_within=int(f["within"]),
        first_late=int(f["late"]),
        first_overdue=int(f["overdue"]),
        later_within=int(lr["within"]),
        later_late=int(lr["after_first"]) - int(lr["within"]),
        later_overdue=int((await session.execute(overdue)).scalar_one()),
    )


async def plan_actions_overdue(
    session: AsyncSession, opened_from: datetime | None, opened_to: datetime | None, today: date
) -> dict[str, int]:
    """Open actions (not `completed`) of the current plan version of open episodes, due before
    `today`, by the owning agency's type (its TAF membership on the episode, else `unknown`)."""
    cohort = and_(_cohort(opened_from, opened_to), Episode.status == "open")
    # The current plan version of each episode, as kept when each is agreed (report_facts.py).
    current = EpisodeReportFact
    # Each agency's type on each episode of the cohort (its memberships, current or past),
    # joined once rather than looked up per action.
    member = (
        select(
            TafMember.episode_id, TafMember.agency_id, func.max(TafMember.agency_type).label("agency_type")
        )
        .join(Episode, Episode.id == TafMember.episode_id)
        .where(cohort)
        .group_by(TafMember.episode_id, TafMember.agency_id)
        .subquery()
    )
    overdue = (
        select(func.coalesce(member.c.agency_type, UNKNOWN_AGENCY_TYPE).label("agency_type"))
        .select_from(PlanAction)
        .join(current, current.current_plan_id == PlanAction.plan_id)
        .join(Episode, Episode.id == current.episode_id)
        .outerjoin(
            member,
            and_(member.c.episode_id == current.episode_id, member.c.agency_id == PlanAction.owner_agency_id),
        )
        .where(
            cohort,
            PlanAction.status != "completed",
            PlanAction.due_on < today,
        )
        .subquery()
    )
    rows = await session.execute(
        select(overdue.c.agency_type, func.count())
        .group_by(overdue.c.agency_type)
        .order_by(overdue.c.agency_type)
    )
    return {str(k): int(v) for k, v in rows}


# --- the drift case list ---------------------------------------------------------------------


def _stalled() -> Any:
    """Open episodes whose latest three reviews show no movement in outcome scores, as kept in
    `episode_review_fact` (services/assessments/review_facts.py; an outer join: no row, no
    reviews)."""
    return EpisodeReviewFact.no_movement.is_(True)


@dataclass
class DriftRow:
    id: str
    reference: str
    opened_at: datetime
    lead_agency_id: str | None
    reviews: int
    last_review_on: date | None
    open_too_long: bool
    no_movement: bool


async def drift_cases(
    session: AsyncSession, open_before: datetime, params: PageParams | None
) -> list[DriftRow]:
    """Open episodes opened before `open_before` or stalled (`_stalled`), oldest
    first; a page of them (limit + 1 rows) or, without `params`, all."""
    stalled = _stalled()
    open_too_long = Episode.opened_at < open_before
    fact = EpisodeReviewFact
    stmt = (
        select(
            Episode.id,
            Episode.reference,
            Episode.opened_at,
            LeadProfessional.agency_id.label("lead_agency_id"),
            func.coalesce(fact.reviews, 0).label("reviews"),
            fact.last_review_on,
            open_too_long.label("open_too_long"),
            stalled.label("no_movement"),
        )
        .select_from(Episode)
        .outerjoin(
            LeadProfessional,
            and_(LeadProfessional.episode_id == Episode.id, LeadProfessional.ended_at.is_(None)),
        )
        .outerjoin(fact, fact.episode_id == Episode.id)
        .where(Episode.status == "open", or_(open_too_long, stalled))
    )
    if params is None:
        stmt = stmt.order_by(Episode.opened_at, Episode.id)
    else:
        stmt = keyset(stmt, Episode.opened_at, Episode.id, params, descending=False)
    rows = (await session.execute(stmt)).all()
    return [
        DriftRow(
            id=row.id,
            reference=row.reference,
            opened_at=row.opened_at,
            lead_agency_id=row.lead_agency_id,
            reviews=int(row.reviews),
            last_review_on=_as_date(row.last_review_on),
            open_too_long=bool(row.open_too_long),
            no_movement=bool(row.no_movement),
        )
        for row in rows
    ]


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


@dataclass(frozen=True)
class DriftCount:
    band: int  # index into the bands: 0 the newest
    open_too_long: bool
    no_movement: bool
    episodes: int


async def drift_counts(
    session: AsyncSession, open_before: datetime, band_starts: list[datetime]
) -> list[DriftCount]:
    """The drift list counted, not listed (the chart of `GET /v1/reports/drift`): episodes by
    months-open band and reason. `band_starts` are instants, newest first: an episode opened at
    or before `band_starts[i]` is in band i + 1 or later."""
    open_too_long = Episode.opened_at < open_before
    no_movement = _stalled()
    whens = [
        (Episode.opened_at <= start, len(band_starts) - i) for i, start in enumerate(reversed(band_starts))
    ]
    band = case(*whens, else_=0).label("band") if whens else literal(0).label("band")
    cases = (
        select(band, open_too_long.label("too_long"), no_movement.label("stalled"))
        .select_from(Episode)
        .outerjoin(EpisodeReviewFact, EpisodeReviewFact.episode_id == Episode.id)
        .where(Episode.status == "open", or_(open_too_long, no_movement))
        .subquery("drift_cases")
    )
    # Grouped outside: the band's CASE holds parameters PostgreSQL would not match in a GROUP BY.
    c = cases.c
    stmt = select(c.band, c.too_long, c.stalled, func.count().label("n")).group_by(
        c.band, c.too_long, c.stalled
    )
    return [
        DriftCount(int(r.band), bool(r.too_long), bool(r.stalled), int(r.n))
        for r in (await session.execute(stmt)).all()
    ]
