"""referral.updated_at: the referral's last change, for `?updated_since=`

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

Issue 20 item 4. Rows stored before this revision get the latest time they already keep
(received, decided, withdrawn, assigned), so they read as they did.
"""

from collections.abc import Sequence

from shared.changes import add_updated_at, drop_updated_at

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_updated_at("referral", "received_at", "decided_at", "withdrawn_at", "assigned_at")


def downgrade() -> None:
    drop_updated_at("referral")
