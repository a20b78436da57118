"""The FHIR R4 facade of the referrals service (issue 22, docs/fhir.md): a referral as a
ServiceRequest, read, searched by NHS number and created, with the /v1 rules and every
resource produced or accepted validated by the R4B models of `fhir.resources`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.servicerequest import ServiceRequest

from services.referrals.tests.conftest import NHS, child, rfs

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "fhir" / "ServiceRequest-create.json"
FHIR_JSON = "application/fhir+json"


def example(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(EXAMPLE.read_text())
    doc.update(copy.deepcopy(changes))
    return doc


def outcome(resp: Any, status: int) -> dict[str, Any]:
    """The OperationOutcome of an error answer, checked against the R4B model."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = resp.json()
    OperationOutcome.model_validate(body)
    return body


def elements(body: dict[str, Any]) -> set[str]:
    return {e for issue in body["issue"] for e in issue.get("expression", [])}


async def test_the_example_is_valid_r4_and_creates_a_referral(svc):
    ServiceRequest.model_validate(example())
    resp = await svc.client.post(
        "/fhir/ServiceRequest",
        content=json.dumps(example()),
        headers={**svc.as_("health"), "content-type": FHIR_JSON},
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["content-type"].startswith(FHIR_JSON)
    created = resp.json()
    ServiceRequest.model_validate(created)
    assert resp.headers["location"] == f"/fhir/ServiceRequest/{created['id']}"
    # The /v1 referral it made, with every field the ServiceRequest gave.
    v1 = await svc.client.get(f"/v1/referrals/{created['id']}", headers=svc.as_("mash"))
    assert v1.status_code == 200, v1.text
    referral = v1.json()
    assert referral["source_agency_id"] == "agency-gp"
    assert referral["children"][0]["nhs_number"] == "9434765919"
    assert referral["children"][0]["date_of_birth"] == "2017-03-02"
    assert referral["address"] == {"line1": "1 Oak Street", "town": "Rotherham", "postcode": "S60 1AE"}
    assert referral["needs"] == ["school_attendance", "parental_mental_health"]
    assert referral["referrer"]["role"] == "Health visitor"
    assert referral["consent"]["method"] == "phone"
    assert created["identifier"][0]["value"] == referral["reference"]
    assert created["status"] == "active" and created["priority"] == "routine"


async def test_a_read_maps_every_part_and_validates(svc):
    body = rfs(
        children=[
            child("Amira", "Ahmed", "2017-03-02", nhs_number=NHS[0], gender="female"),
            child("Zaid", "Ahmed", "2019-05-04"),
        ],
        referrer={
            "name": "Jo Clarke",
            "role": "DSL",
            "email": "dsl@oakfield.sch.uk",
            "phone": "0114 000 0000",
        },
    )
    ref = await svc.create("school_a", body)
    resp = await svc.client.get(f"/fhir/ServiceRequest/{ref['id']}", headers=svc.as_("mash"))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith(FHIR_JSON)
    sr = resp.json()
    ServiceRequest.model_validate(sr)
    patients = [r for r in sr["contained"] if r["resourceType"] == "Patient"]
    assert [p["name"][0]["given"] for p in patients] == [["Amira"], ["Zaid"]]
    assert {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": NHS[0]} in patients[0]["identifier"]
    # The MASH sees the person index ids; the second child is supporting information.
    assert any(i["value"] == ref["children"][0]["person_id"] for i in patients[0]["identifier"])
    assert sr["supportingInfo"] == [{"reference": "#child-1"}]
    assert sr["subject"] == {"reference": "#child-0", "display": "Amira Ahmed"}
    assert sr["reasonCode"][0]["coding"][0]["code"] == "school_attendance"
    role = next(r for r in sr["contained"] if r["resourceType"] == "PractitionerRole")
    assert {t["system"] for t in role["telecom"]} == {"email", "phone"}
    assert sr["extension"][0]["extension"][0] == {"url": "obtained", "valueBoolean": True}
    # Decided and withdrawn referrals carry the FHIR status.
    assert (await svc.decide(ref["id"])).status_code == 200
    decided = (await svc.client.get(f"/fhir/ServiceRequest/{ref['id']}", headers=svc.as_("mash"))).json()
    assert decided["status"] == "completed"
    ServiceRequest.model_validate(decided)


async def test_a_partner_sees_its_own_as_v1_and_not_the_person_ids(svc):
    ref = await svc.create(
        "school_a", rfs(children=[child("Amira", "Ahmed", "2017-03-02", nhs_number=NHS[0])])
    )
    own = await svc.client.get(f"/fhir/ServiceRequest/{ref['id']}", headers=svc.as_("school_a"))
    assert own.status_code == 200
    patient = own.json()["contained"][0]
    assert [i["system"] for i in patient["identifier"]] == ["https://fhir.nhs.uk/Id/nhs-number"]
    other = await svc.client.get(f"/fhir/ServiceRequest/{ref['id']}", headers=svc.as_("school_b"))
    body = outcome(other, 404)
    assert body["issue"][0]["code"] == "not-found"
    assert body["issue"][0]["details"]["coding"][0]["code"] == "not-found"
    missing = await svc.client.get("/fhir/ServiceRequest/nope", headers=svc.as_("mash"))
    assert outcome(missing, 404)["issue"][0]["code"] == "not-found"


async def test_search_by_nhs_number(svc):
    first = await svc.create(
        "school_a", rfs(children=[child("Amira", "Ahmed", "2017-03-02", nhs_number=NHS[0])])
    )
    second = await svc.create(
        "police", rfs(children=[child("Amira", "Ahmed", "2017-03-02", nhs_number=NHS[0])])
    )
    await svc.create("school_a", rfs(children=[child("Noah", "Bennett", "2016-01-01", nhs_number=NHS[1])]))
    token = f"https://fhir.nhs.uk/Id/nhs-number|{NHS[0]}"
    for param in ("patient.identifier", "subject:identifier"):
        resp = await svc.client.get("/fhir/ServiceRequest", params={param: token}, headers=svc.as_("mash"))
        assert resp.status_code == 200, resp.text
        bundle = resp.json()
        Bundle.model_validate(bundle)
        assert bundle["type"] == "searchset" and bundle["total"] == 2
        assert [e["resource"]["id"] for e in bundle["entry"]] == [second["id"], first["id"]]
        assert bundle["entry"][0]["fullUrl"].endswith(f"/fhir/ServiceRequest/{second['id']}")
    # A partner finds its own only; _count bounds the page.
    mine = await svc.client.get(
        "/fhir/ServiceRequest", params={"patient.identifier": token}, headers=svc.as_("school_a")
    )
    assert [e["resource"]["id"] for e in mine.json()["entry"]] == [first["id"]]
    one = await svc.client.get(
        "/fhir/ServiceRequest", params={"patient.identifier": token, "_count": 1}, headers=svc.as_("mash")
    )
    assert one.json()["total"] == 1
    none = await svc.client.get(
        "/fhir/ServiceRequest",
        params={"patient.identifier": "https://fhir.nhs.uk/Id/nhs-number|4010232137"},
        headers=svc.as_("mash"),
    )
    assert none.json()["total"] == 0 and none.json()["entry"] == []


async def test_search_errors_are_operation_outcomes_naming_the_parameter(svc):
    mash = svc.as_("mash")
    cases = [
        ({"patient.identifier": "urn:other|123"}, "patient.identifier"),
        ({"subject:identifier": "https://fhir.nhs.uk/Id/nhs-number|12"}, "subject:identifier"),
        ({}, "patient.identifier"),
        ({"patient.identifier": f"https://fhir.nhs.uk/Id/nhs-number|{NHS[0]}", "name": "x"}, "name"),
        ({"patient.identifier": f"https://fhir.nhs.uk/Id/nhs-number|{NHS[0]}", "_count": 0}, "_count"),
    ]
    for params, element in cases:
        body = outcome(await svc.client.get("/fhir/ServiceRequest", params=params, headers=mash), 422)
        assert element in elements(body), (params, body)
        assert any(element in i["diagnostics"] for i in body["issue"]), body


async def test_an_invalid_service_request_is_422_naming_the_element(svc):
    headers = {**svc.as_("health"), "content-type": FHIR_JSON}
    bad_dob = example()
    bad_dob["contained"][0]["birthDate"] = "2017-13-40"
    bad_need = example(
        reasonCode=[
            {"coding": [{"system": "https://early-help.example/fhir/CodeSystem/need", "code": "nope"}]}
        ]
    )
    bad_nhs = example()
    bad_nhs["contained"][0]["identifier"][0]["value"] = "9434765918"
    no_consent = example(extension=[])
    cases = [
        (example(bogus=1), "ServiceRequest.bogus"),
        (bad_dob, "ServiceRequest.contained.0.birthDate"),
        (example(subject={"reference": "Patient/123"}), "ServiceRequest.subject"),
        (example(category=[]), "ServiceRequest.category"),
        (bad_need, "ServiceRequest.reasonCode"),
        (bad_nhs, "Patient.identifier"),
        (example(note=[]), "ServiceRequest.note"),
        (
            no_consent,
            "ServiceRequest.extension(https://early-help.example/fhir/StructureDefinition/referral-consent)",
        ),
        ({"resourceType": "Patient"}, "ServiceRequest.resourceType"),
    ]
    for doc, element in cases:
        body = outcome(
            await svc.client.post("/fhir/ServiceRequest", content=json.dumps(doc), headers=headers), 422
        )
        assert element in elements(body), (element, body)
        assert body["issue"][0]["code"] in ("invalid", "required", "not-supported"), body
    unreadable = await svc.client.post("/fhir/ServiceRequest", content=b"{", headers=headers)
    assert outcome(unreadable, 400)["issue"][0]["code"] == "structure"
    # Nothing was stored.
    listed = await svc.client.get("/v1/referrals", headers=svc.as_("mash"))
    assert listed.json()["items"] == []


async def test_scopes_are_the_v1_scopes(svc):
    no_create = svc.h.headers(
        agency_type="health", agency_id="agency-gp", client_id="c", scopes="referrals:read"
    )
    resp = await svc.client.post("/fhir/ServiceRequest", content=json.dumps(example()), headers=no_create)
    assert outcome(resp, 403)["issue"][0]["code"] == "forbidden"
    no_read = svc.h.headers(
        agency_type="health", agency_id="agency-gp", client_id="c", scopes="referrals:create"
    )
    resp = await svc.client.get("/fhir/ServiceRequest/x", headers=no_read)
    assert outcome(resp, 403)["issue"][0]["code"] == "forbidden"
    assert outcome(await svc.client.get("/fhir/ServiceRequest/x"), 401)["issue"][0]["code"] == "login"


async def test_a_fhir_read_is_a_disclosure_as_a_v1_read_is(svc):
    ref = await svc.create(
        "school_a", rfs(children=[child("Amira", "Ahmed", "2017-03-02", nhs_number=NHS[0])])
    )
    person = ref["children"][0]["person_id"]
    assert (
        await svc.client.get(f"/fhir/ServiceRequest/{ref['id']}", headers=svc.as_("social_care"))
    ).status_code == 200
    await svc.runtime.deliver_once()
    assert ("referral", ref["id"], person) in {
        (d["resource_type"], d["resource_id"], d["person_id"]) for d in svc.consent.disclosures
    }
    # A search is one too; the submitting agency's own reads are not.
    svc.consent.disclosures.clear()
    token = f"https://fhir.nhs.uk/Id/nhs-number|{NHS[0]}"
    found = await svc.client.get(
        "/fhir/ServiceRequest", params={"patient.identifier": token}, headers=svc.as_("social_care")
    )
    assert found.json()["total"] == 1
    await svc.client.get(f"/fhir/ServiceRequest/{ref['id']}", headers=svc.as_("school_a"))
    await svc.runtime.deliver_once()
    # The child and the adult the referral names, once each, by social care only.
    assert (
        sorted((d["resource_id"], d["agency_id"]) for d in svc.consent.disclosures)
        == [(ref["id"], "agency-social-care")] * 2
    )


async def test_the_fhir_operations_are_documented(svc):
    doc = (await svc.client.get("/openapi.json")).json()
    read = doc["paths"]["/fhir/ServiceRequest/{referral_id}"]["get"]
    assert read["operationId"] == "referrals.fhir_read_service_request"
    assert FHIR_JSON in read["responses"]["200"]["content"]
    assert FHIR_JSON in read["responses"]["404"]["content"]
    create = doc["paths"]["/fhir/ServiceRequest"]["post"]
    assert FHIR_JSON in create["requestBody"]["content"] and "201" in create["responses"]
