"""sf_headline: each (episode, headline)'s Supporting Families facts, kept for fast reports

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Issue 21 items 1 and 6. A new table, kept by `services/assessments/sf_facts.py` whenever needs,
family members, plans, reviews and closures are written; filled here from the data already
stored (`sf_facts.backfill`), so the reports read the same figures as before. Nothing existing
changes; downgrade drops the table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'sf_headline',
        sa.Column('episode_id', sa.String(length=36), nullable=False),
        sa.Column('headline', sa.String(length=60), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('at_start', sa.Integer(), nullable=False),
        sa.Column('from_needs', sa.Integer(), nullable=False),
        sa.Column('from_plan', sa.Integer(), nullable=False),
        sa.Column('met_on', sa.Date(), nullable=True),
        sa.Column('re_referral_after_on', sa.Date(), nullable=True),
        sa.Column('review_below_after_on', sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(['episode_id'], ['episode.id'], name=op.f('fk_sf_headline_episode_id_episode')),
        sa.PrimaryKeyConstraint('episode_id', 'headline', name=op.f('pk_sf_headline')),
    )
    op.create_index('ix_sf_headline_opened_at', 'sf_headline', ['opened_at', 'episode_id'], unique=False)
    from services.assessments.sf_facts import backfill  # the rule's SQL, as the service keeps it

    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index('ix_sf_headline_opened_at', table_name='sf_headline')
    op.drop_table('sf_headline')
