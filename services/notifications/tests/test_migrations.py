"""Migrations keep existing data readable: a subscription stored with credentials in its URL
before 0003 keeps its row, loses the credentials and is disabled with the reason."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.ext.asyncio import create_async_engine

from services.notifications.tests.conftest import SERVICE_DIR
from shared.db import alembic_upgrade
from shared.testing import create_test_database, drop_test_database

ROWS = [
    ("s-cred", "https://user:pw@hooks.example:8443/in?x=1", "active"),
    ("s-token", "https://tok3n@hooks.example/in", "disabled"),
    ("s-plain", "https://hooks.example/in", "active"),
]


async def test_credentials_are_removed_from_stored_webhook_urls(tmp_path):
    url = await create_test_database(tmp_path, "notifications_migration")
    try:
        await asyncio.to_thread(alembic_upgrade, SERVICE_DIR, url, "0002")
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            for sid, hook, status in ROWS:
                await conn.execute(
                    text(
                        "INSERT INTO subscription (id, agency_id, agency_type, url, event_types,"
                        " secret_encrypted, status, disabled_reason, consecutive_failures, created_at)"
                        " VALUES (:id, 'school-1', 'education', :url, '[\"referral.decided\"]', 'x',"
                        " :status, NULL, 0, :at)"
                    ).bindparams(bindparam("at", type_=DateTime(timezone=True))),
                    {"id": sid, "url": hook, "status": status, "at": datetime(2026, 3, 1, tzinfo=UTC)},
                )
        await asyncio.to_thread(alembic_upgrade, SERVICE_DIR, url)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(text("SELECT id, url, status, disabled_reason FROM subscription"))
            ).all()
        await engine.dispose()
        got = {sid: (hook, status, reason) for sid, hook, status, reason in rows}
        assert got["s-cred"][:2] == ("https://hooks.example:8443/in?x=1", "disabled")
        assert "credentials" in got["s-cred"][2]
        assert got["s-token"] == ("https://hooks.example/in", "disabled", None)  # was disabled already
        assert got["s-plain"] == ("https://hooks.example/in", "active", None)
    finally:
        await drop_test_database(url)
