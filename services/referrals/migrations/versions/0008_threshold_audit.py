"""the threshold audit: samples of MASH decisions for blind second review

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Issue 21 item 2. Two new tables, and on `referral` a nullable `decided_by_practitioner_id`
(who decided, so the audit never gives a decision to its decider) and an index on the decision
time. Rows stored before read as they did: their decider is not known (null), so any other
MASH manager may review them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('threshold_audit',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('agency_id', sa.String(length=120), nullable=False),
    sa.Column('decided_from', sa.Date(), nullable=False),
    sa.Column('decided_to', sa.Date(), nullable=False),
    sa.Column('share', sa.Float(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('decisions', sa.Integer(), nullable=False),
    sa.Column('strata', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=160), nullable=False),
    sa.Column('created_by_client_id', sa.String(length=120), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_threshold_audit'))
    )
    with op.batch_alter_table('threshold_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_threshold_audit_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_threshold_audit_updated_at'), ['updated_at'], unique=False)

    op.create_table('threshold_audit_item',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('audit_id', sa.String(length=36), nullable=False),
    sa.Column('referral_id', sa.String(length=36), nullable=False),
    sa.Column('outcome', sa.String(length=30), nullable=False),
    sa.Column('level_of_need', sa.String(length=20), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=False),
    sa.Column('decided_month', sa.String(length=7), nullable=False),
    sa.Column('decided_by_practitioner_id', sa.String(length=120), nullable=True),
    sa.Column('reviewer_id', sa.String(length=120), nullable=True),
    sa.Column('review_level_of_need', sa.String(length=20), nullable=True),
    sa.Column('review_outcome', sa.String(length=30), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('agrees', sa.Boolean(), nullable=True),
    sa.Column('reason', sa.String(length=2000), nullable=True),
    sa.Column('agreement_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['audit_id'], ['threshold_audit.id'], name=op.f('fk_threshold_audit_item_audit_id_threshold_audit')),
    sa.ForeignKeyConstraint(['referral_id'], ['referral.id'], name=op.f('fk_threshold_audit_item_referral_id_referral')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_threshold_audit_item')),
    sa.UniqueConstraint('referral_id', name=op.f('uq_threshold_audit_item_referral_id'))
    )
    with op.batch_alter_table('threshold_audit_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_threshold_audit_item_audit_id'), ['audit_id'], unique=False)
        batch_op.create_index('ix_threshold_audit_item_report', ['decided_on'], unique=False, postgresql_include=['decided_month', 'level_of_need', 'outcome', 'review_level_of_need', 'review_outcome', 'reviewed_at', 'agrees'])
        batch_op.create_index(batch_op.f('ix_threshold_audit_item_updated_at'), ['updated_at'], unique=False)

    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decided_by_practitioner_id', sa.String(length=120), nullable=True))
        batch_op.create_index('ix_referral_decided_at_outcome', ['decided_at', 'outcome'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.drop_index('ix_referral_decided_at_outcome')
        batch_op.drop_column('decided_by_practitioner_id')

    with op.batch_alter_table('threshold_audit_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_threshold_audit_item_updated_at'))
        batch_op.drop_index('ix_threshold_audit_item_report', postgresql_include=['decided_month', 'level_of_need', 'outcome', 'review_level_of_need', 'review_outcome', 'reviewed_at', 'agrees'])
        batch_op.drop_index(batch_op.f('ix_threshold_audit_item_audit_id'))

    op.drop_table('threshold_audit_item')
    with op.batch_alter_table('threshold_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_threshold_audit_updated_at'))
        batch_op.drop_index(batch_op.f('ix_threshold_audit_agency_id'))

    op.drop_table('threshold_audit')
