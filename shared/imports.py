"""Bulk import bookkeeping (issue 22): what each imported row of another system created.

A service that takes a bulk import (`POST /v1/imports/...`) keeps one `import_record` row per
row it imported: the row's kind and the incumbent system's id for it (`source_id`) -> the id
it created here. Written in the batch's transaction, so a batch is wholly recorded or not at
all; a re-run finds its rows here and skips them (the answer still names what each created),
so importing the same file twice creates nothing twice and a killed run resumes by running
again. Each service calls `import_record_table(Base.metadata)` once in its models module.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import Column, MetaData, String, Table, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import UTCDateTime, is_postgres_session
from shared.identity import Identity
from shared.problems import Problem, ValidationProblem
from shared.roles import ADMIN

TABLE = "import_record"
# Rows per request: a batch is one transaction (docs/import.md).
MAX_BATCH = 500

SCOPE = "imports:write"


class ImportNotPermitted(Problem):
    status, type_slug, title = 403, "import-not-permitted", "Only the council's import client may import"


def require_importer(identity: Identity) -> None:
    """The `bulk-import` rule of every service taking an import: a system call (no
    practitioner) of a council `admin` client holding `imports:write`; anyone else 403."""
    if identity.agency_type != ADMIN or not identity.is_system or not identity.has(SCOPE):
        raise ImportNotPermitted(
            "A bulk import is made by the council's admin client (a system call holding imports:write)"
        )


def row_errors(errors: list[tuple[str, str]]) -> ValidationProblem:
    """One 422 naming every (field, message), e.g. `referrals.3.children.0`."""
    problem = ValidationProblem(*errors[0])
    problem.errors = [{"field": f, "loc": f.split("."), "message": m} for f, m in errors]
    return problem


SourceId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(description="The incumbent system's id of the row (unique per row kind)"),
]


class ImportedItem(BaseModel):
    """What one imported row created: `created` false when an earlier run had imported it."""

    source_id: str
    id: str = Field(description="The id of what the row created (or created before)")
    created: bool
    match: Literal["certain", "new"] | None = Field(
        default=None,
        description="People only: `certain` when the person index already held this person "
        "(linked, not doubled), `new` when the import added them",
    )


def import_record_table(metadata: MetaData) -> Table:
    if TABLE in metadata.tables:
        return metadata.tables[TABLE]
    return Table(TABLE, metadata, *_columns())


def _columns() -> list[Column[object]]:
    return [
        Column("kind", String(20), primary_key=True),
        Column("source_id", String(64), primary_key=True),
        Column("target_id", String(36), nullable=False),
        Column("detail", String(20), nullable=True),
        Column("imported_at", UTCDateTime(), nullable=False),
        Column("imported_by_client_id", String(120), nullable=False),
    ]


def create_import_record_table() -> None:
    """For a service's migration: the table as `import_record_table` defines it."""
    from alembic import op

    op.create_table(TABLE, *_columns())


async def one_batch_at_a_time(session: AsyncSession, service: str) -> None:
    """Batches of one service's import run one after another (PostgreSQL: an advisory lock
    held to commit; SQLite's write transactions are serial already). A client that gave up
    waiting and sent the batch again then finds it recorded and skips it, instead of
    importing it a second time beside the first."""
    if is_postgres_session(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"import:{service}"})


async def imported(
    session: AsyncSession, table: Table, kind: str, source_ids: Iterable[str]
) -> dict[str, tuple[str, str | None]]:
    """The rows of `kind` already imported, among `source_ids`: source id -> (id, detail)."""
    ids = sorted(set(source_ids))
    out: dict[str, tuple[str, str | None]] = {}
    for start in range(0, len(ids), MAX_BATCH):
        chunk = ids[start : start + MAX_BATCH]
        rows = await session.execute(
            select(table.c.source_id, table.c.target_id, table.c.detail).where(
                table.c.kind == kind, table.c.source_id.in_(chunk)
            )
        )
        out.update({r.source_id: (r.target_id, r.detail) for r in rows})
    return out


async def record(
    session: AsyncSession,
    table: Table,
    kind: str,
    created: list[tuple[str, str, str | None]],
    *,
    at: datetime,
    client_id: str,
) -> None:
    """Note what this batch created: (source id, id, detail) per row, in one statement."""
    if created:
        await session.execute(
            table.insert(),
            [
                {
                    "kind": kind,
                    "source_id": s,
                    "target_id": t,
                    "detail": d,
                    "imported_at": at,
                    "imported_by_client_id": client_id,
                }
                for s, t, d in created
            ],
        )


def answered(
    source_ids: Iterable[str], made: dict[str, str], done: dict[str, tuple[str, str | None]]
) -> list[ImportedItem]:
    """A batch's answer, row by row: what this batch made (`created`), or what an earlier run
    had (`done`, as `imported` gave it); a dry run's row it could not make has a stand-in id."""
    return [
        ImportedItem(
            source_id=s,
            id=made.get(s) or (done[s][0] if s in done else str(uuid.uuid4())),
            created=s not in done,
        )
        for s in source_ids
    ]


def repeated(key: str, source_ids: list[str]) -> list[tuple[str, str]]:
    """`<key>.<row>.source_id` for each source id a batch already had in an earlier row."""
    errors: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, source_id in enumerate(source_ids):
        if source_id in seen:
            errors.append((f"{key}.{i}.source_id", "appears twice in this batch"))
        seen.add(source_id)
    return errors
