"""one vocabulary for consent methods

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

The consent service said `verbal` where referrals say `in_person` (shared/codes.py
`consent_method`). Stored `verbal` consents become `in_person`: the API still accepts
`verbal` on input, stored as `in_person`. The downgrade cannot tell an `in_person` that was
`verbal` from one given so after this revision; it maps them all back to `verbal`, which the
old code accepts (it did not know `in_person` or `video`; `video` goes back as `electronic`).

`consent` is append-only (0002's triggers): this one correction of a code, not of what was
consented to, lifts its UPDATE trigger for the statement and puts it back, in the migration's
transaction on PostgreSQL.
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


SQLITE_TRIGGER = (
    "CREATE TRIGGER consent_no_update BEFORE UPDATE ON consent "
    "BEGIN SELECT RAISE(ABORT, 'UPDATE on consent refused: the table is append-only'); END"
)


def _recode(*changes: tuple[str, str]) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("ALTER TABLE consent DISABLE TRIGGER consent_append_only")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS consent_no_update")
    for old, new in changes:
        op.execute(f"UPDATE consent SET method = '{new}' WHERE method = '{old}'")
    if dialect == "postgresql":
        op.execute("ALTER TABLE consent ENABLE TRIGGER consent_append_only")
    elif dialect == "sqlite":
        op.execute(SQLITE_TRIGGER)


def upgrade() -> None:
    _recode(("verbal", "in_person"))


def downgrade() -> None:
    _recode(("in_person", "verbal"), ("video", "electronic"))
