"""import_record: what each consent of a bulk import created

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Issue 22 item 2: consents join the bulk import (services/consent/imports.py). A new table, as
shared/imports.py defines it today (frozen here); nothing stored before changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_record",
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("source_id", sa.String(64), primary_key=True),
        sa.Column("target_id", sa.String(36), nullable=False),
        sa.Column("detail", sa.String(20), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by_client_id", sa.String(120), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("import_record")
