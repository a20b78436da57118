"""Async database base: engines, sessions, naming convention, migrations.

SQLite (the embedded default) runs in WAL mode through the project's driver
(shared.sqlite_driver: statements on the event loop's thread, lock waits as async sleeps up to
a busy timeout), and write transactions begin IMMEDIATE so two writers queue on the lock
instead of failing half-way with "database is locked". Reads use a separate engine with ordinary deferred transactions, so
they do not queue behind writers. PostgreSQL is used when the URL says so.

The request session commits when the handler succeeds and rolls back on any error; service
code only flushes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, TypeDecorator, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from shared.sqlite_driver import inloop_url

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# How long a write waits for a lock before the request fails with a 503 problem. Shorter
# than the gateway's upstream timeout, so the caller hears the service's answer.
SQLITE_BUSY_TIMEOUT_MS = 5_000
POSTGRES_LOCK_TIMEOUT_MS = 5_000


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite too (which stores naive text). Use it for
    every `..._at` column so API responses always carry an offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timezone-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def make_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    """Not used directly: each service declares its own base with `declarative_base_for`."""


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def conflict_insert(postgres: bool) -> Any:
    """The dialect's `insert`, which has `on_conflict_do_nothing/do_update` (PostgreSQL's and
    SQLite's spell them alike): for upserts that must run on both databases."""
    return pg_insert if postgres else sqlite_insert


def is_postgres_session(session: AsyncSession) -> bool:
    return bool(session.get_bind().dialect.name == "postgresql")


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, *, immediate: bool = True, **kwargs: Any) -> AsyncEngine:
    if is_sqlite(url):
        _ensure_sqlite_dir(url)
        if immediate and ":memory:" not in url:
            # SQLite admits one writer at a time. With a pool of writers, every other one would
            # spin in SQLite's busy handler, which sleeps in steps of up to 100 ms and is not
            # first-come-first-served: under load a write could wait seconds behind later ones.
            # One write connection per process makes writers queue in order on the pool
            # instead, for the same bounded time (a pool timeout is then a 503, as a busy
            # timeout is). Other processes sharing the file are waited for by the driver.
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
            kwargs.setdefault("pool_timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        # Statements run on the event loop's thread (shared.sqlite_driver), not on aiosqlite's
        # threads: no thread hand-overs, and a lock held by another process is waited for
        # with asyncio.sleep, up to the busy timeout, instead of inside SQLite.
        engine = create_async_engine(
            inloop_url(url), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take transaction control from the driver so BEGIN is ours to emit.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    # No ping on every checkout (a round trip per request on the hot path); connections are
    # recycled instead, and a dropped connection fails one request, which the client retries.
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", 300)
    if "+asyncpg" in url:
        kwargs.setdefault(
            "connect_args", {"server_settings": {"lock_timeout": str(POSTGRES_LOCK_TIMEOUT_MS)}}
        )
    return create_async_engine(url, **kwargs)


@dataclass
class Database:
    """The engines and session factories of one service's database."""

    url: str

    def __post_init__(self) -> None:
        self.write_engine = create_engine(self.url, immediate=True)
        # PostgreSQL read sessions run each statement on its own (autocommit), over the write
        # engine's pool: a BEGIN and a ROLLBACK round trip fewer per read. At READ COMMITTED a
        # transaction gave reads nothing more (each statement sees its own snapshot either
        # way). A read that needs one (`SET LOCAL`: the referral report) asks for
        # `session(write=False, transaction=True)`.
        self.read_engine = (
            create_engine(self.url, immediate=False)
            if is_sqlite(self.url)
            else self.write_engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self.write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._autocommit_engine: AsyncEngine | None = None

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A PostgreSQL connection outside every request's transaction: each statement is
        committed as it runs, so a row it locks is released at once, not at the caller's commit.

        For counters that many requests advance (reference series). From its own small pool:
        a request that already holds a pooled connection never waits on the main pool for a
        second one. SQLite has no use for it (its writers are already serial, and a second
        writer in the same process would wait for the first), so it is refused there.
        """
        if is_sqlite(self.url):
            raise RuntimeError("autocommit connections are for PostgreSQL only")
        if self._autocommit_engine is None:
            # No overflow: an overflow connection is closed on return, and opening one costs
            # more than the statement (a backend per connection); waiting for one of five is
            # waiting for a single short statement.
            self._autocommit_engine = create_engine(
                self.url, pool_size=5, max_overflow=0, isolation_level="AUTOCOMMIT"
            )
        async with self._autocommit_engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def session(self, *, write: bool = True, transaction: bool = False) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits on success, rolls back on error. A read session
        (`write=False`) is rolled back; on PostgreSQL its statements run outside a transaction
        unless `transaction=True`."""
        # SQLite's read connections already begin (deferred) transactions of their own; on
        # PostgreSQL a read that needs one takes a write-engine session and rolls it back.
        transactional_read = transaction and not is_sqlite(self.url)
        factory = self.write_sessions if write or transactional_read else self.read_sessions
        async with factory() as session:
            try:
                yield session
                if write:
                    await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(2):
                async with self.read_engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self._autocommit_engine is not None:
            await self._autocommit_engine.dispose()
            self._autocommit_engine = None
        if is_sqlite(self.url):  # on PostgreSQL the read engine shares the write engine's pool
            await self.read_engine.dispose()


def alembic_upgrade(service_dir: Path, url: str, revision: str = "head") -> None:
    """Run a service's Alembic migrations programmatically (tests and `make run` use this)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(service_dir / "alembic.ini"))
    cfg.set_main_option("script_location", str(service_dir / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["database_url"] = url
    command.upgrade(cfg, revision)
