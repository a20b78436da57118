"""Every database's migrations against its models, and the one platform migration.

- Each process that owns a database, migrated to head on SQLite, has exactly the schema its
  models declare (alembic's autogenerate comparison finds nothing to add, drop or alter).
- Each service's `0001_platform.py` creates exactly the tables of `shared.platform_tables`, the
  same in every service, and its PostgreSQL DDL is still the one it has always been (the
  revision is applied in existing databases: it must never change).
"""

from __future__ import annotations

import importlib
import io
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from devtools.stack import PROCESSES, SERVICES, Process
from shared.db import alembic_upgrade, make_metadata
from shared.platform_tables import platform_tables

WITH_DATABASE = [p for p in PROCESSES if p.service_dir is not None and p.kind != "worker"]
PLATFORM_TABLES = {"outbox_event", "processed_event", "idempotency_record"}
# `alembic upgrade 0001 --sql` then `downgrade 0001:base --sql` on PostgreSQL, as generated when
# every service had its own copy of the operations (before shared.migrations held them).
PLATFORM_DDL = Path(__file__).parent / "fixtures" / "platform_0001.postgresql.sql"


def _metadata(proc: Process) -> sa.MetaData:
    package = proc.app.split(":")[0].rsplit(".", 1)[0]
    return importlib.import_module(f"{package}.models").Base.metadata


def _schema_diff(db: Path, metadata: sa.MetaData) -> list:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return compare_metadata(ctx, metadata)
    finally:
        engine.dispose()


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows} - {"alembic_version"}


def _sqlite_schema(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()


@pytest.mark.parametrize("proc", WITH_DATABASE, ids=lambda p: p.name)
def test_head_matches_the_models(tmp_path, proc):
    assert proc.service_dir is not None
    db = tmp_path / "head.db"
    alembic_upgrade(proc.service_dir, f"sqlite+aiosqlite:///{db}")
    assert _schema_diff(db, _metadata(proc)) == []


def test_the_comparison_is_not_vacuous(tmp_path):
    proc = SERVICES["referrals"]
    assert proc.service_dir is not None
    db = tmp_path / "platform-only.db"
    alembic_upgrade(proc.service_dir, f"sqlite+aiosqlite:///{db}", "0001")
    assert _schema_diff(db, _metadata(proc)), "the service's own tables are missing at 0001"


@pytest.mark.parametrize("name", list(SERVICES))
def test_the_platform_migration_creates_the_platform_tables_and_drops_them(tmp_path, name):
    service_dir = SERVICES[name].service_dir
    assert service_dir is not None
    db = tmp_path / "platform.db"
    url = f"sqlite+aiosqlite:///{db}"
    alembic_upgrade(service_dir, url, "0001")
    assert _tables(db) == PLATFORM_TABLES
    assert _schema_diff(db, platform_tables(make_metadata()).outbox.metadata) == []

    cfg = Config(str(service_dir / "alembic.ini"))
    cfg.set_main_option("script_location", str(service_dir / "migrations"))
    cfg.attributes["database_url"] = url
    command.downgrade(cfg, "base")
    assert _tables(db) == set()


def test_every_service_gets_the_same_platform_schema(tmp_path):
    schemas = {}
    for name, proc in SERVICES.items():
        assert proc.service_dir is not None
        db = tmp_path / f"{name}.db"
        alembic_upgrade(proc.service_dir, f"sqlite+aiosqlite:///{db}", "0001")
        schemas[name] = _sqlite_schema(db)
    first = next(iter(schemas.values()))
    assert all(s == first for s in schemas.values()), schemas


def _offline_sql(service_dir: Path) -> str:
    cfg = Config(str(service_dir / "alembic.ini"))
    cfg.set_main_option("script_location", str(service_dir / "migrations"))
    cfg.attributes["database_url"] = "postgresql+asyncpg://eh:x@postgres.invalid/eh"
    buf = io.StringIO()
    cfg.output_buffer = buf
    command.upgrade(cfg, "0001", sql=True)
    command.downgrade(cfg, "0001:base", sql=True)
    return buf.getvalue()


@pytest.mark.parametrize("name", list(SERVICES))
def test_the_platform_migration_ddl_never_changes(name):
    """0001 has run in every existing database: its PostgreSQL DDL is pinned, byte for byte."""
    service_dir = SERVICES[name].service_dir
    assert service_dir is not None
    assert _offline_sql(service_dir) == PLATFORM_DDL.read_text()
