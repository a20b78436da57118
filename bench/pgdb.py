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
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from devtools import pg
from shared.db import Database, alembic_upgrade


def add_pg_url_argument(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("EH_BENCH_PG_URL") or os.environ.get("EH_TEST_PG_URL"),
        help="postgresql+asyncpg://user@host:port (no database); a throwaway server is started if absent",
    )


@contextlib.asynccontextmanager
async def migrated_database(
    service_dir: Path, prefix: str, base: str | None = None, *, keep: bool = False
) -> AsyncIterator[tuple[str, str]]:
    """(SQLAlchemy URL, asyncpg DSN) of a fresh database built by the service's migrations.
    `keep`: the database is not dropped at the end (a server given by URL keeps it; see
    `existing_database` to time against it again without generating the data again)."""
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
        if keep and root is None:
            print(f"kept the database: {base}/{name}", flush=True)
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if root is not None:
            pg.stop(root)


def existing_database(url: str) -> tuple[str, str]:
    """(SQLAlchemy URL, asyncpg DSN) of a database kept by an earlier run (`keep=True`)."""
    return url, url.replace("postgresql+asyncpg", "postgresql")


def backend_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a local PostgreSQL backend (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def time_report(
    db: Database,
    label: str,
    call: Callable[[AsyncSession], Awaitable[Any]],
    runs: int,
    *,
    write: bool = False,
    transaction: bool = False,
) -> list[float]:
    """Runs `call(session)` `runs` times, each in its own read session as an endpoint would,
    and prints the best and median wall time, the database backend's median CPU time (what
    the query cost PostgreSQL, which other load on the machine does not inflate) and this
    process's (the Python side: building the answer). `write`: in
    a write session rolled back after each run (a POST's work, timed without keeping it);
    `transaction`: a read session in a transaction (a report whose settings are `SET LOCAL`)."""
    wall: list[float] = []
    cpu: list[float] = []
    client: list[float] = []  # this process's CPU: the Python side, which load does not inflate
    for _ in range(runs):
        sessions = db.write_sessions() if write else db.session(write=False, transaction=transaction)
        async with sessions as session:
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            before = backend_cpu_seconds(pid)
            t, c = time.perf_counter(), time.process_time()
            await call(session)
            wall.append(time.perf_counter() - t)
            client.append(time.process_time() - c)
            after = backend_cpu_seconds(pid)
            if before is not None and after is not None:
                cpu.append(after - before)
            if write:
                await session.rollback()
    return _print_timing(label, wall, cpu, client)


def _print_timing(
    label: str, wall: list[float], cpu: list[float], client: list[float] | None = None
) -> list[float]:
    """Prints the best and median wall time and the median database CPU; returns `wall` sorted."""
    wall.sort()
    cpu.sort()
    cpu_text = f", database CPU median {cpu[len(cpu) // 2]:.2f} s" if cpu else ""
    if client:
        client.sort()
        cpu_text += f", client CPU median {client[len(client) // 2]:.2f} s"
    verdict = "meets" if wall[len(wall) // 2] < 2 else "MISSES"
    print(
        f"{label}: wall best {wall[0]:.2f} s, median {wall[len(wall) // 2]:.2f} s{cpu_text} "
        f"({verdict} the 2 s target; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
        flush=True,
    )
    return wall


async def database_cpu_seconds(dsn: str) -> float | None:
    """User + system CPU so far of every local backend connected to the database of `dsn`
    (an app's pooled connections keep their backends, so a difference is what its requests
    cost PostgreSQL), or None where /proc cannot tell."""
    conn = await asyncpg.connect(dsn)
    try:
        pids = [
            r["pid"]
            for r in await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    finally:
        await conn.close()
    seconds = [backend_cpu_seconds(pid) for pid in pids]
    return None if any(s is None for s in seconds) else sum(s or 0.0 for s in seconds)


async def time_http(dsn: str, label: str, call: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    """Runs `call()` (a request to an app in this process, e.g. through httpx.ASGITransport:
    routing, authentication, the endpoint, FastAPI's serialisation) `runs` times and prints
    the best and median wall time and the median CPU of the database's backends."""
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        before = await database_cpu_seconds(dsn)
        t = time.perf_counter()
        await call()
        wall.append(time.perf_counter() - t)
        after = await database_cpu_seconds(dsn)
        if before is not None and after is not None:
            cpu.append(max(0.0, after - before))
    return _print_timing(f"{label} (over HTTP)", wall, cpu)
