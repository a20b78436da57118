"""Sharing decisions, the lawful bases, and the access check every other service asks."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import get_args

from services.consent import service
from services.consent.lawful_bases import LAWFUL_BASIS_CODES
from services.consent.schemas import LawfulBasisCode
from services.consent.tests.helpers import consent_body, outbox_events
from shared.clock import LONDON

PROBLEMS = "https://early-help.example/problems/"


def london_noon(day: date) -> datetime:
    """A moment on `day` in London (the access check's "today" is `ctx.now`'s London date)."""
    return datetime.combine(day, time(12), tzinfo=LONDON)


def decision_body(person_id: str, **overrides):
    body = {
        "person_id": person_id,
        "agency_id": "police-west",
        "purpose": "information_sharing",
        "decision": "share",
        "lawful_basis": "public_task_safeguarding",
        "justification": "Domestic abuse incident; the children may be at risk of significant harm.",
        "decided_by": "j.smith@council.example",
    }
    body.update(overrides)
    return body


async def check(svc, caller, person_id, agency_id="police-west", purpose="information_sharing", taf=False):
    resp = await svc.client.get(
        "/v1/access-checks",
        params={
            "person_id": person_id,
            "agency_id": agency_id,
            "purpose": purpose,
            "on_team_around_the_family": str(taf).lower(),
        },
        headers=caller,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_lawful_bases_are_documented_with_their_references(svc, eh):
    resp = await svc.client.get("/v1/lawful-bases", headers=eh)
    assert resp.status_code == 200
    items = {b["code"]: b for b in resp.json()["items"]}
    assert set(items) == set(get_args(LawfulBasisCode)) == LAWFUL_BASIS_CODES
    assert items["consent"]["uk_gdpr"] == "Art. 6(1)(a)"
    assert "Sch. 1 Part 2 para. 18" in items["public_task_safeguarding"]["dpa_2018"]
    assert all(b["uk_gdpr"].startswith("Art. 6(1)(") for b in items.values())


async def test_sharing_without_consent_needs_an_approving_manager(svc, eh, service_caller):
    person = str(uuid.uuid4())
    refused = await svc.client.post("/v1/sharing-decisions", json=decision_body(person), headers=eh)
    assert refused.status_code == 422
    assert refused.json()["type"] == PROBLEMS + "approval-required"
    assert refused.json()["errors"][0]["field"] == "approved_by"
    assert (await check(svc, service_caller, person))["allowed"] is False

    same_person = decision_body(person, approved_by="J.Smith@council.example")
    assert (await svc.client.post("/v1/sharing-decisions", json=same_person, headers=eh)).status_code == 422

    body = decision_body(person, approved_by="team.manager@council.example")
    created = await svc.client.post("/v1/sharing-decisions", json=body, headers=eh)
    assert created.status_code == 201, created.text
    decision = created.json()
    assert decision["approved_by"] == "team.manager@council.example"
    assert created.headers["location"] == f"/v1/sharing-decisions/{decision['id']}"
    assert await check(svc, service_caller, person) == {
        "allowed": True,
        "basis": "sharing_decision",
        "reference_id": decision["id"],
        "reason": "decision_share",
        "practitioner_id": None,
    }
    # Only that agency and purpose.
    assert (await check(svc, service_caller, person, agency_id="housing-1"))["allowed"] is False
    assert (await check(svc, service_caller, person, purpose="early_help_service"))["allowed"] is False

    events = await outbox_events(svc, "sharing.decided")
    assert [e["data"]["decision_id"] for e in events] == [decision["id"]]
    assert "manager" not in str(events) and "Domestic" not in str(events)


async def test_share_decision_rules(svc, eh):
    person = str(uuid.uuid4())
    no_basis = await svc.client.post(
        "/v1/sharing-decisions", json=decision_body(person, lawful_basis=None), headers=eh
    )
    assert no_basis.json()["errors"][0]["field"] == "lawful_basis"
    # "consent" as the basis needs a live consent covering it.
    on_consent = decision_body(person, lawful_basis="consent")
    refused = await svc.client.post("/v1/sharing-decisions", json=on_consent, headers=eh)
    assert refused.status_code == 422
    assert refused.json()["type"] == PROBLEMS + "consent-required"
    await svc.client.post(
        "/v1/consents", json=consent_body(person_id=person, agencies=["police-west"]), headers=eh
    )
    assert (await svc.client.post("/v1/sharing-decisions", json=on_consent, headers=eh)).status_code == 201
    # Not sharing needs no approver; the justification is always required.
    keep = decision_body(person, decision="do_not_share", lawful_basis=None, agency_id="housing-1")
    assert (await svc.client.post("/v1/sharing-decisions", json=keep, headers=eh)).status_code == 201
    blank = decision_body(person, decision="do_not_share", justification="  ")
    assert (await svc.client.post("/v1/sharing-decisions", json=blank, headers=eh)).json()["errors"][0][
        "field"
    ] == "justification"
    # Recording decisions needs sharing:write (social care has consent:read only).
    social = svc.headers(agency_type="social_care", scopes="consent:read consent:write")
    assert (await svc.client.post("/v1/sharing-decisions", json=keep, headers=social)).status_code == 403


async def test_a_correction_supersedes_and_decides(svc, eh, service_caller):
    person = str(uuid.uuid4())
    first = (
        await svc.client.post(
            "/v1/sharing-decisions", json=decision_body(person, approved_by="m@council.example"), headers=eh
        )
    ).json()
    correction = decision_body(
        person,
        decision="do_not_share",
        lawful_basis=None,
        supersedes_id=first["id"],
        justification="Recorded against the wrong family; no concern here.",
    )
    second = await svc.client.post("/v1/sharing-decisions", json=correction, headers=eh)
    assert second.status_code == 201, second.text
    assert second.json()["supersedes_id"] == first["id"]
    result = await check(svc, service_caller, person)
    assert result == {
        "allowed": False,
        "basis": "sharing_decision",
        "reference_id": second.json()["id"],
        "reason": "decision_do_not_share",
        "practitioner_id": None,
    }

    # The original is still there, unchanged, and says who replaced it.
    listed = (await svc.client.get(f"/v1/sharing-decisions?person_id={person}", headers=eh)).json()["items"]
    by_id = {d["id"]: d for d in listed}
    assert by_id[first["id"]]["decision"] == "share"
    assert by_id[first["id"]]["superseded_by_id"] == second.json()["id"]
    assert by_id[second.json()["id"]]["superseded_by_id"] is None

    again = await svc.client.post("/v1/sharing-decisions", json=correction, headers=eh)
    assert again.status_code == 409
    assert again.json()["type"] == PROBLEMS + "decision-already-superseded"
    other_person = decision_body(
        str(uuid.uuid4()), decision="do_not_share", supersedes_id=second.json()["id"]
    )
    bad = await svc.client.post("/v1/sharing-decisions", json=other_person, headers=eh)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "supersedes_id"


async def test_a_do_not_share_decision_overrides_consent(svc, eh, service_caller):
    person = str(uuid.uuid4())
    await svc.client.post(
        "/v1/consents", json=consent_body(person_id=person, agencies=["police-west"]), headers=eh
    )
    assert (await check(svc, service_caller, person))["basis"] == "consent"
    no = decision_body(person, decision="do_not_share", lawful_basis=None)
    await svc.client.post("/v1/sharing-decisions", json=no, headers=eh)
    assert (await check(svc, service_caller, person))["allowed"] is False


async def test_access_by_consent_and_withdrawal_denies_at_once(svc, eh, service_caller):
    person = str(uuid.uuid4())
    assert await check(svc, service_caller, person) == {
        "allowed": False,
        "basis": None,
        "reference_id": None,
        "reason": "no_consent_or_decision",
        "practitioner_id": None,
    }
    consent = (await svc.client.post("/v1/consents", json=consent_body(person_id=person), headers=eh)).json()
    # Given to the Team Around the Family: covers an agency only if the caller says it is on it.
    assert (await check(svc, service_caller, person))["allowed"] is False
    on_taf = await check(svc, service_caller, person, taf=True)
    assert on_taf == {
        "allowed": True,
        "basis": "consent",
        "reference_id": consent["id"],
        "reason": "consent_covers_team_around_the_family",
        "practitioner_id": None,
    }

    await svc.client.post(
        f"/v1/consents/{consent['id']}/withdraw", json={"reason": "Withdrawn at review"}, headers=eh
    )
    assert (await check(svc, service_caller, person, taf=True))["allowed"] is False


async def test_access_by_consent_respects_purpose_agencies_and_expiry(svc, eh, service_caller):
    person = str(uuid.uuid4())
    consent = (
        await svc.client.post(
            "/v1/consents",
            json=consent_body(
                person_id=person,
                agencies=["police-west"],
                purposes=["early_help_service"],
                expires_on=(date.today() + timedelta(days=10)).isoformat(),
            ),
            headers=eh,
        )
    ).json()
    ok = await check(svc, service_caller, person, purpose="early_help_service")
    assert ok["allowed"] and ok["reference_id"] == consent["id"] and ok["reason"] == "consent_names_agency"
    assert (await check(svc, service_caller, person, purpose="information_sharing"))["allowed"] is False
    assert (
        await check(
            svc, service_caller, person, agency_id="housing-1", purpose="early_help_service", taf=True
        )
    )["allowed"] is False
    # After the expiry date the consent no longer counts (checked by the service function directly).
    async with svc.runtime.db.session(write=False) as session:
        later = await service.check_access(
            service.Context.for_system(session, svc.runtime, london_noon(date.today() + timedelta(days=11))),
            person,
            "police-west",
            "early_help_service",
        )
        on_last_day = await service.check_access(
            service.Context.for_system(session, svc.runtime, london_noon(date.today() + timedelta(days=10))),
            person,
            "police-west",
            "early_help_service",
        )
    assert later.allowed is False and on_last_day.allowed is True


async def test_only_service_identities_may_check_access(svc, eh):
    resp = await svc.client.get(
        "/v1/access-checks",
        params={"person_id": str(uuid.uuid4()), "agency_id": "police-west", "purpose": "information_sharing"},
        headers=eh,
    )
    assert resp.status_code == 403


async def test_access_check_validates_its_query(svc, service_caller):
    resp = await svc.client.get(
        "/v1/access-checks",
        params={"person_id": "x", "agency_id": "p", "purpose": "gossip"},
        headers=service_caller,
    )
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} == {"person_id", "purpose"}
