"""The FHIR R4 facade of the assessments service (issue 22, docs/fhir.md): the TAF as a
CareTeam, the current plan as a CarePlan, its actions as Tasks; the /v1 episode reads' scope,
consent checks and disclosures; every resource produced validated by the R4B models of
`fhir.resources`; errors as OperationOutcomes."""

from __future__ import annotations

import uuid
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.careteam import CareTeam
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.task import Task

from services.assessments.tests.conftest import EH, MASH, POLICE, SCHOOL, add_taf, h, new_episode
from services.assessments.tests.test_plans import SOON, plan_body

FHIR_JSON = "application/fhir+json"
PERSON = "https://early-help.example/fhir/Id/person"


def fhir_ok(resp: Any, model: Any) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = resp.json()
    model.model_validate(body)
    return body


def outcome(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = resp.json()
    OperationOutcome.model_validate(body)
    return body


async def episode_with_plan(svc, people: list[str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    ep = await new_episode(svc, people)
    lead = {
        "name": "Erin Early",
        "agency_id": "eh-team",
        "email": "erin@council.example",
        "phone": "01709 000000",
        "family_agreed": True,
    }
    r = await svc.client.put(f"/v1/episodes/{ep['id']}/lead-professional", json=lead, headers=h(svc, EH))
    assert r.status_code == 200, r.text
    await add_taf(svc, ep["id"], SCHOOL, role="Designated safeguarding lead", practitioner_id="p-school-1")
    plan = await svc.client.put(f"/v1/episodes/{ep['id']}/plan", json=plan_body(), headers=h(svc, EH))
    assert plan.status_code == 200, plan.text
    return ep, plan.json()


async def test_care_team_is_the_taf(svc):
    people = [str(uuid.uuid4()), str(uuid.uuid4())]
    ep, _ = await episode_with_plan(svc, people)
    team = fhir_ok(await svc.client.get(f"/fhir/CareTeam/{ep['id']}", headers=h(svc, EH)), CareTeam)
    assert team["id"] == ep["id"] and team["status"] == "active"
    assert team["identifier"][0]["value"] == ep["reference"]
    group = next(r for r in team["contained"] if r["resourceType"] == "Group")
    assert team["subject"]["reference"] == "#children"
    assert sorted(m["entity"]["identifier"]["value"] for m in group["member"]) == sorted(people)
    assert {m["entity"]["identifier"]["system"] for m in group["member"]} == {PERSON}
    lead, member = team["participant"]
    assert lead["member"] == {"reference": "#lead", "display": "Erin Early"}
    assert lead["role"][0]["coding"][0]["code"] == "lead_professional"
    assert lead["onBehalfOf"]["identifier"]["value"] == "eh-team"
    lead_role = next(r for r in team["contained"] if r["id"] == "lead")
    assert {t["system"] for t in lead_role["telecom"]} == {"email", "phone"}
    assert member["role"][0]["text"] == "Designated safeguarding lead"
    assert member["onBehalfOf"]["identifier"]["value"] == "school-1"
    school_role = next(r for r in team["contained"] if r["id"] == "member-0")
    assert school_role["practitioner"]["identifier"]["value"] == "p-school-1"
    # A closed episode's team is inactive, with the period's end.
    closed = await svc.client.post(
        f"/v1/episodes/{ep['id']}/close",
        json={"reason": "needs_met", "summary": "Needs met"},
        headers=h(svc, EH),
    )
    assert closed.status_code == 200, closed.text
    team = fhir_ok(await svc.client.get(f"/fhir/CareTeam/{ep['id']}", headers=h(svc, EH)), CareTeam)
    assert team["status"] == "inactive" and team["period"]["end"]


async def test_care_plan_has_goals_and_activities(svc):
    ep, plan = await episode_with_plan(svc)
    cp = fhir_ok(await svc.client.get(f"/fhir/CarePlan/{ep['id']}", headers=h(svc, EH)), CarePlan)
    assert cp["id"] == ep["id"] and cp["status"] == "active" and cp["intent"] == "plan"
    assert cp["identifier"][0]["value"] == plan["id"]
    assert cp["careTeam"] == [{"reference": f"CareTeam/{ep['id']}"}]
    goals = [r for r in cp["contained"] if r["resourceType"] == "Goal"]
    assert [g["category"][0]["coding"][0]["code"] for g in goals] == [
        "good_education",
        "improved_mental_and_physical_health",
    ]
    first = goals[0]
    assert first["description"]["text"] == "Amira attends school"
    assert first["target"][0] == {"measure": {"text": "attendance %"}, "detailString": "95", "dueDate": SOON}
    assert first["extension"][0]["valueString"] == "71"
    assert cp["goal"] == [{"reference": f"#{g['id']}"} for g in goals]
    act = cp["activity"][0]
    assert act["id"] == plan["actions"][0]["id"]
    detail = act["detail"]
    assert detail["status"] == "not-started" and detail["description"] == "Daily check-in"
    assert detail["performer"][0]["identifier"]["value"] == "school-1"
    assert detail["performer"][0]["display"] == "Ms Head"
    assert detail["scheduledPeriod"]["end"] == SOON
    assert detail["goal"] == [{"reference": f"#goal-{plan['outcomes'][0]['id']}"}]
    # No plan: 404 as an OperationOutcome (plan-not-found).
    bare = await new_episode(svc)
    body = outcome(await svc.client.get(f"/fhir/CarePlan/{bare['id']}", headers=h(svc, EH)), 404)
    assert body["issue"][0]["details"]["coding"][0]["code"] == "plan-not-found"


async def test_task_read_and_search_by_focus(svc, fake_consent):
    ep, plan = await episode_with_plan(svc)
    action = plan["actions"][0]
    fake_consent.allowed.add((ep["person_ids"][0], "school-1"))
    # The owner moves it on: status and progress show in the Task.
    moved = await svc.client.patch(
        f"/v1/actions/{action['id']}",
        json={"status": "completed", "progress_notes": "Attending daily"},
        headers={**h(svc, SCHOOL), "If-Match": action["etag"]},
    )
    assert moved.status_code == 200, moved.text
    task = fhir_ok(await svc.client.get(f"/fhir/Task/{action['id']}", headers=h(svc, EH)), Task)
    assert task["id"] == action["id"] and task["status"] == "completed" and task["intent"] == "plan"
    assert task["focus"] == {"reference": f"CarePlan/{ep['id']}"}
    assert task["owner"]["identifier"]["value"] == "school-1"
    assert task["restriction"]["period"]["end"] == SOON
    assert task["executionPeriod"]["end"] and task["note"] == [{"text": "Attending daily"}]
    assert task["reasonCode"]["coding"][0]["code"] == "good_education"
    cp = (await svc.client.get(f"/fhir/CarePlan/{ep['id']}", headers=h(svc, EH))).json()
    assert cp["activity"][0]["detail"]["status"] == "completed"
    assert cp["activity"][0]["progress"] == [{"text": "Attending daily"}]
    second = fhir_ok(await svc.client.get(f"/fhir/Task/{plan['actions'][1]['id']}", headers=h(svc, EH)), Task)
    assert second["status"] == "ready"

    for focus in (f"CarePlan/{ep['id']}", f"https://api.example/fhir/CarePlan/{ep['id']}"):
        found = await svc.client.get("/fhir/Task", params={"focus": focus}, headers=h(svc, EH))
        bundle = fhir_ok(found, Bundle)
        assert bundle["type"] == "searchset" and bundle["total"] == 2
        assert [e["resource"]["id"] for e in bundle["entry"]] == [a["id"] for a in plan["actions"]]
        for e in bundle["entry"]:
            Task.model_validate(e["resource"])
    # An unknown episode, one with no plan: nothing found.
    bare = await new_episode(svc)
    for eid in ("nope", bare["id"]):
        empty = await svc.client.get("/fhir/Task", params={"focus": f"CarePlan/{eid}"}, headers=h(svc, EH))
        assert fhir_ok(empty, Bundle)["total"] == 0
    missing = await svc.client.get("/fhir/Task/nope", headers=h(svc, EH))
    assert outcome(missing, 404)["issue"][0]["details"]["coding"][0]["code"] == "action-not-found"


async def test_search_errors_name_the_parameter(svc):
    for params, element in (
        ({}, "focus"),
        ({"focus": "Patient/1"}, "focus"),
        ({"focus": "CarePlan/"}, "focus"),
        ({"focus": "CarePlan/x", "status": "ready"}, "status"),
    ):
        body = outcome(await svc.client.get("/fhir/Task", params=params, headers=h(svc, EH)), 422)
        assert any(element in i.get("expression", []) for i in body["issue"]), (params, body)
        assert body["issue"][0]["code"] in ("invalid", "required", "not-supported")


async def test_partners_see_as_v1_and_reads_are_disclosures(svc, fake_consent):
    ep, plan = await episode_with_plan(svc)
    eid, person = ep["id"], ep["person_ids"][0]
    action = plan["actions"][0]["id"]
    urls = [f"/fhir/CareTeam/{eid}", f"/fhir/CarePlan/{eid}", f"/fhir/Task/{action}"]
    # Police is not on the TAF; the school is, but without consent: 404 (nothing disclosed).
    for who in (POLICE, SCHOOL):
        for url in urls:
            assert (
                outcome(await svc.client.get(url, headers=h(svc, who)), 404)["issue"][0]["code"]
                == "not-found"
            )
        found = await svc.client.get("/fhir/Task", params={"focus": f"CarePlan/{eid}"}, headers=h(svc, who))
        assert fhir_ok(found, Bundle)["total"] == 0
    await svc.runtime.run_jobs_once()
    assert fake_consent.disclosures == []
    fake_consent.allowed.add((person, "school-1"))
    svc.runtime.access_cache.forget_person(person)
    fhir_ok(await svc.client.get(urls[0], headers=h(svc, SCHOOL)), CareTeam)
    fhir_ok(await svc.client.get(urls[1], headers=h(svc, SCHOOL)), CarePlan)
    fhir_ok(await svc.client.get(urls[2], headers=h(svc, SCHOOL)), Task)
    found = await svc.client.get("/fhir/Task", params={"focus": f"CarePlan/{eid}"}, headers=h(svc, SCHOOL))
    assert fhir_ok(found, Bundle)["total"] == 2
    # Early help's own reads are no disclosure; the MASH reads everything and its reads are.
    fhir_ok(await svc.client.get(urls[0], headers=h(svc, EH)), CareTeam)
    fhir_ok(await svc.client.get(urls[1], headers=h(svc, MASH)), CarePlan)
    await svc.runtime.run_jobs_once()
    got = sorted((d["agency_id"], d["resource_type"], d["resource_id"]) for d in fake_consent.disclosures)
    assert got == sorted(
        [
            ("school-1", "episode", eid),
            ("school-1", "plan", plan["id"]),
            ("school-1", "plan", plan["id"]),
            ("school-1", "plan", plan["id"]),
            ("mash-1", "plan", plan["id"]),
        ]
    )
    assert {d["person_id"] for d in fake_consent.disclosures} == {person}


async def test_scope_and_login(svc):
    ep, _ = await episode_with_plan(svc)
    no_read = svc.headers(agency_type="early_help", agency_id="eh-team", scopes="reports:read")
    for url in (f"/fhir/CareTeam/{ep['id']}", f"/fhir/CarePlan/{ep['id']}", "/fhir/Task/x"):
        assert outcome(await svc.client.get(url, headers=no_read), 403)["issue"][0]["code"] == "forbidden"
        assert outcome(await svc.client.get(url), 401)["issue"][0]["code"] == "login"


async def test_the_fhir_operations_are_documented(svc):
    doc = (await svc.client.get("/openapi.json")).json()
    for path, op_id in (
        ("/fhir/CareTeam/{episode_id}", "assessments.fhir_read_care_team"),
        ("/fhir/CarePlan/{episode_id}", "assessments.fhir_read_care_plan"),
        ("/fhir/Task/{action_id}", "assessments.fhir_read_task"),
        ("/fhir/Task", "assessments.fhir_search_tasks"),
    ):
        op = doc["paths"][path]["get"]
        assert op["operationId"] == op_id
        assert FHIR_JSON in op["responses"]["200"]["content"]
        assert FHIR_JSON in op["responses"]["404" if "{" in path else "422"]["content"]
