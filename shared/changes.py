"""Change tracking for integrators: `?updated_since=` on every list, and the `updated_at` column.

A partner's system keeps a copy of what it may see and asks only for what changed since it
last asked: `GET /v1/<list>?updated_since=2026-03-01T09:00:00Z` returns the items whose last
change is *after* that moment (exclusive), with the list's usual filters, order and cursor.
The value is an ISO 8601 date and time with its UTC offset (`Z` or `+01:00`): a moment
without one is ambiguous for a client in London, so it is a 422 naming `updated_since`.

A row's last change is its `updated_at` column where the row changes in place (set when it is
created and on every UPDATE through the ORM or Core, from `shared.clock`, so tests that move the
clock move it too), or the latest of the times an append-only record already keeps (created,
withdrawn, superseded): each list says which in its service's docs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from sqlalchemy import ColumnElement, or_
from sqlalchemy.orm import MappedColumn, mapped_column

from shared.clock import utcnow
from shared.db import UTCDateTime
from shared.validation import IsoAwareDatetime

UPDATED_SINCE_HELP = (
    "Only items changed after this moment (exclusive): ISO 8601 with its UTC offset, "
    "e.g. 2026-03-01T09:00:00Z"
)

# The query parameter, as every list declares it.
UpdatedSince = Annotated[
    IsoAwareDatetime | None, Query(description=UPDATED_SINCE_HELP, examples=["2026-03-01T09:00:00Z"])
]


def updated_at_column() -> MappedColumn[datetime]:
    """A row's last-change time: now when inserted, now again on every UPDATE of the row."""
    return mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, index=True)


def changed_since(since: datetime | None, *columns: Any) -> ColumnElement[bool] | None:
    """A condition: any of `columns` (last-change times; nulls never match) is after `since`.

    None when no `since` was asked, so callers write `if (cond := changed_since(...)) is not None`.
    """
    if since is None:
        return None
    return or_(*(column > since for column in columns))


def where_changed_since(stmt: Any, since: datetime | None, *columns: Any) -> Any:
    """`stmt` narrowed to rows changed after `since` (unchanged when `since` is None)."""
    cond = changed_since(since, *columns)
    return stmt if cond is None else stmt.where(cond)


def add_updated_at(table: str, first: str, *later: str) -> None:
    """Migration step: add `table.updated_at` (indexed, not null), backfilled so rows stored
    before it read as they did: the latest of `first` (a not-null time: created, received,
    opened) and the `later` times the row already keeps (decided, withdrawn...).

    Comparing the columns is portable: on SQLite the times are stored as text in one ISO
    layout, which sorts as the moments do; on PostgreSQL they are timestamps.
    """
    import sqlalchemy as sa
    from alembic import op

    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(f"UPDATE {table} SET updated_at = {first}")
    for column in later:
        op.execute(
            f"UPDATE {table} SET updated_at = {column} WHERE {column} IS NOT NULL AND {column} > updated_at"
        )
    with op.batch_alter_table(table) as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.create_index(batch.f(f"ix_{table}_updated_at"), ["updated_at"], unique=False)


def drop_updated_at(table: str) -> None:
    """The downgrade of `add_updated_at`."""
    from alembic import op

    with op.batch_alter_table(table) as batch:
        batch.drop_index(batch.f(f"ix_{table}_updated_at"))
        batch.drop_column("updated_at")
