"""each child's timeline facts on referral_person, for the report

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

The report used to walk every child's referral history with a window at request time
(3.7-5.6 s for a period holding 1,000,000 referrals). These columns keep that walk's answers
on each child's row instead: the previous and next referral of the same child, whether a later
one was escalated, and whether an episode was opened after this one's decision. The service
keeps them current (services/referrals/reports.py `refresh_follow_ups`); this migration fills
them in once for the rows already stored, and narrows the report's covering index to the
children's rows and the columns the report now reads.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_REPORT_COLUMNS = ['person_id', 'role', 'source_code', 'outcome', 'level_of_need', 'from_step_up', 'decided_at']
REPORT_COLUMNS = [
    'source_code', 'outcome', 'decided_at',
    'previous_received_at', 'next_received_at', 'escalated_later', 'episode_after_decision',
]

# The same facts as reports.refresh_follow_ups, for every child at once (PostgreSQL and
# SQLite 3.33+ both take UPDATE ... FROM).
BACKFILL = """
UPDATE referral_person SET
    previous_received_at = f.previous_received_at,
    next_received_at = f.next_received_at,
    escalated_later = f.escalated_later,
    episode_after_decision = f.episode_after_decision
FROM (
    SELECT t.referral_id, t.role, t.position,
        LAG(t.received_at) OVER w AS previous_received_at,
        LEAD(t.received_at) OVER w AS next_received_at,
        COALESCE(MAX(CASE WHEN t.level_of_need = 'specialist' OR t.from_step_up
                          THEN t.received_at END) OVER w > t.received_at, false) AS escalated_later,
        EXISTS (SELECT 1 FROM episode_person ep JOIN episode e ON e.id = ep.episode_id
                WHERE ep.person_id = t.person_id AND e.opened_at > t.decided_at) AS episode_after_decision
    FROM referral_person t
    WHERE t.role = 'child'
    WINDOW w AS (PARTITION BY t.person_id ORDER BY t.received_at, t.referral_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
) AS f
WHERE referral_person.referral_id = f.referral_id
  AND referral_person.role = f.role
  AND referral_person.position = f.position
"""


def upgrade() -> None:
    with op.batch_alter_table('referral_person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_received_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('next_received_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('escalated_later', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(
            sa.Column('episode_after_decision', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.drop_index('ix_referral_person_report')
        batch_op.create_index(
            'ix_referral_person_report', ['received_at'], unique=False, postgresql_include=REPORT_COLUMNS,
            postgresql_where=sa.text("role = 'child'"), sqlite_where=sa.text("role = 'child'"),
        )
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table('referral_person', schema=None) as batch_op:
        batch_op.drop_index('ix_referral_person_report')
        batch_op.create_index(
            'ix_referral_person_report', ['received_at'], unique=False, postgresql_include=OLD_REPORT_COLUMNS
        )
        batch_op.drop_column('episode_after_decision')
        batch_op.drop_column('escalated_later')
        batch_op.drop_column('next_received_at')
        batch_op.drop_column('previous_received_at')
