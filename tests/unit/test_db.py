"""shared.db: read and write sessions, on whichever database the run uses."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shared.db import Database
from shared.testing import create_test_database, drop_test_database, pg_base_url


@pytest.fixture
async def db(tmp_path):
    url = await create_test_database(tmp_path, "db")
    database = Database(url)
    yield database
    await database.dispose()
    await drop_test_database(url)


async def test_writes_commit_and_reads_see_them(db):
    async with db.session() as s:
        await s.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        await s.execute(text("INSERT INTO t VALUES (1)"))
    async with db.session(write=False) as s:
        assert (await s.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1


@pytest.mark.skipif(not pg_base_url(), reason="PostgreSQL only")
async def test_postgresql_reads_run_outside_a_transaction_unless_asked(db):
    """Plain read sessions send no BEGIN/ROLLBACK (each statement stands alone); a read that
    needs `SET LOCAL` (the referral report) asks for a transaction and gets one."""
    async with db.session(write=False) as s:
        # Outside a transaction a SET LOCAL ends with its own statement.
        await s.execute(text("SET LOCAL work_mem = '64MB'"))
        assert (await s.execute(text("SHOW work_mem"))).scalar_one() != "64MB"
    async with db.session(write=False, transaction=True) as s:
        await s.execute(text("SET LOCAL work_mem = '64MB'"))
        assert (await s.execute(text("SHOW work_mem"))).scalar_one() == "64MB"
    async with db.session(write=False) as s:  # and it ended with that transaction
        assert (await s.execute(text("SHOW work_mem"))).scalar_one() != "64MB"


@pytest.mark.skipif(not pg_base_url(), reason="PostgreSQL only")
async def test_autocommit_statements_release_their_row_locks_at_once(db):
    """A counter advanced on `autocommit()` is not held until anyone's commit: a second
    advance runs while the first caller's own transaction is still open."""
    import asyncio

    async with db.session() as s:
        await s.execute(text("CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER)"))
        await s.execute(text("INSERT INTO counter VALUES ('x', 0)"))
    bump = text("UPDATE counter SET value = value + 1 WHERE name = 'x' RETURNING value")
    async with db.session() as open_request:
        await open_request.execute(text("SELECT 1"))  # the request holds a connection and a transaction
        async with db.autocommit() as conn:
            assert (await conn.execute(bump)).scalar_one() == 1
        async with asyncio.timeout(2), db.autocommit() as conn:
            assert (await conn.execute(bump)).scalar_one() == 2
        # Committed without any commit call: another session sees it before this one ends.
        async with db.session(write=False) as other:
            assert (await other.execute(text("SELECT value FROM counter"))).scalar_one() == 2


@pytest.mark.skipif(bool(pg_base_url()), reason="SQLite only")
async def test_autocommit_is_refused_on_sqlite(db):
    with pytest.raises(RuntimeError, match="PostgreSQL only"):
        async with db.autocommit():
            pass
