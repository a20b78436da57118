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


async def test_deliveries_stored_before_notify_read_as_they_did(tmp_path):
    """0005 (GOV.UK Notify) adds columns only: an email delivery of 0004 reads the same, with
    no Notify id or status and nothing to poll."""
    url = await create_test_database(tmp_path, "notifications_migration_0005")
    try:
        await asyncio.to_thread(alembic_upgrade, SERVICE_DIR, url, "0004")
        engine = create_async_engine(url)
        at = datetime(2026, 11, 1, tzinfo=UTC)
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO delivery (id, channel, subscription_id, notification_id, recipient_email,"
                    " event_type, payload, status, attempts, next_attempt_at, lease_until,"
                    " last_status_code, last_error, created_at, delivered_at, updated_at)"
                    " VALUES ('d-old', 'email', NULL, 'n1', 'lead@school.example', 'consent.withdrawn',"
                    " '{\"subject\": \"s\"}', 'delivered', 1, :at, NULL, NULL, NULL, :at, :at, :at)"
                ).bindparams(bindparam("at", type_=DateTime(timezone=True))),
                {"at": at},
            )
        await asyncio.to_thread(alembic_upgrade, SERVICE_DIR, url)
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT channel, status, attempts, payload, notify_id, notify_status, notify_polls,"
                        " notify_next_check_at, notify_submitted_at FROM delivery"
                    )
                )
            ).one()
        await engine.dispose()
        assert row[:3] == ("email", "delivered", 1) and "subject" in str(row[3])
        assert tuple(row[4:]) == (None, None, 0, None, None)
    finally:
        await drop_test_database(url)
