"""jsna_family_period: each family once per period, need and district, for the JSNA feed

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

Issue 21 item 6 (the feed under 2 s at 1,000,000 referrals). A new table whose primary key is
(kind, period, need, district, family_key): the distinct families of each cell, by month and by
quarter, so the feed is a grouped count over an index rather than a de-duplication of every
need row. Written for the referrals stored before from `referral_need` (what migration 0009
and intake wrote: the families are its distinct rows; a quarter is month // 3, integer
division on both databases). `referral_need` and the referrals are untouched.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jsna_family_period",
        sa.Column("kind", sa.String(length=7), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("need", sa.String(length=60), nullable=False),
        sa.Column("district", sa.String(length=8), nullable=False),
        sa.Column("family_key", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint(
            "kind", "period", "need", "district", "family_key", name=op.f("pk_jsna_family_period")
        ),
    )
    for kind, period in (("month", "month"), ("quarter", "month / 3")):
        op.execute(
            "INSERT INTO jsna_family_period (kind, period, need, district, family_key) "
            f"SELECT DISTINCT '{kind}', {period}, need, district, family_key FROM referral_need"
        )


def downgrade() -> None:
    op.drop_table("jsna_family_period")
