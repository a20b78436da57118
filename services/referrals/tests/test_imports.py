"""Bulk import into the referrals service (issue 22 item 2, imports.py, docs/import.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from services.referrals.models import IMPORT_RECORD, Person, PersonRelationship, Referral
from services.referrals.tests.conftest import rfs

URL = "/v1/imports/referrals"


def importer(svc: Any, **extra: Any) -> dict[str, str]:
    return svc.h.headers(  # type: ignore[no-any-return]
        agency_type="admin", agency_id="council", client_id="import-client", scopes="imports:write", **extra
    )


def batch(prefix: str = "") -> dict[str, Any]:
    return {
        "children": [
            {
                "source_id": f"{prefix}P1",
                "given_name": "Lily",
                "family_name": "Marsh",
                "date_of_birth": "2016-05-04",
                "postcode": "s60 2ab",
            }
        ],
        "adults": [
            {"source_id": f"{prefix}P2", "given_name": "Kath", "family_name": "Marsh", "postcode": "S60 2AB"}
        ],
        "relationships": [
            {
                "source_id": f"{prefix}R1",
                "person": f"{prefix}P2",
                "type": "mother_of",
                "related_person": f"{prefix}P1",
            }
        ],
        "referrals": [
            {
                "source_id": f"{prefix}F1",
                "referral_type": "request_for_support",
                "source_agency_id": "oakfield-school",
                "source_agency_type": "education",
                "referrer": {"name": "Jo Clarke", "role": "DSL"},
                "children": [f"{prefix}P1"],
                "adults": [{"person": f"{prefix}P2", "relationship": "mother"}],
                "address": {"line1": "2 Ash Road", "town": "Rotherham", "postcode": "S60 2AB"},
                "needs": ["school_attendance"],
                "summary": "Attendance 80%.",
                "received_at": "2026-06-01T09:00:00Z",
                "decision": {
                    "level_of_need": "partnership_plus",
                    "outcome": "team_around_the_family",
                    "rationale": "Several needs.",
                    "decided_by": {"name": "Pat MASH", "role": "Team manager"},
                    "decided_at": "2026-06-02T09:00:00Z",
                },
            }
        ],
    }


async def count(svc: Any, table: Any) -> int:
    async with svc.runtime.db.session(write=False) as s:
        return int((await s.execute(select(func.count()).select_from(table))).scalar_one())


async def test_a_batch_is_stored_and_a_rerun_creates_nothing_twice(svc: Any) -> None:
    first = await svc.client.post(URL, json=batch(), headers=importer(svc))
    assert first.status_code == 200, first.text
    out = first.json()
    assert [i["created"] for i in out["children"] + out["adults"] + out["referrals"]] == [True] * 3
    assert out["children"][0]["match"] == "new"
    again = await svc.client.post(URL, json=batch(), headers=importer(svc))
    assert again.status_code == 200, again.text
    assert [i["created"] for k in again.json() for i in again.json()[k]] == [False] * 4
    assert again.json()["referrals"][0]["id"] == out["referrals"][0]["id"]
    assert await count(svc, Person.__table__) == 2
    assert await count(svc, Referral.__table__) == 1
    assert await count(svc, PersonRelationship.__table__) >= 1
    assert await count(svc, IMPORT_RECORD) == 4
    # The imported referral reads as any other: decided, with its own dates, no event sent.
    referral = (
        await svc.client.get(f"/v1/referrals/{out['referrals'][0]['id']}", headers=svc.as_("mash"))
    ).json()
    assert referral["status"] == "decided" and referral["received_at"].startswith("2026-06-01")
    assert referral["reference"].startswith("RFS-")
    assert referral["decision"]["outcome"] == "team_around_the_family"
    assert referral["children"][0]["person_id"] == out["children"][0]["id"]
    assert await svc.outbox() == []


async def test_a_child_the_index_holds_is_linked_not_doubled(svc: Any) -> None:
    known = await svc.create(body=rfs())
    amira = known["children"][0]["person_id"]
    body: dict[str, Any] = {
        "children": [
            {
                "source_id": "A1",
                "given_name": "Amira",
                "family_name": "Ahmed",
                "date_of_birth": "2017-03-02",
                "postcode": "S60 1AE",
            },
            # The incumbent system held her twice: the second row links to the same person.
            {
                "source_id": "A2",
                "given_name": "Amira",
                "family_name": "Ahmed",
                "date_of_birth": "2017-03-02",
                "postcode": "S60 1AE",
            },
        ]
    }
    resp = await svc.client.post(URL, json=body, headers=importer(svc))
    assert resp.status_code == 200, resp.text
    assert [(c["id"], c["match"]) for c in resp.json()["children"]] == [
        (amira, "certain"),
        (amira, "certain"),
    ]


async def test_a_wrong_row_stores_nothing_and_names_row_and_field(svc: Any) -> None:
    body = batch()
    body["referrals"][0]["children"] = ["NOPE"]
    body["referrals"][0]["decision"]["level_of_need"] = "universal"
    resp = await svc.client.post(URL, json=body, headers=importer(svc))
    assert resp.status_code == 422, resp.text
    fields = {e["field"] for e in resp.json()["errors"]}
    assert "referrals.0.decision.level_of_need" in fields
    assert await count(svc, Person.__table__) == 0
    assert await count(svc, IMPORT_RECORD) == 0
    resp = await svc.client.post(URL, json={"children": batch()["children"] * 2}, headers=importer(svc))
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "children.1.source_id"


async def test_an_unknown_person_reference_is_named(svc: Any) -> None:
    body = {"referrals": batch()["referrals"]}
    resp = await svc.client.post(URL, json=body, headers=importer(svc))
    assert resp.status_code == 422, resp.text
    assert {e["field"] for e in resp.json()["errors"]} == {
        "referrals.0.children.0",
        "referrals.0.adults.0.person",
    }


async def test_only_the_council_import_client_may_import(svc: Any) -> None:
    for headers in (
        svc.as_("mash"),
        importer(svc, practitioner_id="p-1"),
        svc.h.headers(agency_type="early_help", agency_id="eh", client_id="eh", scopes="imports:write"),
    ):
        resp = await svc.client.post(URL, json=batch(), headers=headers)
        assert resp.status_code == 403, resp.text
    assert await count(svc, Person.__table__) == 0
