"""`consent.expiring` is announced once; history tables refuse UPDATE and DELETE."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.consent import jobs
from services.consent.models import APPEND_ONLY_TABLES
from services.consent.tests.helpers import consent_body, outbox_events
from shared.clock import utcnow


async def test_consent_expiring_is_published_once(svc, eh):
    soon = (
        await svc.client.post(
            "/v1/consents",
            json=consent_body(expires_on=(date.today() + timedelta(days=20)).isoformat()),
            headers=eh,
        )
    ).json()
    later = (
        await svc.client.post(
            "/v1/consents",
            json=consent_body(expires_on=(date.today() + timedelta(days=45)).isoformat()),
            headers=eh,
        )
    ).json()
    withdrawn = (
        await svc.client.post(
            "/v1/consents",
            json=consent_body(expires_on=(date.today() + timedelta(days=5)).isoformat()),
            headers=eh,
        )
    ).json()
    await svc.client.post(f"/v1/consents/{withdrawn['id']}/withdraw", json={"reason": "x"}, headers=eh)
    await svc.client.post("/v1/consents", json=consent_body(), headers=eh)  # never expires

    assert await svc.runtime.announce_expiring() == 1
    assert await svc.runtime.announce_expiring() == 0
    events = await outbox_events(svc, "consent.expiring")
    assert [e["data"] for e in events] == [
        {"consent_id": soon["id"], "person_id": soon["person_id"], "expires_on": soon["expires_on"]}
    ]
    # Fifteen days on, the second consent enters the 30-day window and is announced, once.
    future = utcnow() + timedelta(days=15)
    assert await jobs.announce_expiring(svc.runtime, now=future) == 1
    assert await jobs.announce_expiring(svc.runtime, now=future) == 0
    assert [e["data"]["consent_id"] for e in await outbox_events(svc, "consent.expiring")] == [
        soon["id"],
        later["id"],
    ]
    # The consents themselves were not touched.
    fetched = (await svc.client.get(f"/v1/consents/{soon['id']}", headers=eh)).json()
    assert fetched["created_at"] == soon["created_at"] and fetched["status"] == "active"


async def _seed_history(svc, eh, service_caller):
    person = str(uuid.uuid4())
    consent = (await svc.client.post("/v1/consents", json=consent_body(person_id=person), headers=eh)).json()
    await svc.client.post(f"/v1/consents/{consent['id']}/withdraw", json={"reason": "x"}, headers=eh)
    decision = await svc.client.post(
        "/v1/sharing-decisions",
        json={
            "person_id": person,
            "agency_id": "police-west",
            "purpose": "information_sharing",
            "decision": "do_not_share",
            "justification": "No concern.",
            "decided_by": "a@council.example",
        },
        headers=eh,
    )
    assert decision.status_code == 201
    disclosure = await svc.client.post(
        "/internal/disclosures",
        json={
            "person_id": person,
            "agency_id": "police-west",
            "resource_type": "episode",
            "resource_id": "e1",
            "basis": "consent",
            "reference_id": consent["id"],
            "disclosed_at": "2026-03-01T09:00:00Z",
        },
        headers=service_caller,
    )
    assert disclosure.status_code == 201


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
@pytest.mark.parametrize("statement", ["UPDATE {table} SET id = id", "DELETE FROM {table}"])
async def test_history_tables_refuse_update_and_delete(svc, eh, service_caller, table, statement):
    """Triggers on both PostgreSQL and SQLite (migration 0002)."""
    await _seed_history(svc, eh, service_caller)
    with pytest.raises(DBAPIError, match="append-only"):
        async with svc.runtime.db.session() as session:
            await session.execute(text(statement.format(table=table)))
    async with svc.runtime.db.session(write=False) as session:
        assert (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 1


@pytest.mark.postgres_only
@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
async def test_postgres_refuses_truncate(svc, eh, service_caller, table):
    await _seed_history(svc, eh, service_caller)
    with pytest.raises(DBAPIError, match="append-only"):
        async with svc.runtime.db.session() as session:
            await session.execute(text(f"TRUNCATE {table} CASCADE"))
