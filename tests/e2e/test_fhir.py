"""The FHIR R4 facade through the real gateway (issue 22, item 1; docs/fhir.md): a health
system's token, a ServiceRequest posted, read back, found by NHS number, the
CapabilityStatement, and errors as OperationOutcomes. Every resource is checked with the R4B
models of `fhir.resources`; the conformance hook checks each answer against the OpenAPI."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.servicerequest import ServiceRequest

from tests.e2e.test_referrals import MASH, SCHOOL_A, unique_name

pytestmark = pytest.mark.e2e

HEALTH = "demo-health"
FHIR_JSON = "application/fhir+json"
NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "fhir" / "ServiceRequest-create.json"


def nhs_number() -> str:
    """A random valid NHS number (modulus 11), so no other test's child shares it."""
    while True:
        digits = [random.randint(0, 9) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def service_request(nhs: str, family: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(EXAMPLE.read_text())
    patient = doc["contained"][0]
    patient["identifier"][0]["value"] = nhs
    patient["name"][0]["family"] = family
    return doc


def test_a_health_system_refers_reads_and_searches_in_fhir(api):
    nhs, family = nhs_number(), unique_name()
    doc = service_request(nhs, family)
    ServiceRequest.model_validate(doc)
    made = api.post(
        HEALTH, "/fhir/ServiceRequest", content=json.dumps(doc), headers={"content-type": FHIR_JSON}
    )
    assert made.status_code == 201, made.text
    assert made.headers["content-type"].startswith(FHIR_JSON)
    created = made.json()
    ServiceRequest.model_validate(created)
    assert made.headers["location"] == f"/fhir/ServiceRequest/{created['id']}"

    read = api.get(HEALTH, made.headers["location"])
    assert read.status_code == 200, read.text
    ServiceRequest.model_validate(read.json())
    assert read.json()["contained"][0]["name"][0]["family"] == family
    # The same referral on the /v1 API, for the MASH.
    v1 = api.get(MASH, f"/v1/referrals/{created['id']}")
    assert v1.status_code == 200 and v1.json()["children"][0]["nhs_number"] == nhs

    for param in ("patient.identifier", "subject:identifier"):
        found = api.get(MASH, "/fhir/ServiceRequest", params={param: f"{NHS_SYSTEM}|{nhs}"})
        assert found.status_code == 200, found.text
        bundle = found.json()
        Bundle.model_validate(bundle)
        assert [e["resource"]["id"] for e in bundle["entry"]] == [created["id"]]

    # Another agency's referral is not there for a school: 404 and an empty search.
    hidden = api.get(SCHOOL_A, made.headers["location"])
    assert hidden.status_code == 404
    assert OperationOutcome.model_validate(hidden.json()).issue[0].code == "not-found"
    empty = api.get(SCHOOL_A, "/fhir/ServiceRequest", params={"patient.identifier": f"{NHS_SYSTEM}|{nhs}"})
    assert empty.status_code == 200 and empty.json()["total"] == 0


def test_the_capability_statement_is_public_and_lists_the_facade(api):
    resp = api.http.get("/fhir/metadata")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith(FHIR_JSON)
    statement = resp.json()
    CapabilityStatement.model_validate(statement)
    kinds = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {i["code"] for i in kinds["ServiceRequest"]["interaction"]} == {"read", "search-type", "create"}


def test_errors_through_the_gateway_are_operation_outcomes(api):
    cases = [
        (api.http.get("/fhir/ServiceRequest/x"), 401, "login"),
        (api.get(SCHOOL_A, "/fhir/NoSuchType/x"), 404, "not-found"),
        (api.http.delete("/fhir/ServiceRequest/x", headers=api.as_(MASH)), 405, "not-supported"),
        (api.get(MASH, "/fhir/ServiceRequest", params={"patient.identifier": "urn:x|1"}), 422, "invalid"),
        (
            api.post(HEALTH, "/fhir/ServiceRequest", content=json.dumps({"resourceType": "ServiceRequest"})),
            422,
            "required",
        ),
    ]
    for resp, status, code in cases:
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"].startswith(FHIR_JSON), resp.headers
        body = OperationOutcome.model_validate(resp.json())
        assert body.issue[0].code == code, resp.text
        assert body.issue[0].diagnostics
    # A token without the scope: the gateway's 403, as an OperationOutcome naming the scope.
    refused = api.http.post(
        "/fhir/ServiceRequest",
        content=json.dumps(service_request(nhs_number(), unique_name())),
        headers=api.as_(HEALTH, "referrals:read"),
    )
    assert refused.status_code == 403
    assert "referrals:create" in refused.json()["issue"][0]["diagnostics"]
