"""`GET /fhir/Task` is searched in two services (docs/fhir.md "Task <-> deadline"): the gateway
sends a deadline search (a query naming `code` or `business-status`, or a `focus` on a
referral, episode or action) to notifications, anything else (`focus=CarePlan/<episode id>`)
to assessments - a query rule in the route table (gateway/routes/notifications.py), listed in
the CapabilityStatement and merged into one OpenAPI operation."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from gateway.fhir_metadata import capability_statement
from gateway.openapi import merge
from gateway.routes import QueryRule, Route, RouteTable, load_routes

TABLE = RouteTable(load_routes())


def routed(query: str) -> Route:
    route, known = TABLE.match("GET", "/fhir/Task", query.encode())
    assert route is not None and known
    return route


@pytest.mark.parametrize(
    "query",
    [
        "code=front_door_decision",
        "code=https://early-help.example/fhir/CodeSystem/deadline-kind|front_door_decision",
        "business-status=overdue",
        "status=in-progress&business-status=open",
        "focus=ServiceRequest/5f0c1e2a-0000-4000-8000-000000000001",
        "focus=CareTeam/e-1&_count=5",
        "focus=Task/a-1",
        "focus=https%3A%2F%2Fapi.example%2Ffhir%2FCareTeam%2Fe-1",
        "_count=3&code=initial_assessment",
    ],
)
def test_a_deadline_search_goes_to_notifications(query):
    route = routed(query)
    assert (route.service, route.scope, route.key) == (
        "notifications",
        "deadlines:read",
        ("GET", "/fhir/Task?deadlines"),
    )


@pytest.mark.parametrize(
    "query",
    [
        "focus=CarePlan/5f0c1e2a-0000-4000-8000-000000000001",
        "focus=https://api.example/fhir/CarePlan/e-1",
        "",
        "status=in-progress",  # both have a status: not a deadline's own parameter
        "focus=e-1",
        "codes=x",
    ],
)
def test_any_other_task_search_goes_to_assessments(query):
    route = routed(query)
    assert (route.service, route.scope, route.key) == ("assessments", "episodes:read", ("GET", "/fhir/Task"))


def test_reads_and_other_methods_are_unchanged():
    assert TABLE.match("GET", "/fhir/Task/a-1", b"code=x")[0].service == "assessments"
    assert TABLE.match("GET", "/fhir/Task/deadline-d-1", b"")[0].service == "notifications"
    route, known = TABLE.match("POST", "/fhir/Task", b"code=x")
    assert route is None and known  # a 405, with both GETs' Allow
    assert TABLE.allowed("/fhir/Task") == ["GET"]


def test_route_keys_are_unique_and_name_the_query_rule():
    keys = [r.key for r in load_routes()]
    assert len(keys) == len(set(keys))
    assert ("GET", "/fhir/Task") in keys and ("GET", "/fhir/Task?deadlines") in keys
    rule = QueryRule("x", params=frozenset({"a"}))
    twice = [Route("GET", "/p", "s", "referrals"), Route("GET", "/p", "t", "consent", query=rule)]
    assert [r.key for r in twice] == [("GET", "/p"), ("GET", "/p?x")]


def test_the_capability_statement_lists_both_task_searches():
    doc = capability_statement(load_routes(), "2026-12-03", "/")
    CapabilityStatement.model_validate(doc)
    task = next(r for r in doc["rest"][0]["resource"] if r["type"] == "Task")
    searches = [i["documentation"] for i in task["interaction"] if i["code"] == "search-type"]
    assert searches[0] == "Scope `episodes:read` (the assessments service)"
    assert searches[1].startswith("Scope `deadlines:read` (the notifications service); when the query names")
    assert "`focus=ServiceRequest/...`" in searches[1] and "`business-status`" in searches[1]
    assert {p["name"] for p in task["searchParam"]} == {
        "focus",
        "code",
        "business-status",
        "status",
        "_count",
    }


def _service_doc(op_id: str, params: list[str], required: bool) -> dict:
    return {
        "paths": {
            "/fhir/Task": {
                "get": {
                    "operationId": op_id,
                    "summary": op_id,
                    "parameters": [
                        {"name": n, "in": "query", "required": required, "schema": {"type": "string"}}
                        for n in params
                    ],
                    "responses": {"200": {"description": "ok"}, "422": {"description": "invalid"}},
                }
            }
        }
    }


def test_the_merged_openapi_has_one_operation_with_both_services_parameters():
    services = {
        "assessments": _service_doc("assessments.fhir_search_tasks", ["focus"], True),
        "notifications": _service_doc(
            "notifications.fhir_search_deadline_tasks", ["focus", "code", "business-status", "_count"], False
        ),
    }
    doc = merge({"paths": {}}, services, TABLE)
    op = doc["paths"]["/fhir/Task"]["get"]
    assert op["operationId"] == "assessments.fhir_search_tasks" and op["x-service"] == "assessments"
    assert [p["name"] for p in op["parameters"]] == ["focus", "code", "business-status", "_count"]
    assert not any(p["required"] for p in op["parameters"])
    assert op["security"] == [{"oauth2": ["episodes:read"]}, {"oauth2": ["deadlines:read"]}]
    assert op["x-query-routes"][0]["service"] == "notifications"
    assert "deadlines:read" in op["description"]
    assert "GET /fhir/Task" not in doc["x-unpublished-routes"]
