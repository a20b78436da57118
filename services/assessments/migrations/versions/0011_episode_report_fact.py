"""episode_report_fact and episode_review_gap: more per-episode facts the episode report reads

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

Issue 21 item 6. Two new tables: `episode_report_fact`, one row per episode with an assessment
or a plan (its earliest assessment started and approved, its earliest plan version agreed, its
current plan version), and
`episode_review_gap`, the reviews after each episode's first counted by the calendar months
each came after the one before (the fewest months that reach it, the day clamped to the month's
end). Kept from now on by the rules that start and approve an assessment, agree a plan and
record a review; filled here from what is already stored, by the SQL below (frozen here: it
must not change with the service's code; PostgreSQL and SQLite alike).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORT_FACTS = """
INSERT INTO episode_report_fact
    (episode_id, first_assessment_started_at, first_assessment_approved_at, first_plan_agreed_at,
     current_plan_id)
SELECT e.id, a.started_at, a.approved_at, p.agreed_at,
       (SELECT c.id FROM plan c WHERE c.episode_id = e.id ORDER BY c.version DESC LIMIT 1)
FROM episode e
LEFT JOIN (SELECT episode_id, min(started_at) AS started_at, min(approved_at) AS approved_at
           FROM assessment GROUP BY episode_id) a ON a.episode_id = e.id
LEFT JOIN (SELECT episode_id, min(agreed_at) AS agreed_at FROM plan GROUP BY episode_id) p
       ON p.episode_id = e.id
WHERE a.episode_id IS NOT NULL OR p.episode_id IS NOT NULL
"""

# Each review with the one before it (held_on, created_at, id order); {year}, {month}, {day}:
# the dialect's parts of a date, as integers.
_REVIEW_GAPS = """
INSERT INTO episode_review_gap (episode_id, months, reviews)
WITH ordered AS (
    SELECT r.episode_id, r.held_on,
           lag(r.held_on) OVER (PARTITION BY r.episode_id
                                ORDER BY r.held_on, r.created_at, r.id) AS previous
    FROM review r
),
gaps AS (
    SELECT episode_id,
           ({year_later} - {year_before}) * 12 + {month_later} - {month_before}
           + CASE WHEN {day_later} <= {day_before} THEN 0 ELSE 1 END AS months
    FROM ordered
    WHERE previous IS NOT NULL
)
SELECT episode_id, months, count(*) FROM gaps GROUP BY episode_id, months
"""


def review_gaps_sql(dialect: str) -> str:
    def part(name: str, column: str) -> str:
        if dialect == "postgresql":
            return f"CAST(EXTRACT({name} FROM {column}) AS INTEGER)"
        return f"CAST(strftime('%{dict(year='Y', month='m', day='d')[name]}', {column}) AS INTEGER)"

    return _REVIEW_GAPS.format(
        **{
            f"{name}_{side}": part(name, column)
            for name in ("year", "month", "day")
            for side, column in (("later", "held_on"), ("before", "previous"))
        }
    )


def upgrade() -> None:
    op.create_table(
        'episode_report_fact',
        sa.Column('episode_id', sa.String(length=36), nullable=False),
        sa.Column('first_assessment_started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('first_assessment_approved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('first_plan_agreed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('current_plan_id', sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ['episode_id'], ['episode.id'], name=op.f('fk_episode_report_fact_episode_id_episode')
        ),
        sa.PrimaryKeyConstraint('episode_id', name=op.f('pk_episode_report_fact')),
    )
    op.create_table(
        'episode_review_gap',
        sa.Column('episode_id', sa.String(length=36), nullable=False),
        sa.Column('months', sa.Integer(), nullable=False),
        sa.Column('reviews', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['episode_id'], ['episode.id'], name=op.f('fk_episode_review_gap_episode_id_episode')
        ),
        sa.PrimaryKeyConstraint('episode_id', 'months', name=op.f('pk_episode_review_gap')),
    )
    op.execute(REPORT_FACTS)
    op.execute(review_gaps_sql(op.get_bind().dialect.name))


def downgrade() -> None:
    op.drop_table('episode_review_gap')
    op.drop_table('episode_report_fact')
