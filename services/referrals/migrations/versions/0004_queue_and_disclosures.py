"""the MASH queue (priority, assignment) and the disclosure log's pending rows

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Issue 18. Every new column is nullable or has a server default, so rows stored before this
migration read as they did: `priority` 0 until filled in here, nobody assigned. Only referrals
still awaiting a decision get a priority (the queue shows nothing else); the rule is
`policy.queue_priority`, repeated here so this migration never changes with the code.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Need codes tagged to the two safeguarding headlines (codes.NEED_CODES) when this was written.
SAFEGUARDING_NEEDS = {
    'neglect_concern', 'exploitation', 'going_missing', 'online_safety', 'domestic_abuse',
}


def _priority(urgent: bool, needs: list[str] | None) -> int:
    needs = needs or []
    return (100 if urgent else 0) + (10 if SAFEGUARDING_NEEDS & set(needs) else 0) + min(len(needs), 9)


def upgrade() -> None:
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('assigned_to', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('assigned_by', sa.String(length=160), nullable=True))
        batch_op.create_index('ix_referral_queue_due', ['status', 'decision_due_at', 'id'], unique=False)
        batch_op.create_index(
            'ix_referral_queue_priority', ['status', 'priority', 'decision_due_at', 'id'], unique=False
        )

    op.create_table(
        'referral_assignment',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('referral_id', sa.String(length=36), nullable=False),
        sa.Column('practitioner_id', sa.String(length=120), nullable=True),
        sa.Column('assigned_by', sa.String(length=160), nullable=False),
        sa.Column('assigned_by_client_id', sa.String(length=120), nullable=False),
        sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['referral_id'], ['referral.id'], name=op.f('fk_referral_assignment_referral_id_referral')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_assignment')),
    )
    with op.batch_alter_table('referral_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_assignment_referral_id'), ['referral_id'], unique=False)

    op.create_table(
        'pending_disclosure',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('person_id', sa.String(length=36), nullable=False),
        sa.Column('agency_id', sa.String(length=120), nullable=False),
        sa.Column('practitioner_id', sa.String(length=120), nullable=True),
        sa.Column('resource_type', sa.String(length=30), nullable=False),
        sa.Column('resource_id', sa.String(length=64), nullable=False),
        sa.Column('basis', sa.String(length=60), nullable=False),
        sa.Column('request_id', sa.String(length=100), nullable=True),
        sa.Column('disclosed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_disclosure')),
    )
    with op.batch_alter_table('pending_disclosure', schema=None) as batch_op:
        batch_op.create_index('ix_pending_disclosure_due', ['sent_at', 'next_attempt_at'], unique=False)

    referral = sa.table(
        'referral',
        sa.column('id', sa.String),
        sa.column('status', sa.String),
        sa.column('urgent', sa.Boolean),
        sa.column('needs', sa.JSON),
        sa.column('priority', sa.Integer),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(referral.c.id, referral.c.urgent, referral.c.needs).where(referral.c.status == 'received')
    ).all()
    for row in rows:
        priority = _priority(bool(row.urgent), row.needs)
        if priority:
            bind.execute(referral.update().where(referral.c.id == row.id).values(priority=priority))


def downgrade() -> None:
    with op.batch_alter_table('pending_disclosure', schema=None) as batch_op:
        batch_op.drop_index('ix_pending_disclosure_due')
    op.drop_table('pending_disclosure')
    with op.batch_alter_table('referral_assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_assignment_referral_id'))
    op.drop_table('referral_assignment')
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.drop_index('ix_referral_queue_priority')
        batch_op.drop_index('ix_referral_queue_due')
        batch_op.drop_column('assigned_by')
        batch_op.drop_column('assigned_at')
        batch_op.drop_column('assigned_to')
        batch_op.drop_column('priority')
