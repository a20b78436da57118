"""Deadlines as FHIR Tasks through the real gateway (issue 22, item 1; docs/fhir.md): a
referral's front-door deadline read as `GET /fhir/Task/deadline-<id>` (routed to the
notifications service by the id's prefix, beside the plan-action Tasks of assessments), with
the scope of `GET /v1/deadlines`; the CapabilityStatement lists the read. Every resource is
checked with the R4B models of `fhir.resources`; the conformance hook checks each answer
against the OpenAPI."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.bundle import Bundle
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


def test_a_health_system_searches_deadlines_as_tasks(api):
    """`GET /fhir/Task?...` is a deadline search (notifications) when the query names a
    deadline's focus, `code` or `business-status`; `focus=CarePlan/<id>` stays a plan-action
    search (assessments). The gateway picks by the query (gateway/routes/notifications.py)."""
    created = api.post(MASH, "/v1/referrals", json=referral_body(family=unique_name()))
    assert created.status_code == 201, created.text
    ref = created.json()
    focus = f"ServiceRequest/{ref['id']}"

    def found() -> list[dict]:
        resp = api.get(MASH, "/fhir/Task", params={"focus": focus})
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith(FHIR_JSON)
        return resp.json().get("entry", [])

    entries = eventually(found)
    bundle = Bundle.model_validate({"resourceType": "Bundle", "type": "searchset", "entry": entries})
    tasks = [Task.model_validate(e.resource.model_dump()) for e in bundle.entry]
    assert all(t.id.startswith("deadline-") and t.focus.reference == focus for t in tasks)
    assert "front_door_decision" in {t.code.coding[0].code for t in tasks}
    assert "@" not in str(entries)

    # By kind and business status (the new referral's decision is not yet due: `open`).
    resp = api.get(
        MASH, "/fhir/Task", params={"focus": focus, "code": "front_door_decision", "business-status": "open"}
    )
    assert resp.status_code == 200, resp.text
    one = Bundle.model_validate(resp.json())
    assert [e.resource.id for e in one.entry] == [
        t.id for t in tasks if t.code.coding[0].code == "front_door_decision"
    ]

    # A plan-action search still reaches assessments: a school (episodes:read, no
    # deadlines:read) searches plans but is refused a deadline search, naming the scope.
    plan = api.get(SCHOOL, "/fhir/Task", params={"focus": "CarePlan/00000000-0000-4000-8000-000000000000"})
    assert plan.status_code == 200, plan.text
    assert Bundle.model_validate(plan.json()).total == 0
    denied = api.get(SCHOOL, "/fhir/Task", params={"focus": focus})
    assert denied.status_code == 403, denied.text
    assert "deadlines:read" in denied.headers["www-authenticate"]
    assert OperationOutcome.model_validate(denied.json()).issue[0].code == "forbidden"

    # An unknown parameter on a deadline search is an OperationOutcome naming it.
    bad = api.get(MASH, "/fhir/Task", params={"code": "front_door_decision", "owner": "x"})
    assert bad.status_code == 422, bad.text
    outcome = OperationOutcome.model_validate(bad.json())
    assert outcome.issue[0].code == "not-supported" and "owner" in (outcome.issue[0].diagnostics or "")

    statement = api.http.get("/fhir/metadata").json()
    task_type = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Task")
    searches = [i["documentation"] for i in task_type["interaction"] if i["code"] == "search-type"]
    assert any("deadlines:read" in d and "business-status" in d for d in searches)
    assert {"code", "business-status", "focus"} <= {p["name"] for p in task_type["searchParam"]}
