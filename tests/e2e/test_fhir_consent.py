"""The FHIR facade's Consent and AuditEvent through the real gateway (issue 22, item 1;
docs/fhir.md "Consent and AuditEvent"): a health system's referral read by social care is a
disclosure; early help records the family's consent on /v1 and reads both the consent and the
disclosure log in FHIR, by id and by person. Every resource is checked with the R4B models of
`fhir.resources`; the conformance hook checks each answer against the OpenAPI."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.operationoutcome import OperationOutcome

from tests.e2e.matrix import consent_body
from tests.e2e.test_fhir import FHIR_JSON, HEALTH, nhs_number, service_request
from tests.e2e.test_referrals import MASH, unique_name

pytestmark = pytest.mark.e2e

EH = "demo-early-help"
SOCIAL_CARE = "demo-social-care"
POLICE = "demo-police"


def fhir(resp: Any, model: Any, status: int = 200) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = resp.json()
    model.model_validate(body)
    return body


def test_consent_and_the_disclosure_log_in_fhir(api):
    made = api.post(
        HEALTH,
        "/fhir/ServiceRequest",
        content=json.dumps(service_request(nhs_number(), unique_name())),
        headers={"content-type": FHIR_JSON},
    )
    assert made.status_code == 201, made.text
    referral_id = made.json()["id"]
    person = api.get(MASH, f"/v1/referrals/{referral_id}").json()["children"][0]["person_id"]
    assert person
    # Social care reads the health system's referral: a disclosure (statutory function).
    assert api.get(SOCIAL_CARE, f"/fhir/ServiceRequest/{referral_id}").status_code == 200

    consent = api.post(EH, "/v1/consents", json=consent_body(person))
    assert consent.status_code == 201, consent.text
    consent_id = consent.json()["id"]
    read = fhir(api.get(EH, f"/fhir/Consent/{consent_id}"), Consent)
    assert read["status"] == "active" and read["patient"]["identifier"]["value"] == person
    found = fhir(api.get(EH, "/fhir/Consent", params={"patient": person}), Bundle)
    assert [e["resource"]["id"] for e in found["entry"]] == [consent_id]
    Consent.model_validate(found["entry"][0]["resource"])

    withdrawn = api.post(EH, f"/v1/consents/{consent_id}/withdraw", json={"reason": "Family withdrew"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert fhir(api.get(EH, f"/fhir/Consent/{consent_id}"), Consent)["status"] == "inactive"

    # The social care read, in the disclosure log as an AuditEvent (the log is fed by events).
    deadline = time.monotonic() + 15
    while True:
        log = fhir(api.get(EH, "/fhir/AuditEvent", params={"patient": f"Patient/{person}"}), Bundle)
        events = [e["resource"] for e in log["entry"]]
        if events or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert events, "the social care read was not logged"
    event = AuditEvent.model_validate(events[0])
    assert event.action == "R"
    assert events[0]["entity"][1]["what"]["identifier"]["value"] == referral_id
    assert events[0]["purposeOfEvent"][0]["coding"][0]["code"] == "statutory_function"
    one = fhir(api.get(EH, f"/fhir/AuditEvent/{events[0]['id']}"), AuditEvent)
    assert one == events[0]


def test_consent_errors_are_operation_outcomes(api):
    cases = [
        (api.get(EH, "/fhir/Consent"), 422, "required"),
        (api.get(EH, "/fhir/AuditEvent", params={"patient": "not-a-person"}), 422, "invalid"),
        (api.get(EH, "/fhir/Consent/00000000-0000-0000-0000-000000000016"), 404, "not-found"),
        (api.get(EH, "/fhir/AuditEvent/00000000-0000-0000-0000-000000000016"), 404, "not-found"),
        (
            api.get(POLICE, "/fhir/AuditEvent", params={"patient": "00000000-0000-0000-0000-000000000016"}),
            403,
            "forbidden",
        ),
    ]
    for resp, status, code in cases:
        body = fhir(resp, OperationOutcome, status)
        assert body["issue"][0]["code"] == code, resp.text
    statement = fhir(api.http.get("/fhir/metadata"), CapabilityStatement)
    kinds = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for kind in ("Consent", "AuditEvent"):
        assert {i["code"] for i in kinds[kind]["interaction"]} == {"read", "search-type"}
        assert {p["name"] for p in kinds[kind]["searchParam"]} == {"patient", "_count"}
