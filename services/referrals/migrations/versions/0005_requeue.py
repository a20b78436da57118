"""a linked referral re-queued for the MASH: when and why

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-10

Issue 20, item 5. Both columns are nullable: referrals stored before read as never re-queued.
The lookups of a link's followers (`linked_referral_id`, `open_episode_id`) get indexes, as
every episode closed and every decision now asks for them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requeued_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('requeue_reason', sa.String(length=40), nullable=True))
        batch_op.create_index('ix_referral_linked_referral', ['linked_referral_id', 'status'], unique=False)
        batch_op.create_index('ix_referral_open_episode', ['open_episode_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.drop_index('ix_referral_open_episode')
        batch_op.drop_index('ix_referral_linked_referral')
        batch_op.drop_column('requeue_reason')
        batch_op.drop_column('requeued_at')
