"""Migration 0003 (issue 18) keeps the data written before it readable and workable."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta

import httpx
import sqlalchemy as sa

from services.assessments.config import Settings
from services.assessments.main import create_app
from services.assessments.tests.conftest import EH, SERVICE_DIR, StaticTokens, h
from shared.db import alembic_upgrade, create_engine
from shared.service_client import ServiceClient
from shared.testing import create_test_database, drop_test_database

ERIN = {**EH, "practitioner_id": "p-erin", "roles": "early_help_manager"}


def _rows(now: datetime) -> dict[str, list[dict]]:
    eid, aid, plan, action = (str(uuid.uuid4()) for _ in range(4))
    person = str(uuid.uuid4())
    due = now + timedelta(days=30)
    return {
        "episode": [
            {
                "id": eid,
                "reference": "EH-2026-000001",
                "origin": "referral",
                "level_of_need": "partnership_plus",
                "status": "open",
                "opened_at": now,
                "first_contact_due_at": due,
                "assessment_start_due_at": due,
                "assessment_complete_due_at": due,
                "social_care_involved": False,
                "version": 1,
            }
        ],
        "episode_person": [{"episode_id": eid, "person_id": person}],
        "lead_professional": [
            {
                "id": str(uuid.uuid4()),
                "episode_id": eid,
                "name": "Erin Early",
                "agency_id": "eh-team",
                "email": "erin@council.example",
                "family_agreed": True,
                "assigned_at": now,
                "assigned_by_agency_id": "eh-team",
            }
        ],
        "taf_member": [
            {
                "id": str(uuid.uuid4()),
                "episode_id": eid,
                "agency_id": "school-1",
                "agency_type": "education",
                "name": "Ms Head",
                "role": "DSL",
                "added_at": now,
            }
        ],
        "assessment": [
            {
                "id": aid,
                "episode_id": eid,
                "status": "submitted",
                "started_at": now,
                "submitted_at": now,
                "due_on": date.today() + timedelta(days=30),
                "family_members": [{"role": "child"}],
                "baseline": {},
                "factors": [],
                "diversity": {},
                "analysis": "Written before issue 18.",
                "priorities": [],
                "version": 2,
            }
        ],
        "plan": [
            {"id": plan, "episode_id": eid, "version": 1, "agreed_at": now, "agreed_by_agency_id": "eh-team"}
        ],
        "plan_action": [
            {
                "row_id": str(uuid.uuid4()),
                "plan_id": plan,
                "action_id": action,
                "position": 0,
                "description": "Daily check-in",
                "owner_agency_id": "school-1",
                "owner_name": "Ms Head",
                "due_on": date.today() + timedelta(days=30),
                "outcome_refs": [],
                "status": "open",
                "version": 1,
            }
        ],
    }


async def test_rows_written_before_0003_stay_readable_and_workable(tmp_path, signer):
    url = await create_test_database(tmp_path, "assessments")
    try:
        await asyncio.to_thread(alembic_upgrade, SERVICE_DIR, url, "0002")
        now = datetime.now(UTC).replace(microsecond=0)
        rows = _rows(now)
        engine = create_engine(url)

        def insert(conn: sa.Connection) -> None:
            meta = sa.MetaData()
            meta.reflect(conn)
            for table, values in rows.items():
                conn.execute(meta.tables[table].insert(), values)

        async with engine.begin() as conn:
            await conn.run_sync(insert)
        await engine.dispose()
        await asyncio.to_thread(alembic_upgrade, SERVICE_DIR, url, "head")

        settings = Settings(
            database_url=url, environment="test", data_dir=tmp_path, gateway_url="http://127.0.0.1:9"
        )
        app = create_app(settings, keys=signer.keyset())
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(app.router.lifespan_context(app))
            token = signer.identity_token(agency_type="service", audience="early-help-api", scopes="")
            app.state.runtime.clients["consent"] = ServiceClient(
                "http://consent.test",
                StaticTokens(token),
                transport=httpx.MockTransport(lambda r: httpx.Response(404)),
            )
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")
            )
            svc = type("Svc", (), {"headers": staticmethod(lambda **kw: signer.auth_header(**kw))})()
            eid = rows["episode"][0]["id"]
            got = await client.get(f"/v1/episodes/{eid}", headers=h(svc, EH))
            assert got.status_code == 200, got.text
            lead, member = got.json()["lead_professional"], got.json()["taf_members"][0]
            assert lead["practitioner_id"] is None and lead["manager_delegates"] is False
            assert member["practitioner_id"] is None and member["family_agreed"] is False
            assert got.json()["signed_off_by_practitioner_id"] is None
            # Migration 0005 (issue 20): the episode's children are its family.
            person = rows["episode_person"][0]["person_id"]
            family = [(m["person_id"], m["role"], m["relationship"]) for m in got.json()["family_members"]]
            assert family == [(person, "child", None)]
            aid = rows["assessment"][0]["id"]
            a = await client.get(f"/v1/assessments/{aid}", headers=h(svc, EH))
            assert a.status_code == 200 and a.json()["author_practitioner_id"] is None
            # No author recorded: a manager may approve it (no one to compare with).
            waiting = await client.get("/v1/assessments?status=submitted", headers=h(svc, ERIN))
            assert [x["id"] for x in waiting.json()["items"]] == [aid]
            approve = {"approved_by": {"name": "Erin", "role": "manager"}}
            r = await client.post(f"/v1/assessments/{aid}/approve", json=approve, headers=h(svc, ERIN))
            assert r.status_code == 200, r.text
            plan = await client.get(f"/v1/episodes/{eid}/plan", headers=h(svc, EH))
            assert plan.json()["actions"][0]["owner"]["practitioner_id"] is None
    finally:
        await drop_test_database(url)
