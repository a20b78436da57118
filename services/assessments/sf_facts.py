"""The `sf_headline` and `sf_evidence` tables (issue 21 items 1 and 6): each (episode,
headline)'s Supporting Families facts - at the start (from the referral's needs, from the first
plan), the first day met, and the first day after it that a re-referral or a review below target
could break it - and each piece of evidence that a headline was met, kept up to date in the
transaction of every write of what they come from, so the reports (`sf_repository.py`) read
indexed tables instead of recomputing every family.

The facts do not depend on the settings or on today: `sf_repository.headline_rows` applies the
window (`met_on` + `sf_sustain_months`) when it reads them. A break day is the first one AFTER
`met_on` (unbounded); it breaks the headline when it is inside the window - the same as the
first break inside the window, for any window.

Why a session listener, not a call in each rule: the facts are a pure function of the rows of
eight tables (`WATCHED`), and every write to them goes through a `Session` - the rules
(opening, the referral's needs, the family, plans, reviews, closure), the bulk import, event
handlers, and the fixtures of the service tests that build families row by row. Keeping them
at the one place every write passes means a new writer cannot forget them; a call in each rule
would. Two listeners cover both ways a session writes:

- the unit of work: `before_flush` notes the episodes touched by new, changed and deleted rows;
  `after_flush` recomputes them in the same transaction;
- statements run through the session (`session.execute(delete(EpisodeFamilyMember)...)`, as
  `repository.replace_family` does): `do_orm_execute` reads the rows an UPDATE or DELETE of a
  watched table will touch, runs it, and recomputes them at once; an INSERT statement into a
  watched table is refused (it would carry no rows to note: add ORM objects instead).

Each recompute also covers every episode sharing a family member with the touched ones (their
re-referral breaks may change), before and after the write. What no listener sees - SQL text
or a raw connection writing these tables - is kept out by `tests/test_sf_facts_paths.py`, which
also drives every write path and compares the table with the facts recomputed from scratch.
`backfill` fills both tables for every episode (the bench; migration 0010 holds its own frozen
copy of the same statements).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    and_,
    case,
    delete,
    event,
    func,
    insert,
    literal,
    select,
    union,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import get_history
from sqlalchemy.sql.functions import FunctionElement

from services.assessments.models import (
    ClosureOutcome,
    Episode,
    EpisodeFamilyMember,
    EpisodeNeed,
    Plan,
    PlanOutcome,
    Review,
    ReviewScore,
    SfEvidenceFact,
    SfHeadline,
)


class utc_date(FunctionElement[date]):
    """The UTC day of a timestamp column."""

    type = Date()
    inherit_cache = True
    name = "utc_date"


@compiles(utc_date)
def _utc_date(element: Any, compiler: Any, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC') AS DATE)"


@compiles(utc_date, "sqlite")
def _utc_date_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


# A plan outcome's target read as a score (0-10, `7` or `7/10`); any other target is a measure
# that a review score cannot reach, so only closure evidences it.
_TARGETS = {str(n): n for n in range(11)} | {f"{n}/10": n for n in range(11)}


def _target_score() -> Any:
    return case(_TARGETS, value=func.replace(func.trim(PlanOutcome.target), " ", ""), else_=None)


def scored_reviews(scope: Any) -> Any:
    """Every review score of the scope's episodes, with the outcome's headline and its target as
    a score in the episode's current (latest) plan version; outcomes with no score target are
    left out."""
    latest = (
        select(Plan.episode_id, func.max(Plan.version).label("version"))
        .where(Plan.episode_id.in_(scope))
        .group_by(Plan.episode_id)
        .subquery("latest")
    )
    current = (
        select(Plan.episode_id, PlanOutcome.outcome_id, PlanOutcome.headline, _target_score().label("target"))
        .join(latest, and_(latest.c.episode_id == Plan.episode_id, latest.c.version == Plan.version))
        .join(PlanOutcome, PlanOutcome.plan_id == Plan.id)
        .subquery("current")
    )
    return (
        select(
            Review.episode_id,
            current.c.headline,
            Review.held_on,
            Review.id.label("review_id"),
            ReviewScore.outcome_id,
            ReviewScore.score,
            current.c.target.label("target_score"),
        )
        .join(ReviewScore, ReviewScore.review_id == Review.id)
        .join(
            current,
            and_(current.c.episode_id == Review.episode_id, current.c.outcome_id == ReviewScore.outcome_id),
        )
        .where(current.c.target.is_not(None))
    )


def facts(scope: Any) -> Any:
    """The `sf_headline` rows of the episodes `scope` selects (a select of ids), in its
    columns' order."""
    start_u = union_all(
        select(
            EpisodeNeed.episode_id,
            EpisodeNeed.headline,
            literal(1).label("from_needs"),
            literal(0).label("from_plan"),
        ).where(EpisodeNeed.episode_id.in_(scope)),
        select(Plan.episode_id, PlanOutcome.headline, literal(0), literal(1))
        .join(PlanOutcome, PlanOutcome.plan_id == Plan.id)
        .where(Plan.version == 1, Plan.episode_id.in_(scope)),
    ).subquery("start_u")
    start = (
        select(
            start_u.c.episode_id,
            start_u.c.headline,
            func.max(start_u.c.from_needs).label("from_needs"),
            func.max(start_u.c.from_plan).label("from_plan"),
        )
        .group_by(start_u.c.episode_id, start_u.c.headline)
        .cte("sf_start")
    )
    scored = scored_reviews(scope).cte("sf_scored")
    met_u = union_all(
        select(ClosureOutcome.episode_id, ClosureOutcome.headline, utc_date(Episode.closed_at).label("on"))
        .join(Episode, Episode.id == ClosureOutcome.episode_id)
        .where(ClosureOutcome.episode_id.in_(scope), Episode.closed_at.is_not(None)),
        select(scored.c.episode_id, scored.c.headline, scored.c.held_on).where(
            scored.c.score >= scored.c.target_score
        ),
    ).subquery("met_u")
    met = (
        select(met_u.c.episode_id, met_u.c.headline, func.min(met_u.c.on).label("met_on"))
        .group_by(met_u.c.episode_id, met_u.c.headline)
        .cte("sf_met")
    )
    keys = union(
        select(start.c.episode_id, start.c.headline), select(met.c.episode_id, met.c.headline)
    ).subquery("keys")
    # A later review of the same episode scoring an outcome under the headline below target.
    below = (
        select(met.c.episode_id, met.c.headline, func.min(scored.c.held_on).label("on"))
        .join(
            scored,
            and_(
                scored.c.episode_id == met.c.episode_id,
                scored.c.headline == met.c.headline,
                scored.c.score < scored.c.target_score,
                scored.c.held_on > met.c.met_on,
            ),
        )
        .group_by(met.c.episode_id, met.c.headline)
        .subquery("below")
    )
    # Another episode of any family member, opened later, whose referral named a need under it.
    mine, theirs = aliased(EpisodeFamilyMember), aliased(EpisodeFamilyMember)
    other, need = aliased(Episode), aliased(EpisodeNeed)
    opened = utc_date(other.opened_at)
    rereferral = (
        select(met.c.episode_id, met.c.headline, func.min(opened).label("on"))
        .join(mine, mine.episode_id == met.c.episode_id)
        .join(theirs, and_(theirs.person_id == mine.person_id, theirs.episode_id != mine.episode_id))
        .join(other, other.id == theirs.episode_id)
        .join(need, and_(need.episode_id == other.id, need.headline == met.c.headline))
        .where(opened > met.c.met_on)
        .group_by(met.c.episode_id, met.c.headline)
        .subquery("rereferral")
    )

    def on_key(t: Any) -> Any:
        return and_(t.c.episode_id == keys.c.episode_id, t.c.headline == keys.c.headline)

    return (
        select(
            keys.c.episode_id,
            keys.c.headline,
            Episode.opened_at,
            case((start.c.episode_id.is_not(None), 1), else_=0).label("at_start"),
            func.coalesce(start.c.from_needs, 0).label("from_needs"),
            func.coalesce(start.c.from_plan, 0).label("from_plan"),
            met.c.met_on,
            rereferral.c.on.label("re_referral_after_on"),
            below.c.on.label("review_below_after_on"),
        )
        .select_from(keys)
        .join(Episode, Episode.id == keys.c.episode_id)
        .outerjoin(start, on_key(start))
        .outerjoin(met, on_key(met))
        .outerjoin(rereferral, on_key(rereferral))
        .outerjoin(below, on_key(below))
    )


_COLUMNS = [
    "episode_id",
    "headline",
    "opened_at",
    "at_start",
    "from_needs",
    "from_plan",
    "met_on",
    "re_referral_after_on",
    "review_below_after_on",
]


def evidence(scope: Any) -> Any:
    """The `sf_evidence` rows of the episodes `scope` selects, in `_EVIDENCE_COLUMNS` order:
    each closure outcome of a closed episode, each review score at or above its target."""
    scored = scored_reviews(scope).subquery("sf_scored")
    return union_all(
        select(
            ClosureOutcome.episode_id,
            ClosureOutcome.headline,
            literal("closure_outcome"),
            literal(""),
            ClosureOutcome.outcome_id,
            utc_date(Episode.closed_at),
            literal(None, Integer),
            literal(None, Integer),
        )
        .join(Episode, Episode.id == ClosureOutcome.episode_id)
        .where(ClosureOutcome.episode_id.in_(scope), Episode.closed_at.is_not(None)),
        select(
            scored.c.episode_id,
            scored.c.headline,
            literal("review"),
            scored.c.review_id,
            scored.c.outcome_id,
            scored.c.held_on,
            scored.c.score,
            scored.c.target_score,
        ).where(scored.c.score >= scored.c.target_score),
    )


_EVIDENCE_COLUMNS = [
    "episode_id",
    "headline",
    "kind",
    "review_id",
    "outcome_id",
    "evidenced_on",
    "score",
    "target_score",
]


def refresh(conn: Connection, episode_ids: Iterable[str]) -> None:
    """Recompute the rows of these episodes (a few hundred ids at a time)."""
    ids = sorted(set(episode_ids))
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        conn.execute(delete(SfHeadline).where(SfHeadline.episode_id.in_(chunk)))
        conn.execute(delete(SfEvidenceFact).where(SfEvidenceFact.episode_id.in_(chunk)))
        scope = select(Episode.id).where(Episode.id.in_(chunk))
        conn.execute(insert(SfHeadline).from_select(_COLUMNS, facts(scope)))
        conn.execute(insert(SfEvidenceFact).from_select(_EVIDENCE_COLUMNS, evidence(scope)))


def backfill(conn: Connection) -> None:
    """Every episode's rows, one statement a table (the bench after its COPY; migration 0010
    runs its own frozen copy of these statements)."""
    conn.execute(delete(SfHeadline))
    conn.execute(delete(SfEvidenceFact))
    conn.execute(insert(SfHeadline).from_select(_COLUMNS, facts(select(Episode.id))))
    conn.execute(insert(SfEvidenceFact).from_select(_EVIDENCE_COLUMNS, evidence(select(Episode.id))))


# --- kept on every write -----------------------------------------------------------------------

WATCHED = (
    Episode,
    EpisodeNeed,
    EpisodeFamilyMember,
    ClosureOutcome,
    Plan,
    PlanOutcome,
    Review,
    ReviewScore,
)
WATCHED_TABLES = frozenset(m.__tablename__ for m in WATCHED)
_KEY = "sf_headline_touched"


def _touched(session: Session) -> dict[str, set[str]]:
    touched: dict[str, set[str]] = session.info.setdefault(
        _KEY, {"episode": set(), "person": set(), "plan": set(), "review": set()}
    )
    return touched


def _note_row(t: dict[str, set[str]], o: Any) -> None:
    if isinstance(o, Episode):
        t["episode"].add(o.id)
    elif isinstance(o, EpisodeNeed | EpisodeFamilyMember | ClosureOutcome | Plan | Review):
        t["episode"].add(o.episode_id)
        if isinstance(o, EpisodeFamilyMember):  # removed, it no longer links the episodes
            t["person"].add(o.person_id)
    elif isinstance(o, PlanOutcome):
        t["plan"].add(o.plan_id)
    elif isinstance(o, ReviewScore):
        t["review"].add(o.review_id)


@event.listens_for(Session, "before_flush")
def _note(session: Session, flush_context: Any, instances: Any) -> None:
    changed = [*session.new, *session.dirty, *session.deleted]
    if not any(isinstance(o, WATCHED) for o in changed):
        return
    t = _touched(session)
    for o in changed:
        if isinstance(o, Episode) and not (
            o in session.new or any(get_history(o, a).has_changes() for a in ("opened_at", "closed_at"))
        ):
            continue  # an episode's other fields are not facts
        _note_row(t, o)


@event.listens_for(Session, "after_flush")
def _keep(session: Session, flush_context: Any) -> None:
    t = session.info.pop(_KEY, None)
    if t:
        _recompute(session.connection(), t)


@event.listens_for(Session, "do_orm_execute")
def _statement(state: Any) -> Any:
    """An UPDATE or DELETE of a watched table run through the session: note the rows it
    touches, run it, recompute them; an INSERT statement is refused."""
    if not (state.is_update or state.is_delete or state.is_insert):
        return None
    name = getattr(getattr(state.statement, "table", None), "name", None)
    if name not in WATCHED_TABLES:
        return None
    if state.is_insert:
        raise TypeError(f"sf_facts: add {name} rows as ORM objects so their facts are kept")
    model = next(m for m in WATCHED if m.__tablename__ == name)
    where = state.statement.whereclause
    rows = state.session.execute(select(model).where(where) if where is not None else select(model))
    t: dict[str, set[str]] = {"episode": set(), "person": set(), "plan": set(), "review": set()}
    for o in rows.scalars():
        _note_row(t, o)
    result = state.invoke_statement()
    _recompute(state.session.connection(), t)
    return result


def _recompute(conn: Connection, t: dict[str, set[str]]) -> None:
    """Recompute the touched episodes and every episode sharing a family member with them."""
    ids = set(t["episode"])
    if t["plan"]:
        ids |= set(conn.scalars(select(Plan.episode_id).where(Plan.id.in_(sorted(t["plan"])))))
    if t["review"]:
        ids |= set(conn.scalars(select(Review.episode_id).where(Review.id.in_(sorted(t["review"])))))
    if not ids:
        return
    persons = sorted(t["person"])
    for i in range(0, len(persons), 500):
        ids |= set(
            conn.scalars(
                select(EpisodeFamilyMember.episode_id).where(
                    EpisodeFamilyMember.person_id.in_(persons[i : i + 500])
                )
            )
        )
    mine, theirs = aliased(EpisodeFamilyMember), aliased(EpisodeFamilyMember)
    family = select(theirs.episode_id).join(mine, mine.person_id == theirs.person_id)
    base = sorted(ids)
    for i in range(0, len(base), 500):
        ids |= set(conn.scalars(family.where(mine.episode_id.in_(base[i : i + 500]))))
    refresh(conn, ids)
