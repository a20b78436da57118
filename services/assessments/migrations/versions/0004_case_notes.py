"""case notes and their versions; the contacts' list index

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Issue 20, item 1. New tables only, and one index on an existing table, so every row written
before this migration stays readable:
- case_note: the current version of each case note on an episode, with its author
  (practitioner when named, agency, client) and `restricted` (early help and the MASH only);
- case_note_version: every version of a note (the first included), who recorded it, when and
  why: an amendment is never a silent edit;
- ix_contact_episode_contact_at: an episode's contacts newest first (`GET .../contacts`, the
  chronology) in one index range scan.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'case_note',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('episode_id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('restricted', sa.Boolean(), nullable=False),
        sa.Column('author_practitioner_id', sa.String(length=120), nullable=True),
        sa.Column('author_agency_id', sa.String(length=120), nullable=False),
        sa.Column('author_client_id', sa.String(length=120), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('amended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['episode_id'], ['episode.id'], name=op.f('fk_case_note_episode_id_episode')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_note')),
    )
    with op.batch_alter_table('case_note', schema=None) as batch_op:
        batch_op.create_index('ix_case_note_episode_occurred', ['episode_id', 'occurred_at', 'id'], unique=False)

    op.create_table(
        'case_note_version',
        sa.Column('note_id', sa.String(length=36), nullable=False),
        sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('restricted', sa.Boolean(), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recorded_by_practitioner_id', sa.String(length=120), nullable=True),
        sa.Column('recorded_by_agency_id', sa.String(length=120), nullable=False),
        sa.Column('recorded_by_client_id', sa.String(length=120), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ['note_id'], ['case_note.id'], name=op.f('fk_case_note_version_note_id_case_note')
        ),
        sa.PrimaryKeyConstraint('note_id', 'version', name=op.f('pk_case_note_version')),
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index('ix_contact_episode_contact_at', ['episode_id', 'contact_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_episode_contact_at')
    op.drop_table('case_note_version')
    with op.batch_alter_table('case_note', schema=None) as batch_op:
        batch_op.drop_index('ix_case_note_episode_occurred')
    op.drop_table('case_note')
