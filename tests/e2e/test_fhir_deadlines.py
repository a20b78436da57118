"""Deadlines as FHIR Tasks through the real gateway (issue 22, item 1; docs/fhir.md): a
referral's front-door deadline read as `GET /fhir/Task/deadline-<id>` (routed to the
notifications service by the id's prefix, beside the plan-action Tasks of assessments), with
the scope of `GET /v1/deadlines`; the CapabilityStatement lists the read. Every resource is
checked with the R4B models of `fhir.resources`; the conformance hook checks each answer
against the OpenAPI."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.task import Task

from tests.e2e.test_journeys import eventually, referral_body
from tests.e2e.test_referrals import unique_name

pytestmark = pytest.mark.e2e

MASH, SCHOOL = "demo-mash", "demo-education"
FHIR_JSON = "application/fhir+json"


def test_a_health_system_reads_a_deadline_as_a_task(api):
    created = api.post(MASH, "/v1/referrals", json=referral_body(family=unique_name()))
    assert created.status_code == 201, created.text
    ref = created.json()

    def front_door() -> list[dict]:
        items = api.get(MASH, "/v1/deadlines", params={"referral_id": ref["id"]}).json()["items"]
        return [d for d in items if d["kind"] == "front_door_decision"]

    deadline = eventually(front_door)[0]
    resp = api.get(MASH, f"/fhir/Task/deadline-{deadline['id']}")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith(FHIR_JSON)
    task = Task.model_validate(resp.json())
    assert task.id == f"deadline-{deadline['id']}"
    assert task.status == "in-progress" and task.code.coding[0].code == "front_door_decision"
    assert task.focus.reference == f"ServiceRequest/{ref['id']}"
    assert "@" not in resp.text  # no email address

    # A partner without deadlines:read: 403; an unknown deadline: 404; both OperationOutcomes.
    denied = api.get(SCHOOL, f"/fhir/Task/deadline-{deadline['id']}")
    assert denied.status_code == 403, denied.text
    assert OperationOutcome.model_validate(denied.json()).issue[0].code == "forbidden"
    missing = api.get(MASH, "/fhir/Task/deadline-00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404, missing.text
    assert OperationOutcome.model_validate(missing.json()).issue[0].code == "not-found"

    statement = api.http.get("/fhir/metadata").json()
    task_type = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Task")
    reads = [i["documentation"] for i in task_type["interaction"] if i["code"] == "read"]
    assert any("deadlines:read" in d and "deadline-" in d for d in reads)
