"""Deadlines searched as FHIR R4 Tasks (issue 22, docs/fhir.md "Task <-> deadline"):
`GET /fhir/Task?focus=|status=|business-status=|code=|_count=`, the scope and rules of
`GET /v1/deadlines`; every Bundle and Task validated by the R4B models of `fhir.resources`;
errors (unknown or invalid parameters, no scope) as OperationOutcomes."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.task import Task

FHIR_JSON = "application/fhir+json"
KIND = "https://early-help.example/fhir/CodeSystem/deadline-kind"
STATUS = "https://early-help.example/fhir/CodeSystem/deadline-status"


async def search(
    notif, want: int = 200, headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    resp = await notif.client.get("/fhir/Task", params=params, headers=headers or notif.headers())
    assert resp.status_code == want, resp.text
    assert resp.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = resp.json()
    if want == 200:
        Bundle.model_validate(body)
        for entry in body.get("entry", []):
            Task.model_validate(entry["resource"])
            assert entry["fullUrl"].endswith("/fhir/Task/" + entry["resource"]["id"])
    else:
        OperationOutcome.model_validate(body)
    return body


def ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


async def open_episode(notif, episode_id: str) -> None:
    """An open episode: its deadlines follow (their subject is the episode, `CareTeam/<id>`)."""
    opened = {"episode_id": episode_id, "opened_at": "2099-01-05T10:00:00+00:00", "person_ids": ["p1"]}
    await notif.event("episode.opened", {**opened, "reference": f"EP-{episode_id}"})


async def two_referrals(notif) -> tuple[dict[str, Any], dict[str, Any]]:
    """An overdue referral deadline (r-late) and one not yet due (r-soon)."""
    await notif.event(
        "referral.received", {"referral_id": "r-late", "received_at": "2020-01-06T10:00:00+00:00"}
    )
    await notif.event(
        "referral.received",
        {"referral_id": "r-soon", "reference": "RFS-2", "received_at": "2099-01-05T10:00:00+00:00"},
    )
    late = await notif.deadline("front_door_decision", referral_id="r-late")
    soon = await notif.deadline("front_door_decision", referral_id="r-soon")
    return late, soon


async def test_by_focus_the_deadlines_subject(notif):
    late, soon = await two_referrals(notif)
    found = await search(notif, focus="ServiceRequest/r-soon")
    assert found["type"] == "searchset" and ids(found) == [f"deadline-{soon['id']}"]
    assert found["entry"][0]["resource"]["focus"] == {"reference": "ServiceRequest/r-soon"}
    # A full URL is taken too; a comma is "any of"; soonest due first (as /v1/deadlines).
    both = await search(notif, focus="https://x.example/fhir/ServiceRequest/r-soon,ServiceRequest/r-late")
    assert ids(both) == [f"deadline-{late['id']}", f"deadline-{soon['id']}"]
    assert (await search(notif, focus="ServiceRequest/nobody"))["entry"] == []
    await open_episode(notif, "e-1")
    on_episode = await search(notif, focus="CareTeam/e-1")
    listed = [d for d in (await notif.deadlines(episode_id="e-1"))["items"] if d["subject_type"] == "episode"]
    assert listed and sorted(ids(on_episode)) == sorted(f"deadline-{d['id']}" for d in listed)


async def test_by_status_business_status_and_code(notif):
    late, soon = await two_referrals(notif)
    overdue = await search(notif, **{"business-status": "overdue"})
    assert ids(overdue) == [f"deadline-{late['id']}"]
    assert overdue["entry"][0]["resource"]["businessStatus"]["coding"][0]["code"] == "overdue"
    assert ids(await search(notif, **{"business-status": f"{STATUS}|open"})) == [f"deadline-{soon['id']}"]
    assert len(ids(await search(notif, **{"business-status": "open,overdue"}))) == 2
    by_kind = await search(notif, code=f"{KIND}|front_door_decision", status="in-progress")
    assert ids(by_kind) == [f"deadline-{late['id']}", f"deadline-{soon['id']}"]
    assert ids(await search(notif, code="initial_assessment")) == []
    await notif.event(
        "referral.decided",
        {"referral_id": "r-late", "outcome": "early_help", "decided_at": "2020-01-10T09:00:00+00:00"},
    )
    met = await search(notif, status="completed", focus="ServiceRequest/r-late")
    assert ids(met) == [f"deadline-{late['id']}"]
    assert met["entry"][0]["resource"]["status"] == "completed"
    assert ids(await search(notif, **{"business-status": "met"})) == [f"deadline-{late['id']}"]
    assert ids(await search(notif, **{"business-status": "overdue"})) == []


async def test_count_caps_the_bundle(notif):
    late, _ = await two_referrals(notif)
    capped = await search(notif, code="front_door_decision", _count=1)
    assert ids(capped) == [f"deadline-{late['id']}"]
    assert [link["relation"] for link in capped["link"]] == ["self"]
    for bad in (0, 51):
        outcome = await search(notif, 422, code="front_door_decision", _count=bad)
        assert outcome["issue"][0]["code"] == "invalid"


async def test_unknown_and_invalid_parameters_are_operation_outcomes(notif):
    unknown = await search(notif, 422, code="front_door_decision", owner="x")
    assert unknown["issue"][0]["code"] == "not-supported"
    assert "owner" in unknown["issue"][0]["diagnostics"]
    for params, field in [
        ({"focus": "CarePlan/e-1"}, "focus"),
        ({"focus": "r-1"}, "focus"),
        ({"status": "ready"}, "status"),
        ({"business-status": "late"}, "business-status"),
        ({"code": "http://other.example/kinds|front_door_decision"}, "code"),
        ({"code": ""}, "code"),
    ]:
        outcome = await search(notif, 422, **params)
        assert outcome["issue"][0]["expression"] == [field], (params, outcome)
        assert outcome["issue"][0]["code"] == "invalid"


async def test_scope_as_v1_deadlines_and_no_email_leaves(notif):
    await open_episode(notif, "e-2")
    denied = await search(notif, 403, headers=notif.headers(scopes="notifications:read"), code="x")
    assert denied["issue"][0]["code"] == "forbidden"
    # Every deadlines:read holder sees every deadline (a school as the MASH).
    school = await search(notif, headers=notif.headers("school", "school-1"), focus="CareTeam/e-2")
    assert ids(school) == ids(await search(notif, focus="CareTeam/e-2")) != []
    assert "@" not in str(school)
