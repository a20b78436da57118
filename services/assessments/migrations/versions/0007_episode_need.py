"""episode_need: the needs an episode's referral named, for Supporting Families

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

Issue 21 item 1. A new table, filled from the `referral.decided` event's `needs` (added to the
event by the same issue). Episodes stored before this revision have no rows: their needs read
as "not recorded" (their headlines at the start come from their first plan only). An index on
`episode_family_member.person_id` finds a family member's other episodes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'episode_need',
        sa.Column('episode_id', sa.String(length=36), nullable=False),
        sa.Column('need', sa.String(length=60), nullable=False),
        sa.Column('headline', sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(['episode_id'], ['episode.id'], name=op.f('fk_episode_need_episode_id_episode')),
        sa.PrimaryKeyConstraint('episode_id', 'need', name=op.f('pk_episode_need')),
    )
    op.create_index('ix_episode_need_headline', 'episode_need', ['headline', 'episode_id'], unique=False)
    op.create_index(
        'ix_episode_family_member_person_id', 'episode_family_member', ['person_id', 'episode_id'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_episode_family_member_person_id', table_name='episode_family_member')
    op.drop_index('ix_episode_need_headline', table_name='episode_need')
    op.drop_table('episode_need')
