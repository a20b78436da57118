"""episode family members: the children and adults an episode names

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Issue 20 (households and relationships). A new table; `episode_person` (the children,
`person_ids`) is unchanged. Every episode stored before gets its children as family members
(role `child`, added when the episode opened), so its family reads as its `person_ids` did;
the adults of an episode opened before this migration are not known here (the referral's
adults never reached this service): its managers add them with `PUT .../family-members`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'episode_family_member',
        sa.Column('episode_id', sa.String(length=36), nullable=False),
        sa.Column('person_id', sa.String(length=36), nullable=False),
        sa.Column('role', sa.String(length=10), nullable=False),
        sa.Column('relationship', sa.String(length=20), nullable=True),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['episode_id'], ['episode.id'], name=op.f('fk_episode_family_member_episode_id_episode')
        ),
        sa.PrimaryKeyConstraint('episode_id', 'person_id', name=op.f('pk_episode_family_member')),
    )
    op.execute(
        "INSERT INTO episode_family_member (episode_id, person_id, role, relationship, added_at) "
        "SELECT ep.episode_id, ep.person_id, 'child', NULL, e.opened_at "
        "FROM episode_person ep JOIN episode e ON e.id = ep.episode_id"
    )


def downgrade() -> None:
    op.drop_table('episode_family_member')
