"""updated_at on clients, teams and practitioners: their last change, for `?updated_since=`

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

Issue 20 item 4. Rows stored before this revision get the latest time they already keep
(created, secret rotated, disabled), so they read as they did.
"""

from collections.abc import Sequence

from shared.changes import add_updated_at, drop_updated_at

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_updated_at("client", "created_at", "secret_rotated_at", "disabled_at")
    add_updated_at("team", "created_at")
    add_updated_at("practitioner", "created_at", "disabled_at")


def downgrade() -> None:
    drop_updated_at("practitioner")
    drop_updated_at("team")
    drop_updated_at("client")
