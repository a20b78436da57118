"""Bulk import of consents (issue 22 item 2, imports.py, docs/import.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from services.consent.models import IMPORT_RECORD, Consent, ConsentWithdrawal
from services.consent.tests.helpers import consent_body, outbox_events

URL = "/v1/imports/consents"
IMPORTER = {
    "agency_type": "admin",
    "agency_id": "council",
    "client_id": "import-client",
    "scopes": "imports:write",
}


def row(source_id: str, **extra: Any) -> dict[str, Any]:
    return {**consent_body(obtained_at="2026-06-01T09:00:00Z"), "source_id": source_id, **extra}


async def count(svc: Any, table: Any) -> int:
    async with svc.runtime.db.session(write=False) as s:
        return int((await s.execute(select(func.count()).select_from(table))).scalar_one())


async def test_consents_are_imported_once_live_withdrawn_and_expired(svc: Any, eh: dict[str, str]) -> None:
    withdrawn = row("C2", withdrawal={"withdrawn_at": "2026-07-01T10:00:00Z", "reason": "Family moved away"})
    body = {"consents": [row("C1"), withdrawn, row("C3", expires_on="2026-08-01")]}
    first = await svc.client.post(URL, json=body, headers=svc.headers(**IMPORTER))
    assert first.status_code == 200, first.text
    made = first.json()["consents"]
    assert [c["created"] for c in made] == [True, True, True]
    again = await svc.client.post(URL, json=body, headers=svc.headers(**IMPORTER))
    assert again.json()["consents"] == [{**c, "created": False} for c in made]
    assert await count(svc, Consent.__table__) == 3
    assert await count(svc, ConsentWithdrawal.__table__) == 1
    # As anyone reads them: obtained when the incumbent system says, withdrawn and expired too.
    read = [(await svc.client.get(f"/v1/consents/{c['id']}", headers=eh)).json() for c in made]
    assert [c["status"] for c in read] == ["active", "withdrawn", "expired"]
    assert read[0]["obtained_at"].startswith("2026-06-01T09:00")
    assert read[1]["withdrawal"]["withdrawn_at"].startswith("2026-07-01T10:00")
    # Only the live consent announces itself (its review deadline); the others are history.
    given = await outbox_events(svc, "consent.given")
    assert [e["data"]["consent_id"] for e in given] == [made[0]["id"]]
    assert given[0]["data"]["given_at"].startswith("2026-06-01T09:00")
    assert await outbox_events(svc, "consent.withdrawn") == []


async def test_wrong_rows_are_named_and_nothing_is_stored(svc: Any) -> None:
    body = {
        "consents": [
            row("C1", competence="presumed_16_plus"),  # a parent gives parental consent
            row("C2", obtained_at="2999-01-01T00:00:00Z"),
            row("C3", expires_on="2026-06-01"),
            row("C4", withdrawal={"withdrawn_at": "2026-05-01T00:00:00Z", "reason": "x"}),
            row("C1"),
        ]
    }
    resp = await svc.client.post(URL, json=body, headers=svc.headers(**IMPORTER))
    assert resp.status_code == 422, resp.text
    assert {e["field"] for e in resp.json()["errors"]} == {
        "consents.0.competence",
        "consents.1.obtained_at",
        "consents.2.expires_on",
        "consents.3.withdrawal.withdrawn_at",
        "consents.4.source_id",
    }
    assert await count(svc, Consent.__table__) == 0
    assert await count(svc, IMPORT_RECORD) == 0


async def test_a_dry_run_stores_nothing(svc: Any) -> None:
    body = {"consents": [row("C1")], "dry_run": True}
    resp = await svc.client.post(URL, json=body, headers=svc.headers(**IMPORTER))
    assert resp.status_code == 200, resp.text
    assert resp.json()["consents"][0]["created"] is True
    assert await count(svc, Consent.__table__) == 0
    assert await count(svc, IMPORT_RECORD) == 0
    assert await outbox_events(svc, "consent.given") == []


async def test_only_the_council_import_client_may_import(svc: Any) -> None:
    for who in (
        {"agency_type": "early_help", "agency_id": "eh-team", "scopes": "imports:write consent:write"},
        {**IMPORTER, "practitioner_id": "p-1"},
    ):
        resp = await svc.client.post(URL, json={"consents": [row("C1")]}, headers=svc.headers(**who))
        assert resp.status_code == 403, resp.text
    no_scope = {**IMPORTER, "scopes": "consent:write"}
    resp = await svc.client.post(URL, json={"consents": [row("C1")]}, headers=svc.headers(**no_scope))
    assert resp.status_code == 403, resp.text
    assert await count(svc, Consent.__table__) == 0
