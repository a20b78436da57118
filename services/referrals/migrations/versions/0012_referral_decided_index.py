"""referral: an index of the decisions in decision order, for the threshold-audit draw

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

Issue 21 item 6. The draw counts a period's decisions per outcome, then numbers them in
decision order (decided_at, id) to read only the sampled ones: with this partial index
(status `decided`; on PostgreSQL carrying the outcome) both are index-only scans of the
period instead of reading every decision's row. Nothing stored changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.create_index(
            "ix_referral_decided",
            ["decided_at", "id"],
            unique=False,
            postgresql_include=["outcome"],
            postgresql_where=sa.text("status = 'decided'"),
            sqlite_where=sa.text("status = 'decided'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_decided")
