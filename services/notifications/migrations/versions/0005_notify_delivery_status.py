"""GOV.UK Notify deliveries: Notify's id and status per delivery, the pre-send mark, polling

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10

Issue 22 item 3. Only additions: every new column is nullable or has a server default, and
`delivery.channel` grows from 10 to 20 characters (`notify_email`), so every row stored
before reads as it did (email and webhook deliveries have no Notify id or status).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.alter_column("channel", existing_type=sa.String(10), type_=sa.String(20), existing_nullable=False)
        batch.add_column(sa.Column("notify_submitted_at", TZ, nullable=True))
        batch.add_column(sa.Column("notify_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("notify_status", sa.String(24), nullable=True))
        batch.add_column(sa.Column("notify_polls", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("notify_next_check_at", TZ, nullable=True))
    op.create_index("ix_delivery_notify_check", "delivery", ["notify_next_check_at"])
    op.create_index("ix_delivery_notification", "delivery", ["notification_id"])


def downgrade() -> None:
    op.execute("DELETE FROM delivery WHERE channel IN ('notify_email', 'notify_sms')")
    op.drop_index("ix_delivery_notification", table_name="delivery")
    op.drop_index("ix_delivery_notify_check", table_name="delivery")
    with op.batch_alter_table("delivery") as batch:
        for name in ("notify_next_check_at", "notify_polls", "notify_status", "notify_id", "notify_submitted_at"):
            batch.drop_column(name)
        batch.alter_column("channel", existing_type=sa.String(20), type_=sa.String(10), existing_nullable=False)
