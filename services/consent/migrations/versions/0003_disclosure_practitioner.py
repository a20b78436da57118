"""the practitioner on a disclosure

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

A nullable column: every disclosure recorded before keeps reading as it was (a system read,
`practitioner_id: null`). A plain ADD COLUMN, not a batch rebuild, so the append-only triggers
of 0002 stay in place on SQLite (a rebuild would drop them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('disclosure', sa.Column('practitioner_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place (no rebuild), keeping the triggers.
    op.drop_column('disclosure', 'practitioner_id')
