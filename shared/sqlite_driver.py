"""SQLite for the async engine, run on the event loop's own thread.

aiosqlite runs every statement on a thread of its own and hands each result back through
queues and futures: four thread hand-overs per statement, about 0.5 ms of CPU each round
trip on this machine however small the statement, which made SQLite processes CPU-bound
under load (docs/performance.md). Here the standard `sqlite3` module is called directly
from SQLAlchemy's greenlet on the loop thread: a statement on an indexed table takes tens of
microseconds, less than handing it to a thread would.

What makes that safe:
- Nothing waits inside SQLite. Connections have no busy timeout; a statement that finds the
  database locked (another process writing the same file, e.g. the notifications worker) is
  retried after an `asyncio.sleep`, so the loop keeps serving other requests, until
  `busy_timeout` runs out and the `database is locked` error becomes the usual 503 problem.
  Within a process, writers already queue on the pool for the one write connection.
- Statements here are short (indexed lookups and small writes). A long one (a report over
  a large SQLite file) holds the loop for its duration: large installations use PostgreSQL.

`shared.db.create_engine` uses this driver for `sqlite+aiosqlite` URLs; Alembic keeps aiosqlite.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from typing import Any, Self

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.base import SQLiteExecutionContext
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.util.concurrency import await_, in_greenlet

DRIVER = "eh_inloop"
BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


async def _resume() -> None:
    """Awaited once per statement: SQLAlchemy's async engine insists that a driver awaits."""


def _busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in BUSY_CODES


class _Retry:
    """Retry a call that found the database locked, sleeping on the event loop in between."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.delay = 0.001

    def wait_or_raise(self, exc: sqlite3.OperationalError) -> None:
        if not _busy(exc) or not in_greenlet() or time.monotonic() + self.delay > self.deadline:
            raise exc
        await_(asyncio.sleep(self.delay))
        self.delay = min(self.delay * 2, 0.05)


class Cursor(sqlite3.Cursor):
    connection: Connection

    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        if in_greenlet():
            await_(_resume())
        retry: _Retry | None = None
        while True:
            try:
                super().execute(sql, parameters)
                return self
            except sqlite3.OperationalError as exc:
                retry = retry or _Retry(self.connection.busy_timeout)
                retry.wait_or_raise(exc)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Self:
        if in_greenlet():
            await_(_resume())
        super().executemany(sql, seq_of_parameters)
        return self


class BufferedCursor(Cursor):
    """Reads a result's rows as the statement runs, as SQLAlchemy's async drivers do: a
    result stays readable after its session has moved on, committed or closed."""

    _rows: deque[Any] | None = None

    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        super().execute(sql, parameters)
        self._rows = deque(super().fetchall()) if self.description is not None else None
        return self

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Self:
        self._rows = None
        super().executemany(sql, seq_of_parameters)
        return self

    def fetchone(self) -> Any:
        if self._rows is None:
            return super().fetchone()
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        if self._rows is None:
            return super().fetchmany(size or self.arraysize)
        rows = self._rows
        return [rows.popleft() for _ in range(min(size or self.arraysize, len(rows)))]

    def fetchall(self) -> list[Any]:
        if self._rows is None:
            return super().fetchall()
        rows, self._rows = list(self._rows), deque()
        return rows

    async def _async_soft_close(self) -> None:
        """Asked of every async driver's cursor; the rows are already here."""


class Connection(sqlite3.Connection):
    busy_timeout: float = 5.0

    def cursor(self, factory: Any = BufferedCursor) -> Any:
        return super().cursor(factory)

    def commit(self) -> None:
        retry: _Retry | None = None
        while True:
            try:
                return super().commit()
            except sqlite3.OperationalError as exc:
                retry = retry or _Retry(self.busy_timeout)
                retry.wait_or_raise(exc)


class _ExecutionContext(SQLiteExecutionContext):
    def create_server_side_cursor(self) -> DBAPICursor:
        # Unbuffered: sqlite3 steps through the rows as they are fetched.
        return self._dbapi_connection.cursor(Cursor)  # type: ignore[no-any-return]


class SQLiteDialect_inloop(SQLiteDialect_pysqlite):
    driver = DRIVER
    is_async = True
    supports_statement_cache = True
    supports_server_side_cursors = True
    execution_ctx_cls = _ExecutionContext

    @classmethod
    def get_pool_class(cls, url: Any) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        busy_timeout = float(kwargs.pop("timeout", Connection.busy_timeout))
        kwargs.update(factory=Connection, timeout=0, check_same_thread=False)
        conn = super().connect(*args, **kwargs)
        conn.busy_timeout = busy_timeout
        return conn


registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteDialect_inloop")


def inloop_url(url: str) -> str:
    """The same database through this driver (`sqlite+aiosqlite:///...` -> `sqlite+eh_inloop:///...`)."""
    scheme, rest = url.split(":", 1)
    return f"sqlite+{DRIVER}:{rest}" if scheme.startswith("sqlite") else url
