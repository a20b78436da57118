"""households, relationships, addresses and corrections of the person index

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Issue 20 (households and relationships). Three new tables and two new `person` columns
(`upn` nullable, `version` with a server default), so every row stored before reads as it
did. No backfill: adults named on stored referrals already are people in the index (they
always were); relationships and addresses start with the referrals received from now on (a
stored referral's free-text `relationship` and address stay on the referral, as before).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('person_address',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('line1', sa.String(length=200), nullable=False),
    sa.Column('town', sa.String(length=100), nullable=True),
    sa.Column('postcode', sa.String(length=8), nullable=False),
    sa.Column('address_key', sa.String(length=220), nullable=False),
    sa.Column('from_on', sa.Date(), nullable=False),
    sa.Column('to_on', sa.Date(), nullable=True),
    sa.Column('referral_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_person_address_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person_address'))
    )
    with op.batch_alter_table('person_address', schema=None) as batch_op:
        batch_op.create_index('ix_person_address_key_to_on', ['address_key', 'to_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_person_address_person_id'), ['person_id'], unique=False)

    op.create_table('person_correction',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=False),
    sa.Column('corrected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('corrected_by_practitioner_id', sa.String(length=120), nullable=True),
    sa.Column('corrected_by_client_id', sa.String(length=120), nullable=False),
    sa.Column('corrected_by_agency_id', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_person_correction_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person_correction'))
    )
    with op.batch_alter_table('person_correction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_correction_person_id'), ['person_id'], unique=False)

    op.create_table('person_relationship',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('from_person_id', sa.String(length=36), nullable=False),
    sa.Column('to_person_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('from_on', sa.Date(), nullable=True),
    sa.Column('to_on', sa.Date(), nullable=True),
    sa.Column('referral_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_client_id', sa.String(length=120), nullable=False),
    sa.Column('created_by_agency_id', sa.String(length=120), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by_client_id', sa.String(length=120), nullable=True),
    sa.Column('end_reason', sa.String(length=2000), nullable=True),
    sa.ForeignKeyConstraint(['from_person_id'], ['person.id'], name=op.f('fk_person_relationship_from_person_id_person')),
    sa.ForeignKeyConstraint(['to_person_id'], ['person.id'], name=op.f('fk_person_relationship_to_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person_relationship'))
    )
    with op.batch_alter_table('person_relationship', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_relationship_from_person_id'), ['from_person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_person_relationship_to_person_id'), ['to_person_id'], unique=False)

    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('upn', sa.String(length=13), nullable=True))
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('version')
        batch_op.drop_column('upn')

    with op.batch_alter_table('person_relationship', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_relationship_to_person_id'))
        batch_op.drop_index(batch_op.f('ix_person_relationship_from_person_id'))

    op.drop_table('person_relationship')
    with op.batch_alter_table('person_correction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_correction_person_id'))

    op.drop_table('person_correction')
    with op.batch_alter_table('person_address', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_address_person_id'))
        batch_op.drop_index('ix_person_address_key_to_on')

    op.drop_table('person_address')
