"""A fresh PostgreSQL database built by a service's own migrations, for the benchmarks.

The server: `--pg-url` (a base URL, as `python -m devtools.pg start` prints), else
`EH_BENCH_PG_URL` or `EH_TEST_PG_URL`; with none of them a throwaway server is started and
stopped. The database is dropped at the end either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from devtools import pg
from shared.db import alembic_upgrade


def add_pg_url_argument(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("EH_BENCH_PG_URL") or os.environ.get("EH_TEST_PG_URL"),
        help="postgresql+asyncpg://user@host:port (no database); a throwaway server is started if absent",
    )


@contextlib.asynccontextmanager
async def migrated_database(
    service_dir: Path, prefix: str, base: str | None = None
) -> AsyncIterator[tuple[str, str]]:
    """(SQLAlchemy URL, asyncpg DSN) of a fresh database built by the service's migrations."""
    base = base or os.environ.get("EH_BENCH_PG_URL") or os.environ.get("EH_TEST_PG_URL")
    root = None
    if not base:
        base, root = pg.start()
        print(f"started a throwaway PostgreSQL at {base.split('@')[-1]}")
    base = base.rstrip("/")
    plain = base.replace("postgresql+asyncpg", "postgresql")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(plain + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{base}/{name}"
        await asyncio.to_thread(alembic_upgrade, service_dir, url)
        yield url, f"{plain}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if root is not None:
            pg.stop(root)
