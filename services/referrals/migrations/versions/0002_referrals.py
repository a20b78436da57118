"""person index, referrals, matches, merges, episode projection

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Indexes that keep a match lookup an index range scan at a million people: nhs_number;
(family_key, date_of_birth); (date_of_birth, postcode); (postcode, family_key).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('episode',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('reference', sa.String(length=20), nullable=True),
    sa.Column('referral_id', sa.String(length=36), nullable=True),
    sa.Column('origin', sa.String(length=20), nullable=True),
    sa.Column('level_of_need', sa.String(length=20), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('close_reason', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_episode'))
    )
    with op.batch_alter_table('episode', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_episode_referral_id'), ['referral_id'], unique=False)

    op.create_table('person',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('given_name', sa.String(length=100), nullable=True),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('given_name_norm', sa.String(length=100), nullable=False),
    sa.Column('family_name_norm', sa.String(length=100), nullable=False),
    sa.Column('given_key', sa.String(length=20), nullable=False),
    sa.Column('family_key', sa.String(length=20), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('unborn_expected_on', sa.Date(), nullable=True),
    sa.Column('nhs_number', sa.String(length=10), nullable=True),
    sa.Column('postcode', sa.String(length=8), nullable=True),
    sa.Column('gender', sa.String(length=20), nullable=True),
    sa.Column('merged_into_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merged_into_id'], ['person.id'], name=op.f('fk_person_merged_into_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person'))
    )
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.create_index('ix_person_dob_postcode', ['date_of_birth', 'postcode'], unique=False)
        batch_op.create_index('ix_person_family_key_dob', ['family_key', 'date_of_birth'], unique=False)
        batch_op.create_index('ix_person_merged_into_id', ['merged_into_id'], unique=False)
        batch_op.create_index('ix_person_nhs_number', ['nhs_number'], unique=False)
        batch_op.create_index('ix_person_postcode_family_key', ['postcode', 'family_key'], unique=False)

    op.create_table('reference_counter',
    sa.Column('name', sa.String(length=20), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_reference_counter'))
    )
    op.create_table('referral',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('reference', sa.String(length=20), nullable=False),
    sa.Column('referral_type', sa.String(length=30), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('significant_harm_suspected', sa.Boolean(), nullable=False),
    sa.Column('source_agency_id', sa.String(length=120), nullable=False),
    sa.Column('source_agency_type', sa.String(length=40), nullable=False),
    sa.Column('source_client_id', sa.String(length=120), nullable=False),
    sa.Column('source_code', sa.String(length=4), nullable=False),
    sa.Column('referrer', sa.JSON(), nullable=False),
    sa.Column('address', sa.JSON(), nullable=True),
    sa.Column('postcode', sa.String(length=8), nullable=True),
    sa.Column('needs', sa.JSON(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('consent', sa.JSON(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decision_due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('linked_referral_id', sa.String(length=36), nullable=True),
    sa.Column('open_episode_id', sa.String(length=36), nullable=True),
    sa.Column('episode_id', sa.String(length=36), nullable=True),
    sa.Column('level_of_need', sa.String(length=20), nullable=True),
    sa.Column('outcome', sa.String(length=30), nullable=True),
    sa.Column('rag', sa.String(length=5), nullable=True),
    sa.Column('rationale', sa.Text(), nullable=True),
    sa.Column('decided_by', sa.JSON(), nullable=True),
    sa.Column('agency_checks', sa.JSON(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_client_id', sa.String(length=120), nullable=True),
    sa.Column('decided_within_timescale', sa.Boolean(), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawal_reason', sa.String(length=2000), nullable=True),
    sa.Column('step_up_id', sa.String(length=36), nullable=True),
    sa.Column('step_up_episode_id', sa.String(length=36), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['linked_referral_id'], ['referral.id'], name=op.f('fk_referral_linked_referral_id_referral')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral')),
    sa.UniqueConstraint('reference', name=op.f('uq_referral_reference')),
    sa.UniqueConstraint('step_up_id', name=op.f('uq_referral_step_up_id'))
    )
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.create_index('ix_referral_received_at', ['received_at', 'id'], unique=False)
        batch_op.create_index('ix_referral_source_agency_received', ['source_agency_id', 'received_at'], unique=False)
        batch_op.create_index('ix_referral_status_received', ['status', 'received_at'], unique=False)
        batch_op.create_index('ix_referral_report', ['received_at'], unique=False, postgresql_include=['source_code', 'status', 'outcome', 'urgent', 'decided_within_timescale', 'episode_id'])

    op.create_table('episode_person',
    sa.Column('episode_id', sa.String(length=36), nullable=False),
    sa.Column('original_person_id', sa.String(length=36), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['episode_id'], ['episode.id'], name=op.f('fk_episode_person_episode_id_episode')),
    sa.PrimaryKeyConstraint('episode_id', 'original_person_id', name=op.f('pk_episode_person'))
    )
    with op.batch_alter_table('episode_person', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_episode_person_person_id'), ['person_id'], unique=False)

    op.create_table('person_merge',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('merged_person_id', sa.String(length=36), nullable=False),
    sa.Column('into_person_id', sa.String(length=36), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=True),
    sa.Column('referral_id', sa.String(length=36), nullable=True),
    sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('merged_by_client_id', sa.String(length=120), nullable=False),
    sa.Column('merged_by_agency_id', sa.String(length=120), nullable=False),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undone_by_client_id', sa.String(length=120), nullable=True),
    sa.ForeignKeyConstraint(['into_person_id'], ['person.id'], name=op.f('fk_person_merge_into_person_id_person')),
    sa.ForeignKeyConstraint(['merged_person_id'], ['person.id'], name=op.f('fk_person_merge_merged_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person_merge'))
    )
    with op.batch_alter_table('person_merge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_merge_into_person_id'), ['into_person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_person_merge_merged_person_id'), ['merged_person_id'], unique=False)

    op.create_table('referral_match',
    sa.Column('referral_id', sa.String(length=36), nullable=False),
    sa.Column('candidate_person_id', sa.String(length=36), nullable=False),
    sa.Column('subject_person_id', sa.String(length=36), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_client_id', sa.String(length=120), nullable=True),
    sa.Column('merge_id', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['candidate_person_id'], ['person.id'], name=op.f('fk_referral_match_candidate_person_id_person')),
    sa.ForeignKeyConstraint(['referral_id'], ['referral.id'], name=op.f('fk_referral_match_referral_id_referral')),
    sa.ForeignKeyConstraint(['subject_person_id'], ['person.id'], name=op.f('fk_referral_match_subject_person_id_person')),
    sa.PrimaryKeyConstraint('referral_id', 'candidate_person_id', name=op.f('pk_referral_match'))
    )
    with op.batch_alter_table('referral_match', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_match_merge_id'), ['merge_id'], unique=False)

    op.create_table('referral_person',
    sa.Column('referral_id', sa.String(length=36), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('original_person_id', sa.String(length=36), nullable=False),
    sa.Column('match', sa.String(length=10), nullable=False),
    sa.Column('given_name', sa.String(length=100), nullable=True),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('unborn_expected_on', sa.Date(), nullable=True),
    sa.Column('gender', sa.String(length=20), nullable=True),
    sa.Column('nhs_number', sa.String(length=10), nullable=True),
    sa.Column('upn', sa.String(length=13), nullable=True),
    sa.Column('relationship', sa.String(length=60), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source_code', sa.String(length=4), nullable=False),
    sa.Column('from_step_up', sa.Boolean(), nullable=False),
    sa.Column('level_of_need', sa.String(length=20), nullable=True),
    sa.Column('outcome', sa.String(length=30), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['original_person_id'], ['person.id'], name=op.f('fk_referral_person_original_person_id_person')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_referral_person_person_id_person')),
    sa.ForeignKeyConstraint(['referral_id'], ['referral.id'], name=op.f('fk_referral_person_referral_id_referral')),
    sa.PrimaryKeyConstraint('referral_id', 'role', 'position', name=op.f('pk_referral_person'))
    )
    with op.batch_alter_table('referral_person', schema=None) as batch_op:
        batch_op.create_index('ix_referral_person_original_person_id', ['original_person_id'], unique=False)
        batch_op.create_index('ix_referral_person_person_received', ['person_id', 'received_at'], unique=False)
        batch_op.create_index('ix_referral_person_report', ['received_at'], unique=False, postgresql_include=['person_id', 'role', 'source_code', 'outcome', 'level_of_need', 'from_step_up', 'decided_at'])



def downgrade() -> None:
    with op.batch_alter_table('referral_person', schema=None) as batch_op:
        batch_op.drop_index('ix_referral_person_person_received')
        batch_op.drop_index('ix_referral_person_report')
        batch_op.drop_index('ix_referral_person_original_person_id')

    op.drop_table('referral_person')
    with op.batch_alter_table('referral_match', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_match_merge_id'))

    op.drop_table('referral_match')
    with op.batch_alter_table('person_merge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_merge_merged_person_id'))
        batch_op.drop_index(batch_op.f('ix_person_merge_into_person_id'))

    op.drop_table('person_merge')
    with op.batch_alter_table('episode_person', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_episode_person_person_id'))

    op.drop_table('episode_person')
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.drop_index('ix_referral_status_received')
        batch_op.drop_index('ix_referral_report')
        batch_op.drop_index('ix_referral_source_agency_received')
        batch_op.drop_index('ix_referral_received_at')

    op.drop_table('referral')
    op.drop_table('reference_counter')
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_index('ix_person_postcode_family_key')
        batch_op.drop_index('ix_person_nhs_number')
        batch_op.drop_index('ix_person_merged_into_id')
        batch_op.drop_index('ix_person_family_key_dob')
        batch_op.drop_index('ix_person_dob_postcode')

    op.drop_table('person')
    with op.batch_alter_table('episode', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_episode_referral_id'))

    op.drop_table('episode')
