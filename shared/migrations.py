"""The body of every service's Alembic `env.py`: async, online or offline, one metadata."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from alembic import context
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
