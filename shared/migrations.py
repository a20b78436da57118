"""What every service's Alembic migrations share: the body of `env.py` (async, online or
offline, one metadata) and the operations of the platform migration (`0001_platform.py`)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config


def _url(default_url: str) -> str:
    cfg = context.config
    return cfg.attributes.get("database_url") or os.environ.get("EH_MIGRATE_DATABASE_URL") or default_url


def _do_run(connection: Connection, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str, metadata: MetaData) -> None:
    if url.startswith("sqlite"):
        from shared.db import _ensure_sqlite_dir

        _ensure_sqlite_dir(url)
    section: dict[str, Any] = {"sqlalchemy.url": url}
    engine = async_engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    async with engine.connect() as conn:
        await conn.run_sync(_do_run, metadata)
    await engine.dispose()


def run_migrations(metadata: MetaData, default_url: str) -> None:
    url = _url(default_url)
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_run_async(url, metadata))
    else:  # called from inside a running loop (rare): use a worker thread
        import threading

        t = threading.Thread(target=lambda: asyncio.run(_run_async(url, metadata)))
        t.start()
        t.join()


# --- the platform migration ------------------------------------------------------------------
# Every service's first revision (`0001`) creates the tables of shared.platform_tables: the
# outbox, processed events and idempotency keys. These are the operations autogenerate wrote
# for it, kept here once. They are a snapshot, not derived from shared.platform_tables on
# purpose: a migration must create the same schema whenever it runs, so a later change to those
# tables is a new revision in each service (autogenerate finds it), never an edit here.


def create_platform_tables() -> None:
    """Upgrade of every service's `0001_platform.py`."""
    op.create_table(
        "idempotency_record",
        sa.Column("client_id", sa.String(length=120), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("location", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "key", name=op.f("pk_idempotency_record")),
    )
    op.create_table(
        "outbox_event",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=80), nullable=False),
        sa.Column("destination", sa.String(length=500), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_event")),
    )
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_event_pending", ["delivered_at", "next_attempt_at"], unique=False)
    op.create_table(
        "processed_event",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=80), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_processed_event")),
    )


def drop_platform_tables() -> None:
    """Downgrade of every service's `0001_platform.py`."""
    op.drop_table("processed_event")
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_event_pending")
    op.drop_table("outbox_event")
    op.drop_table("idempotency_record")
