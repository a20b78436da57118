"""consent records, withdrawals, sharing decisions, disclosures

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

The four history tables are append-only. Triggers refuse UPDATE and DELETE on them (and
TRUNCATE on PostgreSQL), so not even a hand-written statement can rewrite consent history:
- PostgreSQL: one plpgsql function `refuse_history_change()` raising `check_violation`;
- SQLite: `BEFORE UPDATE` / `BEFORE DELETE` triggers doing `SELECT RAISE(ABORT, ...)`.
A later SQLite batch migration that rebuilds one of these tables drops its triggers: such a
migration must call `create_append_only_triggers()` again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('consent',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('given_by_name', sa.String(length=200), nullable=False),
    sa.Column('given_by_relationship', sa.String(length=20), nullable=False),
    sa.Column('competence', sa.String(length=30), nullable=False),
    sa.Column('purposes', sa.JSON(), nullable=False),
    sa.Column('agencies', sa.JSON(), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('obtained_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('recorded_by_agency_id', sa.String(length=64), nullable=False),
    sa.Column('recorded_by_client_id', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent'))
    )
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.create_index('ix_consent_expires_on', ['expires_on'], unique=False)
        batch_op.create_index('ix_consent_person_id_obtained_at', ['person_id', 'obtained_at'], unique=False)

    op.create_table('disclosure',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('resource_type', sa.String(length=60), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('basis', sa.String(length=20), nullable=False),
    sa.Column('reference_id', sa.String(length=36), nullable=True),
    sa.Column('request_id', sa.String(length=100), nullable=True),
    sa.Column('disclosed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reported_by_client_id', sa.String(length=120), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosure'))
    )
    with op.batch_alter_table('disclosure', schema=None) as batch_op:
        batch_op.create_index('ix_disclosure_person_id_disclosed_at', ['person_id', 'disclosed_at'], unique=False)

    op.create_table('sharing_decision',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('lawful_basis', sa.String(length=40), nullable=True),
    sa.Column('justification', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('approved_by', sa.String(length=200), nullable=True),
    sa.Column('supersedes_id', sa.String(length=36), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by_agency_id', sa.String(length=64), nullable=False),
    sa.Column('recorded_by_client_id', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['supersedes_id'], ['sharing_decision.id'], name=op.f('fk_sharing_decision_supersedes_id_sharing_decision')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sharing_decision')),
    sa.UniqueConstraint('supersedes_id', name=op.f('uq_sharing_decision_supersedes_id'))
    )
    with op.batch_alter_table('sharing_decision', schema=None) as batch_op:
        batch_op.create_index('ix_sharing_decision_lookup', ['person_id', 'agency_id', 'purpose', 'decided_at'], unique=False)

    op.create_table('consent_expiry_notice',
    sa.Column('consent_id', sa.String(length=36), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('announced_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consent.id'], name=op.f('fk_consent_expiry_notice_consent_id_consent')),
    sa.PrimaryKeyConstraint('consent_id', name=op.f('pk_consent_expiry_notice'))
    )
    op.create_table('consent_withdrawal',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('consent_id', sa.String(length=36), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by_agency_id', sa.String(length=64), nullable=False),
    sa.Column('recorded_by_client_id', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consent.id'], name=op.f('fk_consent_withdrawal_consent_id_consent')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_withdrawal')),
    sa.UniqueConstraint('consent_id', name=op.f('uq_consent_withdrawal_consent_id'))
    )
    create_append_only_triggers()


def downgrade() -> None:
    drop_append_only_triggers()
    op.drop_table('consent_withdrawal')
    op.drop_table('consent_expiry_notice')
    with op.batch_alter_table('sharing_decision', schema=None) as batch_op:
        batch_op.drop_index('ix_sharing_decision_lookup')

    op.drop_table('sharing_decision')
    with op.batch_alter_table('disclosure', schema=None) as batch_op:
        batch_op.drop_index('ix_disclosure_person_id_disclosed_at')

    op.drop_table('disclosure')
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_person_id_obtained_at')
        batch_op.drop_index('ix_consent_expires_on')

    op.drop_table('consent')


APPEND_ONLY_TABLES = ("consent", "consent_withdrawal", "sharing_decision", "disclosure")

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION refuse_history_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'check_violation';
END;
$$ LANGUAGE plpgsql
"""


def create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        for table in APPEND_ONLY_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse_history_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change()"
            )
    elif dialect == "sqlite":
        for table in APPEND_ONLY_TABLES:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{action} on {table} refused: the table is "
                    "append-only'); END"
                )


def drop_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS refuse_history_change()")
    elif dialect == "sqlite":
        for table in APPEND_ONLY_TABLES:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
