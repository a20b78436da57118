"""episode_review_fact: per-episode review facts the reports read

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Issue 21 item 6. A new table, one row per episode with a review: how many, the first and last
review days, and whether the latest three show no movement in outcome scores; and an index of
each episode's reviews in their order (held_on, created_at, id). Kept from now on
by the rule that records a review; filled here from the reviews already stored, by the SQL
below (frozen here: it must not change with the service's code; PostgreSQL and SQLite alike).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Reviews newest first (held_on, created_at, id); "improved": an outcome scored in the latest
# three whose latest score there is higher than its earliest.
BACKFILL = """
INSERT INTO episode_review_fact (episode_id, reviews, first_review_on, last_review_on, no_movement)
WITH ranked AS (
    SELECT r.id, r.episode_id, r.held_on,
           row_number() OVER (PARTITION BY r.episode_id
                              ORDER BY r.held_on DESC, r.created_at DESC, r.id DESC) AS rn,
           count(*) OVER (PARTITION BY r.episode_id) AS reviews,
           min(r.held_on) OVER (PARTITION BY r.episode_id) AS first_review_on
    FROM review r
),
scored AS (
    SELECT k.episode_id,
           first_value(s.score) OVER (PARTITION BY k.episode_id, s.outcome_id ORDER BY k.rn ASC) AS latest,
           first_value(s.score) OVER (PARTITION BY k.episode_id, s.outcome_id ORDER BY k.rn DESC) AS earliest
    FROM ranked k JOIN review_score s ON s.review_id = k.id
    WHERE k.rn <= 3
),
improved AS (SELECT DISTINCT episode_id FROM scored WHERE latest > earliest)
SELECT k.episode_id, k.reviews, k.first_review_on, k.held_on,
       CASE WHEN k.reviews >= 3 AND k.episode_id NOT IN (SELECT episode_id FROM improved)
            THEN TRUE ELSE FALSE END
FROM ranked k
WHERE k.rn = 1
"""


def upgrade() -> None:
    op.create_table(
        'episode_review_fact',
        sa.Column('episode_id', sa.String(length=36), nullable=False),
        sa.Column('reviews', sa.Integer(), nullable=False),
        sa.Column('first_review_on', sa.Date(), nullable=False),
        sa.Column('last_review_on', sa.Date(), nullable=False),
        sa.Column('no_movement', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ['episode_id'], ['episode.id'], name=op.f('fk_episode_review_fact_episode_id_episode')
        ),
        sa.PrimaryKeyConstraint('episode_id', name=op.f('pk_episode_review_fact')),
    )
    op.execute(BACKFILL)
    # An episode's reviews in their order: the review cadence's gaps read in index order.
    op.create_index(
        'ix_review_episode_order', 'review', ['episode_id', 'held_on', 'created_at', 'id'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_review_episode_order', table_name='review')
    op.drop_table('episode_review_fact')
