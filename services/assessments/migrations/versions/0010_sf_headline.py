"""sf_headline, sf_evidence: the Supporting Families facts, kept for fast reports

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

Issue 21 items 1 and 6. Two new tables (each (episode, headline)'s facts; each piece of
evidence that a headline was met), kept by `services/assessments/sf_facts.py` whenever needs,
family members, plans, reviews and closures are written, and filled here from the data already
stored, so the reports read the same figures as before. Nothing existing changes; downgrade
drops the table.

The fill is frozen here as SQL (the rule as it stood at this revision, the same statement as
`sf_facts.facts` over every episode): a migration never imports service code, which may change
later. It deletes first, so running it again gives the same rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A plan outcome's target read as a score (0-10, `7` or `7/10`); any other target is NULL.
_TARGET = (
    "CASE replace(trim(plan_outcome.target), ' ', '') "
    + " ".join(f"WHEN '{n}' THEN {n} WHEN '{n}/10' THEN {n}" for n in range(11))
    + " END"
)

# Every review score with its outcome's headline and target in the episode's current (latest)
# plan version; outcomes with no score target are left out.
_SCORED = """
    SELECT review.episode_id, cur.headline, review.id AS review_id, review_score.outcome_id,
           review.held_on, review_score.score, cur.target AS target_score
    FROM review
    JOIN review_score ON review_score.review_id = review.id
    JOIN (
        SELECT "plan".episode_id, plan_outcome.outcome_id, plan_outcome.headline, {target} AS target
        FROM "plan"
        JOIN (SELECT episode_id, max(version) AS version FROM "plan" GROUP BY episode_id) AS latest
            ON latest.episode_id = "plan".episode_id AND latest.version = "plan".version
        JOIN plan_outcome ON plan_outcome.plan_id = "plan".id
    ) AS cur ON cur.episode_id = review.episode_id AND cur.outcome_id = review_score.outcome_id
    WHERE cur.target IS NOT NULL
"""

_FILL = """
WITH sf_start AS (
    SELECT episode_id, headline, max(from_needs) AS from_needs, max(from_plan) AS from_plan
    FROM (
        SELECT episode_id, headline, 1 AS from_needs, 0 AS from_plan FROM episode_need
        UNION ALL
        SELECT "plan".episode_id, plan_outcome.headline, 0, 1
        FROM "plan" JOIN plan_outcome ON plan_outcome.plan_id = "plan".id
        WHERE "plan".version = 1
    ) AS start_u
    GROUP BY episode_id, headline
),
sf_scored AS ({scored}),
sf_met AS (
    SELECT episode_id, headline, min(met) AS met_on
    FROM (
        SELECT closure_outcome.episode_id, closure_outcome.headline, {closed_day} AS met
        FROM closure_outcome JOIN episode ON episode.id = closure_outcome.episode_id
        WHERE episode.closed_at IS NOT NULL
        UNION ALL
        SELECT episode_id, headline, held_on FROM sf_scored WHERE score >= target_score
    ) AS met_u
    GROUP BY episode_id, headline
)
INSERT INTO sf_headline (episode_id, headline, opened_at, at_start, from_needs, from_plan, met_on,
                         re_referral_after_on, review_below_after_on)
SELECT keys.episode_id, keys.headline, episode.opened_at,
       CASE WHEN sf_start.episode_id IS NOT NULL THEN 1 ELSE 0 END,
       coalesce(sf_start.from_needs, 0), coalesce(sf_start.from_plan, 0),
       sf_met.met_on, rereferral.first_on, below.first_on
FROM (SELECT episode_id, headline FROM sf_start UNION SELECT episode_id, headline FROM sf_met) AS keys
JOIN episode ON episode.id = keys.episode_id
LEFT JOIN sf_start ON sf_start.episode_id = keys.episode_id AND sf_start.headline = keys.headline
LEFT JOIN sf_met ON sf_met.episode_id = keys.episode_id AND sf_met.headline = keys.headline
LEFT JOIN (
    SELECT sf_met.episode_id, sf_met.headline, min({other_day}) AS first_on
    FROM sf_met
    JOIN episode_family_member AS mine ON mine.episode_id = sf_met.episode_id
    JOIN episode_family_member AS theirs
        ON theirs.person_id = mine.person_id AND theirs.episode_id != mine.episode_id
    JOIN episode AS other ON other.id = theirs.episode_id
    JOIN episode_need AS need ON need.episode_id = other.id AND need.headline = sf_met.headline
    WHERE {other_day} > sf_met.met_on
    GROUP BY sf_met.episode_id, sf_met.headline
) AS rereferral ON rereferral.episode_id = keys.episode_id AND rereferral.headline = keys.headline
LEFT JOIN (
    SELECT sf_met.episode_id, sf_met.headline, min(sf_scored.held_on) AS first_on
    FROM sf_met
    JOIN sf_scored ON sf_scored.episode_id = sf_met.episode_id AND sf_scored.headline = sf_met.headline
        AND sf_scored.score < sf_scored.target_score AND sf_scored.held_on > sf_met.met_on
    GROUP BY sf_met.episode_id, sf_met.headline
) AS below ON below.episode_id = keys.episode_id AND below.headline = keys.headline
"""

_FILL_EVIDENCE = """
INSERT INTO sf_evidence (episode_id, headline, kind, review_id, outcome_id, evidenced_on, score, target_score)
SELECT closure_outcome.episode_id, closure_outcome.headline, 'closure_outcome', '', closure_outcome.outcome_id,
       {closed_day}, NULL, NULL
FROM closure_outcome JOIN episode ON episode.id = closure_outcome.episode_id
WHERE episode.closed_at IS NOT NULL
UNION ALL
SELECT episode_id, headline, 'review', review_id, outcome_id, held_on, score, target_score
FROM ({scored}) AS sf_scored
WHERE score >= target_score
"""


def _utc_day(column: str, dialect: str) -> str:
    """A timestamp's UTC day (SQLite stores them as UTC text)."""
    return f"date({column})" if dialect == "sqlite" else f"CAST(({column} AT TIME ZONE 'UTC') AS DATE)"


def fill(bind: sa.engine.Connection) -> None:
    """Every episode's rows, from the data stored (idempotent: deletes, then inserts)."""
    name = bind.dialect.name
    closed_day = _utc_day("episode.closed_at", name)
    bind.execute(sa.text("DELETE FROM sf_headline"))
    bind.execute(sa.text("DELETE FROM sf_evidence"))
    other_day = _utc_day("other.opened_at", name)
    scored = _SCORED.format(target=_TARGET)
    bind.execute(sa.text(_FILL.format(scored=scored, closed_day=closed_day, other_day=other_day)))
    bind.execute(sa.text(_FILL_EVIDENCE.format(scored=scored, closed_day=closed_day)))


def upgrade() -> None:
    op.create_table(
        "sf_headline",
        sa.Column("episode_id", sa.String(length=36), nullable=False),
        sa.Column("headline", sa.String(length=60), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("at_start", sa.Integer(), nullable=False),
        sa.Column("from_needs", sa.Integer(), nullable=False),
        sa.Column("from_plan", sa.Integer(), nullable=False),
        sa.Column("met_on", sa.Date(), nullable=True),
        sa.Column("re_referral_after_on", sa.Date(), nullable=True),
        sa.Column("review_below_after_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episode.id"], name=op.f("fk_sf_headline_episode_id_episode")
        ),
        sa.PrimaryKeyConstraint("episode_id", "headline", name=op.f("pk_sf_headline")),
    )
    op.create_index("ix_sf_headline_opened_at", "sf_headline", ["opened_at", "episode_id"], unique=False)
    op.create_index("ix_sf_headline_met_on", "sf_headline", ["met_on"], unique=False)
    op.create_table(
        "sf_evidence",
        sa.Column("episode_id", sa.String(length=36), nullable=False),
        sa.Column("headline", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("review_id", sa.String(length=36), nullable=False),
        sa.Column("outcome_id", sa.String(length=36), nullable=False),
        sa.Column("evidenced_on", sa.Date(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("target_score", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["episode_id"], ["episode.id"], name=op.f("fk_sf_evidence_episode_id_episode")),
        sa.PrimaryKeyConstraint(
            "episode_id", "headline", "kind", "review_id", "outcome_id", name=op.f("pk_sf_evidence")
        ),
    )
    fill(op.get_bind())


def downgrade() -> None:
    op.drop_table("sf_evidence")
    op.drop_index("ix_sf_headline_met_on", table_name="sf_headline")
    op.drop_index("ix_sf_headline_opened_at", table_name="sf_headline")
    op.drop_table("sf_headline")
