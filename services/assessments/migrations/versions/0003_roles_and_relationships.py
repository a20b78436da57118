"""roles and relationships: practitioners on leads, TAF members, authors, actions, closures

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Issue 18: who may do what depends on the practitioner as well as the agency. Every new column
is nullable or has a server default, so rows written before this migration stay readable:
- lead_professional.practitioner_id, .manager_delegates (false): "I am the lead professional",
  and whether an early help manager lets the lead manage the TAF, the plan and step-up;
- taf_member.practitioner_id, .family_agreed (false): the member practitioner, and whether the
  family agreed to the agency joining (the consent service's TAF-wide consent needs it for an
  agency that joined after the consent was given);
- assessment.author_practitioner_id, .author_client_id: no one approves their own assessment;
  plus an index for the managers' worklist of submitted assessments;
- episode.signed_off_by_practitioner_id, .signed_off_by_client_id: the closure's sign-off;
- plan_action.owner_practitioner_id: an action's owner updates only their own actions;
- pending_disclosure.practitioner_id: the disclosure log names the practitioner who read.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('lead_professional', schema=None) as batch_op:
        batch_op.add_column(sa.Column('practitioner_id', sa.String(length=120), nullable=True))
        batch_op.add_column(
            sa.Column('manager_delegates', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            batch_op.f('ix_lead_professional_practitioner_id'), ['practitioner_id'], unique=False
        )
    with op.batch_alter_table('taf_member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('practitioner_id', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('family_agreed', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_taf_member_practitioner_id'), ['practitioner_id'], unique=False)
    with op.batch_alter_table('assessment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('author_practitioner_id', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('author_client_id', sa.String(length=120), nullable=True))
        batch_op.create_index('ix_assessment_status_submitted_at', ['status', 'submitted_at'], unique=False)
    with op.batch_alter_table('episode', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signed_off_by_practitioner_id', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('signed_off_by_client_id', sa.String(length=120), nullable=True))
    with op.batch_alter_table('plan_action', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner_practitioner_id', sa.String(length=120), nullable=True))
    with op.batch_alter_table('pending_disclosure', schema=None) as batch_op:
        batch_op.add_column(sa.Column('practitioner_id', sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pending_disclosure', schema=None) as batch_op:
        batch_op.drop_column('practitioner_id')
    with op.batch_alter_table('plan_action', schema=None) as batch_op:
        batch_op.drop_column('owner_practitioner_id')
    with op.batch_alter_table('episode', schema=None) as batch_op:
        batch_op.drop_column('signed_off_by_client_id')
        batch_op.drop_column('signed_off_by_practitioner_id')
    with op.batch_alter_table('assessment', schema=None) as batch_op:
        batch_op.drop_index('ix_assessment_status_submitted_at')
        batch_op.drop_column('author_client_id')
        batch_op.drop_column('author_practitioner_id')
    with op.batch_alter_table('taf_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_taf_member_practitioner_id'))
        batch_op.drop_column('family_agreed')
        batch_op.drop_column('practitioner_id')
    with op.batch_alter_table('lead_professional', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_professional_practitioner_id'))
        batch_op.drop_column('manager_delegates')
        batch_op.drop_column('practitioner_id')
