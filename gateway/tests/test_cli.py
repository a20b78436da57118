"""The operators' command line, run as a real process against a migrated database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from shared.db import alembic_upgrade
from shared.testing import create_test_database, drop_test_database

ROOT = Path(__file__).resolve().parents[2]


def cli(url: str, *args: str, environment: str = "test") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "EH_GATEWAY_DATABASE_URL": url,
        "EH_GATEWAY_ENVIRONMENT": environment,
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


async def test_clients_keys_and_audit_from_the_command_line(tmp_path):
    url = await create_test_database(tmp_path, "gwcli")
    try:
        await asyncio.to_thread(alembic_upgrade, ROOT / "gateway", url)
        made = cli(url, "clients", "create", "--name", "Oakfield Primary", "--agency-type", "education")
        assert made.returncode == 0, made.stderr
        created = json.loads(made.stdout)
        assert created["client_secret"] and "referrals:create" in created["scopes"]
        listed = json.loads(cli(url, "clients", "list").stdout)
        assert [c["client_id"] for c in listed] == [created["client_id"]]
        rotated = json.loads(cli(url, "clients", "rotate-secret", created["client_id"]).stdout)
        assert rotated["client_secret"] != created["client_secret"]
        disabled = json.loads(cli(url, "clients", "disable", created["client_id"]).stdout)
        assert disabled["disabled_at"]
        bad = cli(
            url, "clients", "create", "--name", "x", "--agency-type", "education", "--scopes", "admin-ish"
        )
        assert bad.returncode == 2 and "scopes" in bad.stderr
        rotated_key = json.loads(cli(url, "keys", "rotate").stdout)["kid"]
        keys = json.loads(cli(url, "keys", "list").stdout)
        assert rotated_key in [k["kid"] for k in keys]
        assert cli(url, "audit", "verify").returncode == 0
        assert cli(url, "seed-demo").returncode == 2  # demo clients never outside dev
    finally:
        await drop_test_database(url)
