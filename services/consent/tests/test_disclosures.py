"""The disclosure log: recorded by services, read and exported for a subject access request."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest


def disclosure(person_id, n, agency_id="police-west", **overrides):
    body = {
        "person_id": person_id,
        "agency_id": agency_id,
        "resource_type": "episode",
        "resource_id": f"ep-{n}",
        "basis": "consent",
        "reference_id": str(uuid.uuid4()),
        "request_id": f"req-{n}",
        "disclosed_at": (datetime(2026, 3, 1, 9, tzinfo=UTC) + timedelta(hours=n)).isoformat(),
    }
    body.update(overrides)
    return body


@pytest.fixture
async def journey(svc, service_caller):
    """Three disclosures of one child (two to the police, one to housing) and one of another."""
    person = str(uuid.uuid4())
    bodies = [
        disclosure(person, 1),
        disclosure(person, 2, agency_id="housing-1", basis="sharing_decision", resource_type="plan"),
        disclosure(person, 3, resource_id="-23"),
    ]
    for body in bodies:
        resp = await svc.client.post("/internal/disclosures", json=body, headers=service_caller)
        assert resp.status_code == 201, resp.text
    other = await svc.client.post(
        "/internal/disclosures", json=disclosure(str(uuid.uuid4()), 4), headers=service_caller
    )
    assert other.status_code == 201
    return person, bodies


FIELDS = ("agency_id", "resource_type", "resource_id", "basis", "reference_id", "request_id")


async def test_the_log_lists_exactly_what_was_reported(svc, eh, journey):
    person, bodies = journey
    resp = await svc.client.get(f"/v1/people/{person}/disclosures", headers=eh)
    assert resp.status_code == 200
    items = resp.json()["items"]
    assert [{k: i[k] for k in FIELDS} for i in items] == [{k: b[k] for k in FIELDS} for b in bodies]
    assert [datetime.fromisoformat(i["disclosed_at"]) for i in items] == [
        datetime.fromisoformat(b["disclosed_at"]) for b in bodies
    ]
    page = (await svc.client.get(f"/v1/people/{person}/disclosures?limit=2", headers=eh)).json()
    assert [i["request_id"] for i in page["items"]] == ["req-1", "req-2"]
    rest = (
        await svc.client.get(
            f"/v1/people/{person}/disclosures", params={"cursor": page["next_cursor"]}, headers=eh
        )
    ).json()
    assert [i["request_id"] for i in rest["items"]] == ["req-3"] and rest["next_cursor"] is None


async def test_a_partner_sees_only_its_own_disclosures(svc, journey):
    person, _ = journey
    police = svc.headers(agency_type="police", agency_id="police-west", scopes="consent:read")
    items = (await svc.client.get(f"/v1/people/{person}/disclosures", headers=police)).json()["items"]
    assert {i["agency_id"] for i in items} == {"police-west"} and len(items) == 2


async def test_export_json(svc, eh, journey):
    person, _ = journey
    resp = await svc.client.get(f"/v1/people/{person}/disclosures/export?format=json", headers=eh)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    assert f'filename="disclosures-{person}.json"' in resp.headers["content-disposition"]
    out = resp.json()
    assert out["person_id"] == person and out["count"] == 3
    assert [d["request_id"] for d in out["disclosures"]] == ["req-1", "req-2", "req-3"]


async def test_export_csv_has_a_header_row(svc, eh, journey):
    person, _ = journey
    resp = await svc.client.get(f"/v1/people/{person}/disclosures/export?format=csv", headers=eh)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert resp.text.splitlines()[0].startswith("disclosed_at,agency_id,resource_type,resource_id,basis")
    assert [r["request_id"] for r in rows] == ["req-1", "req-2", "req-3"]
    assert rows[1]["agency_id"] == "housing-1" and rows[1]["basis"] == "sharing_decision"
    assert rows[2]["resource_id"] == "'-23"  # never a live formula in a spreadsheet
    bad = await svc.client.get(f"/v1/people/{person}/disclosures/export?format=xml", headers=eh)
    assert bad.status_code == 422


async def test_only_services_record_disclosures(svc, eh):
    body = disclosure(str(uuid.uuid4()), 1)
    assert (await svc.client.post("/internal/disclosures", json=body, headers=eh)).status_code == 403


async def test_disclosure_input_is_validated(svc, service_caller):
    body = disclosure(str(uuid.uuid4()), 1, basis="hunch", extra="x")
    resp = await svc.client.post("/internal/disclosures", json=body, headers=service_caller)
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} == {"basis", "extra"}


async def test_the_practitioner_who_read_it_is_recorded_and_exported(svc, eh, service_caller):
    person = str(uuid.uuid4())
    by_person = disclosure(person, 1, practitioner_id="3f1c9a56-7d1e-4c55-9b8e-0c1f2a3b4c5d")
    by_system = disclosure(person, 2)
    for body in (by_person, by_system):
        resp = await svc.client.post("/internal/disclosures", json=body, headers=service_caller)
        assert resp.status_code == 201, resp.text
        assert resp.json()["practitioner_id"] == body.get("practitioner_id")
    expected = [by_person["practitioner_id"], None]

    items = (await svc.client.get(f"/v1/people/{person}/disclosures", headers=eh)).json()["items"]
    assert [i["practitioner_id"] for i in items] == expected
    exported = (
        await svc.client.get(f"/v1/people/{person}/disclosures/export?format=json", headers=eh)
    ).json()
    assert [d["practitioner_id"] for d in exported["disclosures"]] == expected
    csv_text = (await svc.client.get(f"/v1/people/{person}/disclosures/export?format=csv", headers=eh)).text
    assert csv_text.splitlines()[0].endswith(",id,practitioner_id")  # appended: positions unchanged
    assert [r["practitioner_id"] for r in csv.DictReader(io.StringIO(csv_text))] == [expected[0], ""]


async def test_the_practitioner_id_is_validated(svc, service_caller):
    body = disclosure(str(uuid.uuid4()), 1, practitioner_id="Jane Smith, Police")
    resp = await svc.client.post("/internal/disclosures", json=body, headers=service_caller)
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json()["errors"]] == ["practitioner_id"]


@pytest.mark.parametrize(
    ("resource_type", "basis"),
    [("referral", "own_submission"), ("referral", "statutory_function"), ("person", "mash_screening")],
)
async def test_reads_in_the_referrals_service_can_be_logged(svc, eh, service_caller, resource_type, basis):
    person = str(uuid.uuid4())
    body = disclosure(person, 1, resource_type=resource_type, basis=basis, reference_id=None)
    resp = await svc.client.post("/internal/disclosures", json=body, headers=service_caller)
    assert resp.status_code == 201, resp.text
    [item] = (await svc.client.get(f"/v1/people/{person}/disclosures", headers=eh)).json()["items"]
    assert (item["resource_type"], item["basis"]) == (resource_type, basis)
