"""Bulk import of open episodes (issue 22 item 2, imports.py, docs/import.md)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from services.assessments.models import IMPORT_RECORD, Episode
from services.assessments.tests.conftest import EH, events, h

URL = "/v1/imports/episodes"
IMPORTER = {
    "agency_type": "admin",
    "agency_id": "council",
    "client_id": "import-client",
    "scopes": "imports:write",
}


def row(source_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "referral_id": str(uuid.uuid4()),
        "referral_received_at": "2026-09-01T09:00:00Z",
        "person_ids": [str(uuid.uuid4())],
        "adult_person_ids": [str(uuid.uuid4())],
        "level_of_need": "partnership_plus",
        "opened_at": "2026-09-03T10:00:00Z",
        "lead_professional": {
            "name": "Lee Lead",
            "agency_id": "eh-team",
            "email": "lee@eh.example",
            "family_agreed": True,
        },
        "taf": [{"agency_id": "school-1", "agency_type": "education", "name": "Sam School", "role": "DSL"}],
        **extra,
    }


async def count(svc: Any, table: Any) -> int:
    async with svc.runtime.db.session(write=False) as s:
        return int((await s.execute(select(func.count()).select_from(table))).scalar_one())


async def test_open_episodes_are_imported_once_with_their_events(svc: Any) -> None:
    body = {"episodes": [row("E1"), row("E2", referral_id=None, referral_received_at=None, taf=[])]}
    first = await svc.client.post(URL, json=body, headers=h(svc, IMPORTER))
    assert first.status_code == 200, first.text
    made = first.json()["episodes"]
    assert [e["created"] for e in made] == [True, True]
    again = await svc.client.post(URL, json=body, headers=h(svc, IMPORTER))
    assert [(e["id"], e["created"]) for e in again.json()["episodes"]] == [(e["id"], False) for e in made]
    assert await count(svc, Episode.__table__) == 2
    # The episode as anyone reads it: opened when the incumbent system opened it, its lead and TAF.
    read = (await svc.client.get(f"/v1/episodes/{made[0]['id']}", headers=h(svc, EH))).json()
    assert read["opened_at"].startswith("2026-09-03T10:00")
    assert read["lead_professional"]["email"] == "lee@eh.example"
    assert [m["agency_id"] for m in read["taf_members"]] == ["school-1"]
    # The events the notifications service makes deadlines of, once each.
    opened = await events(svc, "episode.opened")
    assert {e["episode_id"] for e in opened} == {e["id"] for e in made}
    assert opened[0]["opened_at"].startswith("2026-09-03T10:00")
    assert len(await events(svc, "lead_professional.assigned")) == 2
    assert len(await events(svc, "taf.member_added")) == 1


async def test_wrong_rows_are_named_and_nothing_is_stored(svc: Any, fake_people: Any) -> None:
    stranger = str(uuid.uuid4())
    fake_people.unknown.add(stranger)
    bad_lead = row("E2")
    bad_lead["lead_professional"]["family_agreed"] = False
    body = {
        "episodes": [row("E1", person_ids=[stranger]), bad_lead, row("E3", opened_at="2999-01-01T00:00:00Z")]
    }
    resp = await svc.client.post(URL, json=body, headers=h(svc, IMPORTER))
    assert resp.status_code == 422, resp.text
    assert {e["field"] for e in resp.json()["errors"]} == {
        "episodes.0.person_ids.0",
        "episodes.1.lead_professional.family_agreed",
        "episodes.2.opened_at",
    }
    assert await count(svc, Episode.__table__) == 0
    assert await count(svc, IMPORT_RECORD) == 0


async def test_only_the_council_import_client_may_import(svc: Any) -> None:
    for who in ({**EH, "scopes": "imports:write"}, {**IMPORTER, "practitioner_id": "p-1"}):
        resp = await svc.client.post(URL, json={"episodes": [row("E1")]}, headers=h(svc, who))
        assert resp.status_code == 403, resp.text
    assert await count(svc, Episode.__table__) == 0
