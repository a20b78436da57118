"""The FHIR R4 facade of the consent service (issue 22, docs/fhir.md): a consent as a Consent
and the disclosure log as AuditEvents, read and searched by person id with the /v1 rules, and
every resource produced validated by the R4B models of `fhir.resources`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.operationoutcome import OperationOutcome

from services.consent.tests.helpers import consent_body
from services.consent.tests.test_disclosures import disclosure

FHIR_JSON = "application/fhir+json"


def fhir_body(resp: Any, status: int = 200, model: Any = None) -> dict[str, Any]:
    """The FHIR JSON of an answer with this status, validated by the R4B model (errors:
    OperationOutcome)."""
    assert (resp.status_code, resp.headers["content-type"].split(";")[0]) == (status, FHIR_JSON), resp.text
    body: dict[str, Any] = resp.json()
    if model is None and status >= 400:
        model = OperationOutcome
    if model is not None:
        model.model_validate(body)
    return body


def ok(resp: Any, model: Any = None) -> dict[str, Any]:
    return fhir_body(resp, 200, model)


def outcome(resp: Any, status: int) -> dict[str, Any]:
    return fhir_body(resp, status)


def bundle(resp: Any, model: Any) -> list[dict[str, Any]]:
    body = ok(resp, Bundle)
    assert body["type"] == "searchset"
    resources = [e["resource"] for e in body["entry"]]
    for r in resources:
        model.model_validate(r)
    return resources


async def test_a_consent_maps_every_part_and_validates(svc, eh):
    person = str(uuid.uuid4())
    body = consent_body(
        person_id=person, agencies=["police-west", "team_around_the_family"], expires_on="2099-01-31"
    )
    made = (await svc.client.post("/v1/consents", json=body, headers=eh)).json()
    c = ok(await svc.client.get(f"/fhir/Consent/{made['id']}", headers=eh))
    Consent.model_validate(c)
    assert c["id"] == made["id"] and c["status"] == "active"
    assert c["scope"]["coding"][0]["code"] == "patient-privacy"
    assert c["patient"] == {
        "identifier": {"system": "https://early-help.example/fhir/Id/person", "value": person}
    }
    assert c["policyRule"]["coding"][0]["code"] == "consent"
    assert "Art. 6(1)(a)" in c["policyRule"]["text"]
    # Given by a parent: a contained RelatedPerson.
    assert c["performer"] == [{"reference": "#given-by", "display": "Samira Ahmed"}]
    related = c["contained"][0]
    assert (
        related["resourceType"] == "RelatedPerson"
        and related["relationship"][0]["coding"][0]["code"] == "parent"
    )
    assert {
        "url": "https://early-help.example/fhir/StructureDefinition/consent-method",
        "valueCode": "phone",
    } in c["extension"]
    provision = c["provision"]
    assert provision["type"] == "permit"
    assert provision["period"]["end"] == "2099-01-31"
    assert datetime.fromisoformat(provision["period"]["start"]) == datetime.fromisoformat(made["obtained_at"])
    assert [a["reference"] for a in provision["actor"]] == [
        {"identifier": {"system": "https://early-help.example/fhir/Id/agency", "value": "police-west"}},
        {"display": "Everyone on the Team Around the Family"},
    ]
    assert [p["code"] for p in provision["purpose"]] == ["early_help_service", "information_sharing"]
    assert c["organization"] == [
        {"identifier": {"system": "https://early-help.example/fhir/Id/agency", "value": "eh-team"}}
    ]


async def test_a_withdrawn_consent_is_inactive_and_ends_at_the_withdrawal(svc, eh):
    made = (await svc.client.post("/v1/consents", json=consent_body(), headers=eh)).json()
    resp = await svc.client.post(
        f"/v1/consents/{made['id']}/withdraw", json={"reason": "Family moved"}, headers=eh
    )
    assert resp.status_code == 200
    withdrawn_at = resp.json()["withdrawal"]["withdrawn_at"]
    c = ok(await svc.client.get(f"/fhir/Consent/{made['id']}", headers=eh))
    Consent.model_validate(c)
    assert c["status"] == "inactive"
    assert datetime.fromisoformat(c["provision"]["period"]["end"]) == datetime.fromisoformat(withdrawn_at)
    withdrawal = next(e for e in c["extension"] if e["url"].endswith("consent-withdrawal"))
    assert {"url": "reason", "valueString": "Family moved"} in withdrawal["extension"]


async def test_a_young_person_consenting_for_themself_is_the_performer(svc, eh):
    body = consent_body(
        given_by={"name": "Amira Ahmed", "relationship": "self"}, competence="gillick_competent"
    )
    made = (await svc.client.post("/v1/consents", json=body, headers=eh)).json()
    c = ok(await svc.client.get(f"/fhir/Consent/{made['id']}", headers=eh))
    Consent.model_validate(c)
    assert "contained" not in c
    assert c["performer"][0]["identifier"]["value"] == body["person_id"]


async def test_search_consents_by_person_as_v1(svc, eh):
    person = str(uuid.uuid4())
    base = datetime.now(UTC) - timedelta(days=3)
    ids = []
    for n, agencies in enumerate((["police-west"], ["team_around_the_family"])):
        body = consent_body(
            person_id=person, agencies=agencies, obtained_at=(base + timedelta(days=n)).isoformat()
        )
        ids.append((await svc.client.post("/v1/consents", json=body, headers=eh)).json()["id"])
    await svc.client.post("/v1/consents", json=consent_body(), headers=eh)  # another person
    for value in (person, f"Patient/{person}"):
        found = bundle(await svc.client.get("/fhir/Consent", params={"patient": value}, headers=eh), Consent)
        assert [c["id"] for c in found] == list(reversed(ids))  # newest first, as /v1
    one = bundle(
        await svc.client.get("/fhir/Consent", params={"patient": person, "_count": 1}, headers=eh), Consent
    )
    assert [c["id"] for c in one] == [ids[1]]
    # A partner sees only the consents naming its agency, as GET /v1/consents; another's is 404.
    police = svc.headers(agency_type="police", agency_id="police-west", scopes="consent:read")
    found = bundle(await svc.client.get("/fhir/Consent", params={"patient": person}, headers=police), Consent)
    assert [c["id"] for c in found] == [ids[0]]
    assert outcome(await svc.client.get(f"/fhir/Consent/{ids[1]}", headers=police), 404)["issue"][0][
        "code"
    ] == ("not-found")
    ok(await svc.client.get(f"/fhir/Consent/{ids[0]}", headers=police))


async def test_search_errors_are_operation_outcomes(svc, eh):
    missing = outcome(await svc.client.get("/fhir/Consent", headers=eh), 422)
    assert missing["issue"][0]["expression"] == ["patient"]
    bad = outcome(await svc.client.get("/fhir/AuditEvent", params={"patient": "Patient/x"}, headers=eh), 422)
    assert bad["issue"][0]["expression"] == ["patient"]
    nhs = outcome(
        await svc.client.get(
            "/fhir/Consent",
            params={"patient.identifier": "https://fhir.nhs.uk/Id/nhs-number|9434765919"},
            headers=eh,
        ),
        422,
    )
    assert "patient.identifier" in {e for i in nhs["issue"] for e in i.get("expression", [])}
    big = outcome(
        await svc.client.get(
            "/fhir/Consent", params={"patient": str(uuid.uuid4()), "_count": 51}, headers=eh
        ),
        422,
    )
    assert big["issue"][0]["code"] == "invalid"
    assert outcome(await svc.client.get(f"/fhir/Consent/{uuid.uuid4()}", headers=eh), 404)
    assert outcome(await svc.client.get(f"/fhir/AuditEvent/{uuid.uuid4()}", headers=eh), 404)
    nobody = svc.headers(agency_type="early_help", scopes="")
    assert (
        outcome(await svc.client.get(f"/fhir/Consent/{uuid.uuid4()}", headers=nobody), 403)["issue"][0][
            "code"
        ]
        == "forbidden"
    )


async def test_the_disclosure_log_as_audit_events(svc, eh, service_caller):
    person = str(uuid.uuid4())
    consent_id = str(uuid.uuid4())
    bodies = [
        disclosure(person, 1, reference_id=consent_id, practitioner_id="prac-7"),
        disclosure(person, 2, agency_id="housing-1", basis="sharing_decision", resource_type="plan"),
        disclosure(person, 3, basis="mash_screening", reference_id=None, request_id=None),
    ]
    for body in bodies:
        assert (
            await svc.client.post("/internal/disclosures", json=body, headers=service_caller)
        ).status_code == 201
    await svc.client.post(
        "/internal/disclosures", json=disclosure(str(uuid.uuid4()), 4), headers=service_caller
    )
    events = bundle(
        await svc.client.get("/fhir/AuditEvent", params={"patient": person}, headers=eh), AuditEvent
    )
    assert [e["purposeOfEvent"][0]["coding"][0]["code"] for e in events] == [
        "consent",
        "sharing_decision",
        "mash_screening",
    ]  # oldest first, as /v1
    first = events[0]
    assert datetime.fromisoformat(first["recorded"]) == datetime.fromisoformat(bodies[0]["disclosed_at"])
    assert first["action"] == "R" and first["type"]["code"] == "rest"
    assert first["agent"][0]["who"]["identifier"]["value"] == "police-west"
    assert first["agent"][1]["who"]["identifier"] == {
        "system": "https://early-help.example/fhir/Id/practitioner",
        "value": "prac-7",
    }
    assert first["entity"][0]["what"]["identifier"]["value"] == person
    assert first["entity"][1]["what"]["identifier"] == {
        "system": "https://early-help.example/fhir/Id/episode",
        "value": "ep-1",
    }
    assert first["entity"][1]["detail"] == [{"type": "request_id", "valueString": "req-1"}]
    assert first["entity"][2]["what"] == {"reference": f"Consent/{consent_id}"}
    assert events[1]["entity"][2]["what"]["identifier"]["system"].endswith("Id/sharing-decision")
    assert len(events[2]["entity"]) == 2 and len(events[2]["agent"]) == 1
    one = bundle(
        await svc.client.get("/fhir/AuditEvent", params={"patient": person, "_count": 2}, headers=eh),
        AuditEvent,
    )
    assert len(one) == 2
    # Read by id: the same resource.
    read = ok(await svc.client.get(f"/fhir/AuditEvent/{first['id']}", headers=eh))
    AuditEvent.model_validate(read)
    assert read == first
    # A partner sees only the disclosures made to it (as /v1); another agency's is 404.
    police = svc.headers(agency_type="police", agency_id="police-west", scopes="consent:read")
    mine = bundle(
        await svc.client.get("/fhir/AuditEvent", params={"patient": person}, headers=police), AuditEvent
    )
    assert [e["id"] for e in mine] == [events[0]["id"], events[2]["id"]]
    outcome(await svc.client.get(f"/fhir/AuditEvent/{events[1]['id']}", headers=police), 404)
    ok(await svc.client.get(f"/fhir/AuditEvent/{first['id']}", headers=police))
    # Whoever /v1 refuses, the facade refuses with the same status.
    nobody = svc.headers(agency_type="police", agency_id="police-west", scopes="referrals:read")
    v1 = await svc.client.get(f"/v1/people/{person}/disclosures", headers=nobody)
    assert v1.status_code == 403
    outcome(await svc.client.get("/fhir/AuditEvent", params={"patient": person}, headers=nobody), 403)
