"""Bulk import of imported episodes' current plans (issue 22 item 2, import_plans.py,
docs/import.md)."""

from __future__ import annotations

from typing import Any

from services.assessments.models import IMPORT_RECORD, Plan, PlanAction
from services.assessments.tests.conftest import EH, events, h
from services.assessments.tests.test_imports import IMPORTER, count, row

URL = "/v1/imports/plans"


async def an_episode(svc: Any, source_id: str = "E1") -> str:
    resp = await svc.client.post(
        "/v1/imports/episodes", json={"episodes": [row(source_id)]}, headers=h(svc, IMPORTER)
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["episodes"][0]["id"])


def plan_row(source_id: str, episode_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "episode_id": episode_id,
        "agreed_at": "2026-09-10T10:00:00Z",
        "outcomes": [
            {
                "source_id": "O1",
                "headline": "good_education",
                "description": "Back in school every day",
                "measure": "attendance",
                "baseline": "60%",
                "target": "95%",
                "target_on": "2027-03-01",
            }
        ],
        "actions": [
            {
                "source_id": "A1",
                "description": "Attendance plan with the school",
                "owner": {"agency_id": "school-1", "name": "Sam School"},
                "due_on": "2026-10-01",
                "outcomes": ["O1"],
            },
            {
                "source_id": "A2",
                "description": "Morning routine support",
                "owner": {"agency_id": "eh-team", "name": "Lee Lead"},
                "due_on": "2027-01-15",
                "outcomes": ["O1"],
                "status": "in_progress",
                "progress_notes": "Two visits so far",
            },
            {
                "source_id": "A3",
                "description": "Bus pass",
                "owner": {"agency_id": "eh-team", "name": "Lee Lead"},
                "due_on": "2026-09-20",
                "status": "completed",
                "completed_at": "2026-09-18T12:00:00Z",
            },
        ],
        **extra,
    }


async def test_plans_are_imported_once_with_their_events(svc: Any) -> None:
    episode = await an_episode(svc)
    body = {"plans": [plan_row("P1", episode)]}
    first = await svc.client.post(URL, json=body, headers=h(svc, IMPORTER))
    assert first.status_code == 200, first.text
    made = first.json()["plans"]
    assert [p["created"] for p in made] == [True]
    again = await svc.client.post(URL, json=body, headers=h(svc, IMPORTER))
    assert again.status_code == 200, again.text
    assert again.json()["plans"] == [{**made[0], "created": False}]
    assert await count(svc, Plan.__table__) == 1
    assert await count(svc, PlanAction.__table__) == 3
    # The plan as anyone reads it: version 1, agreed when the incumbent system agreed it.
    read = (await svc.client.get(f"/v1/episodes/{episode}/plan", headers=h(svc, EH))).json()
    assert read["id"] == made[0]["id"] and read["version"] == 1
    assert read["agreed_at"].startswith("2026-09-10T10:00")
    assert [(a["status"], a["progress_notes"]) for a in read["actions"]] == [
        ("open", None),
        ("in_progress", "Two visits so far"),
        ("completed", None),
    ]
    outcome = read["outcomes"][0]["id"]
    assert read["actions"][0]["outcome_refs"] == [outcome]
    assert read["actions"][2]["completed_at"].startswith("2026-09-18T12:00")
    # The events the notifications service makes the actions' deadlines of, once each: every
    # action in `plan.agreed`, and `action.created` for the two not done.
    agreed = await events(svc, "plan.agreed")
    assert len(agreed) == 1 and agreed[0]["agreed_at"].startswith("2026-09-10T10:00")
    assert [a["status"] for a in agreed[0]["actions"]] == ["open", "in_progress", "completed"]
    created = await events(svc, "action.created")
    assert [a["due_on"] for a in created] == ["2026-10-01", "2027-01-15"]


async def test_wrong_rows_are_named_and_nothing_is_stored(svc: Any) -> None:
    episode = await an_episode(svc)
    other = await an_episode(svc, "E2")
    not_smart = plan_row("P1", episode)
    del not_smart["outcomes"][0]["measure"]
    not_smart["actions"][0]["outcomes"] = ["O9"]
    not_smart["actions"][1]["due_on"] = "2026-09-01"  # before the plan was agreed
    done_without_date = plan_row("P2", other)
    del done_without_date["actions"][2]["completed_at"]
    body = {
        "plans": [
            not_smart,
            done_without_date,
            plan_row("P3", "no-such-episode"),
            plan_row("P4", other, agreed_at="2999-01-01T00:00:00Z"),
        ]
    }
    resp = await svc.client.post(URL, json=body, headers=h(svc, IMPORTER))
    assert resp.status_code == 422, resp.text
    assert {e["field"] for e in resp.json()["errors"]} == {
        "plans.0.outcomes.0.measure",
        "plans.0.actions.0.outcomes.0",
        "plans.0.actions.1.due_on",
        "plans.1.actions.2.completed_at",
        "plans.2.episode_id",
        "plans.3.agreed_at",
        "plans.3.actions.0.due_on",  # past today (the check's day when agreed_at is wrong)
        "plans.3.actions.2.due_on",
        "plans.3.episode_id",  # a second plan of E2's episode in the batch
    }
    assert await count(svc, Plan.__table__) == 0
    assert await count(svc, IMPORT_RECORD) == 2  # the two episodes only


async def test_an_episode_with_a_plan_or_closed_is_refused(svc: Any) -> None:
    episode = await an_episode(svc)
    ok = await svc.client.post(URL, json={"plans": [plan_row("P1", episode)]}, headers=h(svc, IMPORTER))
    assert ok.status_code == 200, ok.text
    second = await svc.client.post(URL, json={"plans": [plan_row("P2", episode)]}, headers=h(svc, IMPORTER))
    assert second.status_code == 422, second.text
    assert [e["field"] for e in second.json()["errors"]] == ["plans.0.episode_id"]
    early = plan_row("P3", await an_episode(svc, "E2"), agreed_at="2026-09-01T00:00:00Z")
    resp = await svc.client.post(URL, json={"plans": [early]}, headers=h(svc, IMPORTER))
    assert [e["field"] for e in resp.json()["errors"]] == ["plans.0.agreed_at"]  # before it opened


async def test_a_dry_run_stores_nothing(svc: Any) -> None:
    episode = await an_episode(svc)
    body = {"plans": [plan_row("P1", episode), plan_row("P2", "not-stored-in-a-dry-run")], "dry_run": True}
    resp = await svc.client.post(URL, json=body, headers=h(svc, IMPORTER))
    assert resp.status_code == 200, resp.text
    assert [p["created"] for p in resp.json()["plans"]] == [True, True]
    assert await count(svc, Plan.__table__) == 0
    assert await events(svc, "plan.agreed") == []
    bad = plan_row("P1", "not-stored", agreed_at="2999-01-01T00:00:00Z")
    resp = await svc.client.post(URL, json={"plans": [bad], "dry_run": True}, headers=h(svc, IMPORTER))
    assert "plans.0.agreed_at" in {e["field"] for e in resp.json()["errors"]}


async def test_only_the_council_import_client_may_import_plans(svc: Any) -> None:
    episode = await an_episode(svc)
    for who in ({**EH, "scopes": "imports:write"}, {**IMPORTER, "practitioner_id": "p-1"}):
        resp = await svc.client.post(URL, json={"plans": [plan_row("P1", episode)]}, headers=h(svc, who))
        assert resp.status_code == 403, resp.text
    assert await count(svc, Plan.__table__) == 0
