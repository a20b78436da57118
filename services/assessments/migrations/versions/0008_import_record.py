"""import_record: what each row of a bulk import created

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Issue 22 item 2. A new table (shared/imports.py); nothing stored before changes.
"""

from collections.abc import Sequence

from alembic import op

from shared.imports import TABLE, create_import_record_table

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_import_record_table()


def downgrade() -> None:
    op.drop_table(TABLE)
