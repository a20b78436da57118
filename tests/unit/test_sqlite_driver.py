"""The SQLite driver that runs statements on the event loop's thread (shared.sqlite_driver)."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db import Database
from shared.sqlite_driver import inloop_url

metadata = MetaData()
item = Table("item", metadata, Column("id", Integer, primary_key=True), Column("name", String(20)))


@pytest.fixture
async def db(tmp_path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/d.db")
    async with database.write_engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(insert(item), [{"id": i, "name": f"n{i}"} for i in range(200)])
    yield database
    await database.dispose()


def _hold_write_lock(path: str) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_the_driver_is_used_for_sqlite_urls():
    assert inloop_url("sqlite+aiosqlite:////x/y.db") == "sqlite+eh_inloop:////x/y.db"
    assert inloop_url("postgresql+asyncpg://h/db") == "postgresql+asyncpg://h/db"
    database = Database("sqlite+aiosqlite:///:memory:")
    assert database.write_engine.dialect.driver == "eh_inloop"


async def test_a_write_waits_for_another_process_without_blocking_the_loop(db, tmp_path):
    other = _hold_write_lock(f"{tmp_path}/d.db")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def release_later() -> None:
        await asyncio.sleep(0.5)
        other.execute("COMMIT")

    tick = asyncio.create_task(ticker())
    release = asyncio.create_task(release_later())
    started = time.monotonic()
    async with db.session() as session:
        await session.execute(insert(item).values(id=1000, name="late"))
    waited = time.monotonic() - started
    tick.cancel()
    await release
    other.close()
    assert waited >= 0.45  # it really waited for the lock...
    assert ticks >= 20  # ...while the loop went on serving others
    async with db.session(write=False) as session:
        assert (await session.execute(select(item.c.name).where(item.c.id == 1000))).scalar_one() == "late"


async def test_a_lock_held_past_the_busy_timeout_fails_cleanly(tmp_path):
    path = f"{tmp_path}/t.db"
    engine = create_async_engine(inloop_url(f"sqlite+aiosqlite:///{path}"), connect_args={"timeout": 0.3})
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    other = _hold_write_lock(path)
    started = time.monotonic()
    with pytest.raises(OperationalError, match="database is locked"):
        async with engine.connect() as conn:
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
    assert 0.25 <= time.monotonic() - started < 2
    other.execute("ROLLBACK")
    other.close()
    async with engine.begin() as conn:  # nothing was left half-done
        assert (await conn.execute(select(item))).all() == []
    await engine.dispose()


async def test_results_stay_readable_after_the_session_and_streams_step_through(db):
    async with db.session(write=False) as session:
        result = await session.execute(select(item.c.id).order_by(item.c.id))
    assert [r[0] for r in result.all()] == list(range(200))
    async with db.session(write=False) as session:
        seen = [row.id async for row in await session.stream(select(item.c.id).order_by(item.c.id))]
    assert seen == list(range(200))


async def test_a_failed_transaction_leaves_nothing_behind(db):
    with pytest.raises(Exception, match="UNIQUE"):
        async with db.session() as session:
            await session.execute(insert(item).values(id=500, name="a"))
            await session.execute(insert(item).values(id=1, name="duplicate"))
    async with db.session(write=False) as session:
        assert (await session.execute(select(item.c.id).where(item.c.id == 500))).first() is None
