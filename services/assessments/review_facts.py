"""Per-episode review facts (issue 21 item 6): what the drift list and the review cadence read
of an episode's reviews, kept in `episode_review_fact` by the rule that records a review, in
its transaction (plans.hold_review), with the months between each review and the one before
(`episode_review_gap`, which the review cadence counts). Recomputed from the episode's reviews each time - a
handful of rows - so a review recorded with an earlier `held_on` than the latest still lands
in its place. Migration 0009 filled the table for reviews stored before it, by SQL of its own
that gives the same answer (services/assessments/tests/test_review_facts.py checks both)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from services.assessments import repository as repo
from services.assessments.insight_repository import DRIFT_REVIEWS
from services.assessments.models import EpisodeReviewFact, EpisodeReviewGap


@dataclass(frozen=True)
class HeldReview:
    held_on: date
    created_at: datetime
    id: str
    scores: Sequence[tuple[str, int]]  # (outcome id, score)


def no_movement(reviews: Sequence[HeldReview]) -> bool:
    """`reviews` oldest first: three or more, and no outcome scored in the latest three has a
    higher score at its latest scoring there than at its earliest (three reviews without
    scores are no movement too)."""
    if len(reviews) < DRIFT_REVIEWS:
        return False
    earliest: dict[str, int] = {}
    latest: dict[str, int] = {}
    for review in reviews[-DRIFT_REVIEWS:]:
        for outcome_id, score in review.scores:
            earliest.setdefault(outcome_id, score)
            latest[outcome_id] = score
    return not any(latest[o] > earliest[o] for o in latest)


def months_needed(earlier: date, later: date) -> int:
    """The fewest calendar months after `earlier` that reach `later` (`later` on or before
    `earlier` + that many months, the day clamped to the month's end: Nov 30 + 3 months is Feb
    28): within an interval of N months exactly when this is N or fewer."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months if later.day <= earlier.day else months + 1


def review_gaps(days: Sequence[date]) -> dict[int, int]:
    """`days` oldest first: how many reviews after the first needed each number of months."""
    gaps: dict[int, int] = {}
    for earlier, later in pairwise(days):
        months = months_needed(earlier, later)
        gaps[months] = gaps.get(months, 0) + 1
    return gaps


async def refresh(session: AsyncSession, episode_id: str) -> None:
    """Recompute the episode's row from its reviews (flushed ones included)."""
    rows = await repo.reviews_of(session, episode_id)
    if not rows:
        return
    scores = await repo.scores_of(session, [r.id for r in rows])
    reviews = sorted(
        (HeldReview(r.held_on, r.created_at, r.id, scores[r.id]) for r in rows),
        key=lambda r: (r.held_on, r.created_at, r.id),
    )
    fact = await session.get(EpisodeReviewFact, episode_id)
    if fact is None:
        fact = EpisodeReviewFact(episode_id=episode_id)
        session.add(fact)
    fact.reviews = len(reviews)
    fact.first_review_on = reviews[0].held_on
    fact.last_review_on = reviews[-1].held_on
    fact.no_movement = no_movement(reviews)
    await session.execute(delete(EpisodeReviewGap).where(EpisodeReviewGap.episode_id == episode_id))
    session.add_all(
        EpisodeReviewGap(episode_id=episode_id, months=months, reviews=count)
        for months, count in review_gaps([r.held_on for r in reviews]).items()
    )
    await session.flush()
