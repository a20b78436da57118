"""Deadlines as FHIR R4 Tasks (issue 22, docs/fhir.md): `GET /fhir/Task/deadline-{id}`, with
the scope of `GET /v1/deadlines`; every resource produced validated by the R4B models of
`fhir.resources`; errors as OperationOutcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.task import Task

FHIR_JSON = "application/fhir+json"
KIND = "https://early-help.example/fhir/CodeSystem/deadline-kind"


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def read(notif, deadline_id: str, status: int = 200, **headers: Any) -> dict[str, Any]:
    resp = await notif.client.get(f"/fhir/Task/deadline-{deadline_id}", headers=headers or notif.headers())
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = resp.json()
    (Task if status == 200 else OperationOutcome).model_validate(body)
    return body


async def test_an_open_deadline_is_an_in_progress_task(notif):
    await notif.event(
        "referral.received",
        {"referral_id": "r-open", "reference": "RFS-1", "received_at": "2099-01-05T10:00:00+00:00"},
    )
    d = await notif.deadline("front_door_decision", referral_id="r-open")
    task = await read(notif, d["id"])
    assert task["id"] == f"deadline-{d['id']}"
    assert task["identifier"][0]["value"] == d["id"]
    assert task["status"] == "in-progress" and task["intent"] == "order"
    assert task["businessStatus"]["coding"][0]["code"] == "open"
    assert task["code"]["coding"][0] == {"system": KIND, "code": "front_door_decision"}
    assert task["for"] == task["focus"] == {"reference": "ServiceRequest/r-open"}
    assert task["groupIdentifier"]["value"] == "RFS-1"
    assert at(task["restriction"]["period"]["end"]) == at(d["due_at"])
    assert at(task["authoredOn"]) == at(d["opened_at"]) == at(task["executionPeriod"]["start"])
    assert "end" not in task["executionPeriod"]
    # No assignee yet: the rule's team owns it, by agency type; never an email address.
    assert task["owner"]["identifier"] == {
        "system": "https://early-help.example/fhir/Id/agency-type",
        "value": "mash",
    }
    assert "@" not in str(task)


async def test_overdue_and_met_deadlines(notif):
    await notif.event(
        "referral.received", {"referral_id": "r-late", "received_at": "2020-01-06T10:00:00+00:00"}
    )
    d = await notif.deadline("front_door_decision", referral_id="r-late")
    assert d["overdue"]
    task = await read(notif, d["id"])
    assert task["status"] == "in-progress" and task["businessStatus"]["text"] == "overdue"
    await notif.event(
        "referral.decided",
        {"referral_id": "r-late", "outcome": "early_help", "decided_at": "2020-01-10T09:00:00+00:00"},
    )
    task = await read(notif, d["id"])
    assert task["status"] == "completed" and task["businessStatus"]["coding"][0]["code"] == "met"
    assert at(task["executionPeriod"]["end"]) == at("2020-01-10T09:00:00+00:00")


async def test_an_episode_deadline_is_for_the_episodes_care_team_and_owned_by_the_assignee(notif):
    await notif.event(
        "episode.opened",
        {
            "episode_id": "e-1",
            "reference": "EP-1",
            "opened_at": "2099-01-05T10:00:00+00:00",
            "person_ids": ["p1"],
        },
    )
    items = (await notif.deadlines(episode_id="e-1"))["items"]
    assert items
    for d in items:
        task = await read(notif, d["id"])
        assert task["for"] == {"reference": "CareTeam/e-1"}
        if d["assignee_agency_id"]:
            assert task["owner"]["identifier"]["value"] == d["assignee_agency_id"]


async def test_scope_unknown_id_and_a_plan_action_id_are_operation_outcomes(notif):
    missing = await read(notif, "00000000-0000-4000-8000-000000000000", 404)
    assert missing["issue"][0]["code"] == "not-found"
    assert missing["issue"][0]["details"]["coding"][0]["code"] == "deadline-not-found"
    denied = await read(notif, "x", 403, **notif.headers(scopes="notifications:read"))
    assert denied["issue"][0]["code"] == "forbidden"
    # Too long an id is a 422 naming it.
    bad = await read(notif, "x" * 40, 422)
    assert bad["issue"][0]["code"] == "invalid"
    # A plan action's Task is not served here (the gateway sends it to assessments).
    resp = await notif.client.get("/fhir/Task/some-action", headers=notif.headers())
    assert resp.status_code == 404
    OperationOutcome.model_validate(resp.json())
