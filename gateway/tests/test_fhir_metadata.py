"""The FHIR facade's CapabilityStatement (gateway/fhir_metadata.py), built from the route table."""

from __future__ import annotations

from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from gateway.fhir_metadata import capability_statement
from gateway.routes import Route, load_routes


def test_the_statement_lists_every_fhir_route_and_is_valid_r4():
    doc = capability_statement(load_routes(), "2026-12-03", "https://api.example/")
    CapabilityStatement.model_validate(doc)
    assert doc["fhirVersion"] == "4.0.1"
    assert doc["implementation"]["url"] == "https://api.example/fhir"
    resources = {r["type"]: r for r in doc["rest"][0]["resource"]}
    fhir_types = {
        r.path.split("/")[2] for r in load_routes() if r.path.startswith("/fhir/") and r.service != "gateway"
    }
    assert set(resources) == fhir_types
    sr = resources["ServiceRequest"]
    assert [i["code"] for i in sr["interaction"]] == ["create", "read", "search-type"]
    assert "referrals:create" in sr["interaction"][0]["documentation"]
    assert {p["name"] for p in sr["searchParam"]} == {"patient", "subject", "_count"}


def test_routes_that_are_no_interaction_are_left_out():
    routes = [
        Route("GET", "/fhir/Thing/{thing_id}/_history", "x:read", service="referrals"),
        Route("GET", "/fhir/metadata", "", service="gateway"),
        Route("GET", "/v1/things", "x:read", service="referrals"),
        Route("GET", "/fhir/Thing/{thing_id}", "x:read", service="referrals"),
    ]
    doc = capability_statement(routes, "2026-12-03", "/")
    CapabilityStatement.model_validate(doc)
    assert doc["rest"][0]["resource"] == [
        {
            "type": "Thing",
            "interaction": [{"code": "read", "documentation": "Scope `x:read` (the referrals service)"}],
        }
    ]


def test_deadline_tasks_are_a_second_task_read_routed_by_their_id_prefix():
    """Deadlines (notifications) and plan actions (assessments) are both Tasks: the gateway
    sends `/fhir/Task/deadline-<id>` to notifications (the longer literal template wins), any
    other Task id to assessments; the statement lists both reads."""
    from gateway.routes import RouteTable

    table = RouteTable(load_routes())
    deadline, _ = table.match("GET", "/fhir/Task/deadline-5f0c1e2a-0000-4000-8000-000000000001")
    action, _ = table.match("GET", "/fhir/Task/5f0c1e2a-0000-4000-8000-000000000001")
    assert deadline is not None and deadline.service == "notifications" and deadline.scope == "deadlines:read"
    assert action is not None and action.service == "assessments"
    assert table.match("GET", "/fhir/Task/deadline-")[0].service == "assessments"  # no id: not a deadline
    doc = capability_statement(load_routes(), "2026-12-03", "/")
    CapabilityStatement.model_validate(doc)
    task = next(r for r in doc["rest"][0]["resource"] if r["type"] == "Task")
    reads = [i["documentation"] for i in task["interaction"] if i["code"] == "read"]
    assert reads == [
        "Scope `deadlines:read` (the notifications service); ids `deadline-...`",
        "Scope `episodes:read` (the assessments service)",
    ]
