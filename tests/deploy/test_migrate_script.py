"""deploy/docker/migrate.sh, the one-shot step of compose and of the migration Job, run for real
on SQLite: it brings every database to head, can run again, and stops at the first failure."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import MIGRATE_SCRIPT, ROOT, WITH_DATABASE, db_name

pytestmark = pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")


def _run(env_urls: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EH_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    env["EH_APP_DIR"] = str(ROOT)
    for proc in WITH_DATABASE:
        # As in compose and the Job: the database URLs and nothing else.
        env[f"{proc.env_prefix}DATABASE_URL"] = env_urls[proc.name]
    return subprocess.run(["sh", str(MIGRATE_SCRIPT)], env=env, capture_output=True, text=True, timeout=300)


def test_migrates_every_database_and_is_repeatable(tmp_path):
    missing = [p.name for p in WITH_DATABASE if not (p.service_dir / "alembic.ini").is_file()]
    if missing:
        pytest.skip(f"alembic.ini not written yet for {missing}")
    urls = {p.name: f"sqlite+aiosqlite:///{tmp_path / db_name(p)}.db" for p in WITH_DATABASE}
    for attempt in (1, 2):
        run = _run(urls)
        assert run.returncode == 0, f"attempt {attempt}:\n{run.stdout}\n{run.stderr}"
    for proc in WITH_DATABASE:
        with sqlite3.connect(tmp_path / f"{db_name(proc)}.db") as conn:
            version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        assert len(version) == 1, f"{proc.name}: not migrated"


def test_stops_at_the_first_failure(tmp_path):
    urls = {p.name: f"sqlite+aiosqlite:///{tmp_path / db_name(p)}.db" for p in WITH_DATABASE}
    first, second = WITH_DATABASE[0], WITH_DATABASE[1]
    urls[first.name] = "postgresql+asyncpg://nobody:x@127.0.0.1:1/none"  # nothing listens on port 1
    run = _run(urls)
    assert run.returncode != 0
    assert not (tmp_path / f"{db_name(second)}.db").exists(), "later databases must not be migrated"
