"""Consent records: the age and competence rules, listing, withdrawal and its event."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.consent.tests.helpers import consent_body, outbox_events
from shared.clock import LONDON

PROBLEMS = "https://early-help.example/problems/"


def body_for(given_by: str, competence: str, age: tuple[int, int] | None) -> dict:
    """A consent obtained an hour ago, by a person born `age` = (years, days more) before that
    day, built when the test runs: the rule counts age on the day consent was obtained (London
    time), so a date fixed at collection, or counted from today, is a day out in a run that
    crosses midnight or starts in the hour after it."""
    obtained = datetime.now(UTC) - timedelta(hours=1)
    body = consent_body(
        given_by={"name": "A Person", "relationship": given_by},
        competence=competence,
        obtained_at=obtained.isoformat(),
    )
    if age is not None:
        years, days = age
        day = obtained.astimezone(LONDON).date()
        try:
            born = day.replace(year=day.year - years)
        except ValueError:  # 29 February
            born = day.replace(year=day.year - years, day=28)
        body["person_date_of_birth"] = (born - timedelta(days=days)).isoformat()
    return body


@pytest.mark.parametrize(
    ("given_by", "competence", "age"),
    [
        ("self", "presumed_16_plus", (16, 0)),  # 16 today
        ("self", "presumed_16_plus", None),  # the recorder vouches for the age
        ("self", "gillick_competent", (13, 0)),
        ("parent", "parental", (9, 0)),
        ("carer", "parental", None),
        ("guardian", "parental", (15, -1)),  # turns 16 tomorrow
    ],
)
async def test_who_may_consent(svc, eh, given_by, competence, age):
    body = body_for(given_by, competence, age)
    resp = await svc.client.post("/v1/consents", json=body, headers=eh)
    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert out["status"] == "active"
    assert out["competence"] == competence
    assert resp.headers["location"] == f"/v1/consents/{out['id']}"
    assert "person_date_of_birth" not in out  # checked, never stored


@pytest.mark.parametrize(
    ("given_by", "competence", "age", "field"),
    [
        ("self", "presumed_16_plus", (15, -1), "person_date_of_birth"),  # 16 tomorrow
        ("self", "parental", None, "competence"),
        ("parent", "gillick_competent", None, "competence"),
        ("carer", "presumed_16_plus", None, "competence"),
        ("parent", "parental", (16, 0), "given_by.relationship"),  # Kayla consents herself
    ],
)
async def test_competence_rule_refusals_name_the_rule(svc, eh, given_by, competence, age, field):
    body = body_for(given_by, competence, age)
    resp = await svc.client.post("/v1/consents", json=body, headers=eh)
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert problem["type"] == PROBLEMS + "competence-rule"
    assert problem["errors"][0]["field"] == field
    assert await outbox_events(svc, "consent.given") == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"purposes": ["marketing"]}, "purposes.0"),
        ({"purposes": []}, "purposes"),
        ({"agencies": []}, "agencies"),
        ({"agencies": ["bad agency!"]}, "agencies.0"),
        ({"expires_on": date.today().isoformat()}, "expires_on"),
        ({"obtained_at": "2020-01-01T10:00:00"}, "obtained_at"),  # no timezone
        ({"obtained_at": "2999-01-01T10:00:00Z"}, "obtained_at"),
        ({"person_id": "not-a-uuid"}, "person_id"),
        ({"nickname": "x"}, "nickname"),
        ({"given_by": {"name": "x" * 201, "relationship": "self"}}, "given_by.name"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(svc, eh, overrides, field):
    resp = await svc.client.post("/v1/consents", json=consent_body(**overrides), headers=eh)
    assert resp.status_code == 422, resp.text
    assert field in {e["field"] for e in resp.json()["errors"]}


async def test_scopes(svc):
    reader = svc.headers(agency_type="social_care", agency_id="sc", scopes="consent:read")
    resp = await svc.client.post("/v1/consents", json=consent_body(), headers=reader)
    assert resp.status_code == 403
    assert 'scope="consent:write"' in resp.headers["www-authenticate"]
    nobody = svc.headers(agency_type="early_help", scopes="")
    assert (await svc.client.get(f"/v1/consents?person_id={uuid.uuid4()}", headers=nobody)).status_code == 403


async def test_consent_given_event_and_listing(svc, eh):
    body = consent_body(expires_on=(date.today() + timedelta(days=365)).isoformat())
    created = (await svc.client.post("/v1/consents", json=body, headers=eh)).json()
    other = consent_body(person_id=body["person_id"], agencies=["police-west"])
    await svc.client.post("/v1/consents", json=other, headers=eh)
    await svc.client.post("/v1/consents", json=consent_body(), headers=eh)  # someone else

    listed = await svc.client.get(f"/v1/consents?person_id={body['person_id']}", headers=eh)
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == 2
    assert {c["person_id"] for c in listed.json()["items"]} == {body["person_id"]}

    events = await outbox_events(svc, "consent.given")
    assert len(events) == 3
    data = events[0]["data"]
    assert data == {
        "consent_id": created["id"],
        "person_id": body["person_id"],
        "purposes": body["purposes"],
        "agencies": ["team_around_the_family"],
        "given_at": data["given_at"],
        "expires_on": body["expires_on"],
    }
    assert "Samira" not in str(events)  # no personal details in events


async def test_partner_agency_sees_only_consents_naming_it(svc, eh):
    person = str(uuid.uuid4())
    named = (
        await svc.client.post(
            "/v1/consents", json=consent_body(person_id=person, agencies=["police-west"]), headers=eh
        )
    ).json()
    taf = (await svc.client.post("/v1/consents", json=consent_body(person_id=person), headers=eh)).json()
    police = svc.headers(agency_type="police", agency_id="police-west", scopes="consent:read")
    listed = (await svc.client.get(f"/v1/consents?person_id={person}", headers=police)).json()
    assert [c["id"] for c in listed["items"]] == [named["id"]]
    assert (await svc.client.get(f"/v1/consents/{taf['id']}", headers=police)).status_code == 404
    assert (await svc.client.get(f"/v1/consents/{named['id']}", headers=police)).status_code == 200
    social = svc.headers(agency_type="social_care", agency_id="sc", scopes="consent:read")
    assert (
        len((await svc.client.get(f"/v1/consents?person_id={person}", headers=social)).json()["items"]) == 2
    )


async def test_withdrawal_is_a_new_record_published_once(svc, eh):
    created = (await svc.client.post("/v1/consents", json=consent_body(), headers=eh)).json()
    url = f"/v1/consents/{created['id']}/withdraw"
    resp = await svc.client.post(url, json={"reason": "Father withdrew consent at the review"}, headers=eh)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["status"] == "withdrawn"
    assert out["withdrawal"]["reason"] == "Father withdrew consent at the review"
    assert out["obtained_at"] == created["obtained_at"]  # the consent itself is untouched

    again = await svc.client.post(url, json={"reason": "again"}, headers=eh)
    assert again.status_code == 409
    assert again.json()["type"] == PROBLEMS + "consent-already-withdrawn"

    events = await outbox_events(svc, "consent.withdrawn")
    assert len(events) == 1
    assert events[0]["data"]["consent_id"] == created["id"]
    assert events[0]["data"]["agencies"] == ["team_around_the_family"]
    assert "Father" not in str(events)

    fetched = (await svc.client.get(f"/v1/consents/{created['id']}", headers=eh)).json()
    assert fetched["status"] == "withdrawn"


async def test_withdraw_needs_a_reason_and_an_existing_consent(svc, eh):
    created = (await svc.client.post("/v1/consents", json=consent_body(), headers=eh)).json()
    resp = await svc.client.post(f"/v1/consents/{created['id']}/withdraw", json={}, headers=eh)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "reason"
    missing = await svc.client.post(f"/v1/consents/{uuid.uuid4()}/withdraw", json={"reason": "x"}, headers=eh)
    assert missing.status_code == 404


async def test_idempotency_key_replays_the_consent(svc, eh):
    body = consent_body()
    headers = {**eh, "Idempotency-Key": "consent-1"}
    first = await svc.client.post("/v1/consents", json=body, headers=headers)
    second = await svc.client.post("/v1/consents", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["idempotency-replayed"] == "true"
    listed = await svc.client.get(f"/v1/consents?person_id={body['person_id']}", headers=eh)
    assert len(listed.json()["items"]) == 1
    other = await svc.client.post("/v1/consents", json=consent_body(), headers=headers)
    assert other.status_code == 422
