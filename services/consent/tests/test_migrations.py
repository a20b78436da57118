"""Migrations keep existing data readable: a disclosure logged before 0003 reads as a system read."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from services.consent.config import Settings
from services.consent.main import create_app
from services.consent.tests.helpers import SERVICE_DIR
from shared.db import alembic_upgrade
from shared.testing import create_test_database, drop_test_database

PERSON = "7d0f3c2e-5b7a-4f0e-9a51-2c6f1f0d9b11"


async def test_a_disclosure_from_before_0003_is_still_listed(tmp_path, signer: Any):
    url = await create_test_database(tmp_path, "consent_migration")
    try:
        await asyncio.to_thread(alembic_upgrade, SERVICE_DIR, url, "0002")
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO disclosure (id, person_id, agency_id, resource_type, resource_id, basis,"
                    " reference_id, request_id, disclosed_at, reported_by_client_id, recorded_at) VALUES"
                    " ('d-old', :person, 'police-west', 'episode', 'ep-1', 'consent', NULL, 'req-1',"
                    " :at, 'assessments', :at)"
                ).bindparams(bindparam("at", type_=DateTime(timezone=True))),
                {"person": PERSON, "at": datetime(2026, 3, 1, 9, tzinfo=UTC)},
            )
        await engine.dispose()

        await asyncio.to_thread(alembic_upgrade, SERVICE_DIR, url)

        settings = Settings(
            database_url=url, environment="test", data_dir=tmp_path, expiry_scan_interval_seconds=0
        )
        app = create_app(settings, keys=signer.keyset())
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
                eh = signer.auth_header(agency_type="early_help", agency_id="eh-team", scopes="consent:read")
                resp = await c.get(f"/v1/people/{PERSON}/disclosures", headers=eh)
                assert resp.status_code == 200, resp.text
                [item] = resp.json()["items"]
                assert (item["id"], item["agency_id"], item["practitioner_id"]) == (
                    "d-old",
                    "police-west",
                    None,
                )
                # The column was added in place: the append-only triggers of 0002 still hold.
                with pytest.raises(DBAPIError, match="append-only"):
                    async with app.state.runtime.db.session() as session:
                        await session.execute(text("UPDATE disclosure SET practitioner_id = 'p-1'"))
    finally:
        await drop_test_database(url)


async def test_a_verbal_consent_from_before_0004_reads_as_in_person(tmp_path, signer: Any):
    url = await create_test_database(tmp_path, "consent_method_migration")
    try:
        await asyncio.to_thread(alembic_upgrade, SERVICE_DIR, url, "0003")
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            for cid, method in (("c-verbal", "verbal"), ("c-phone", "phone")):
                await conn.execute(
                    text(
                        "INSERT INTO consent (id, person_id, given_by_name, given_by_relationship, competence,"
                        " purposes, agencies, method, obtained_at, recorded_by_agency_id,"
                        " recorded_by_client_id, created_at) VALUES (:id, :person, 'Mother', 'parent',"
                        " 'parental', '[\"early_help_service\"]', '[\"eh-team\"]', :method, :at, 'eh-team',"
                        " 'eh-client', :at)"
                    ).bindparams(bindparam("at", type_=DateTime(timezone=True))),
                    {
                        "id": cid,
                        "person": PERSON,
                        "method": method,
                        "at": datetime(2026, 3, 1, 9, tzinfo=UTC),
                    },
                )
        await engine.dispose()

        await asyncio.to_thread(alembic_upgrade, SERVICE_DIR, url)

        settings = Settings(
            database_url=url, environment="test", data_dir=tmp_path, expiry_scan_interval_seconds=0
        )
        app = create_app(settings, keys=signer.keyset())
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
                eh = signer.auth_header(agency_type="early_help", agency_id="eh-team", scopes="consent:read")
                resp = await c.get(f"/v1/consents?person_id={PERSON}", headers=eh)
                assert resp.status_code == 200, resp.text
                methods = {item["id"]: item["method"] for item in resp.json()["items"]}
                assert methods == {"c-verbal": "in_person", "c-phone": "phone"}
                # The trigger lifted for the correction is back: consents stay append-only.
                with pytest.raises(DBAPIError, match="append-only"):
                    async with app.state.runtime.db.session() as session:
                        await session.execute(text("UPDATE consent SET method = 'written'"))
    finally:
        await drop_test_database(url)
