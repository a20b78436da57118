"""The FHIR facade's TAF, plan and actions through the real gateway (issue 22, item 1;
docs/fhir.md): a referral decided into an episode, its lead professional and plan set on
`/v1`, then read as a CareTeam, a CarePlan and Tasks; the CapabilityStatement lists them; a
partner not on the TAF finds nothing. Every resource is checked with the R4B models of
`fhir.resources`; the conformance hook checks each answer against the OpenAPI."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.careteam import CareTeam
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.task import Task

from tests.e2e.matrix import plan_body
from tests.e2e.test_journeys import agency_id, decide, eventually, referral_body
from tests.e2e.test_referrals import unique_name

pytestmark = pytest.mark.e2e

MASH, EH, SCHOOL = "demo-mash", "demo-early-help", "demo-education"
FHIR_JSON = "application/fhir+json"


def test_a_health_system_reads_the_taf_the_plan_and_its_actions(api):
    created = api.post(MASH, "/v1/referrals", json=referral_body(family=unique_name()))
    assert created.status_code == 201, created.text
    ref = created.json()
    assert decide(api, ref["id"]).status_code in (200, 201)
    episode_id = eventually(lambda: api.get(MASH, f"/v1/referrals/{ref['id']}").json().get("episode_id"))
    assert episode_id
    eh_agency = agency_id(api, EH)
    lead = api.put(
        EH,
        f"/v1/episodes/{episode_id}/lead-professional",
        json={
            "name": "Lee Lead",
            "agency_id": eh_agency,
            "email": "lee@council.example",
            "family_agreed": True,
        },
    )
    assert lead.status_code == 200, lead.text
    plan = api.put(
        EH, f"/v1/episodes/{episode_id}/plan", json=plan_body({"agency_id": eh_agency, "name": "Lee Lead"})
    )
    assert plan.status_code == 200, plan.text
    plan_v1 = plan.json()
    episode = api.get(EH, f"/v1/episodes/{episode_id}").json()

    team = api.get(MASH, f"/fhir/CareTeam/{episode_id}")
    assert team.status_code == 200, team.text
    assert team.headers["content-type"].startswith(FHIR_JSON)
    care_team = CareTeam.model_validate(team.json())
    assert care_team.participant[0].member.display == "Lee Lead"
    group = next(r for r in team.json()["contained"] if r["resourceType"] == "Group")
    assert sorted(m["entity"]["identifier"]["value"] for m in group["member"]) == sorted(
        episode["person_ids"]
    )

    cp = api.get(MASH, f"/fhir/CarePlan/{episode_id}")
    assert cp.status_code == 200, cp.text
    CarePlan.model_validate(cp.json())
    goals = [r for r in cp.json()["contained"] if r["resourceType"] == "Goal"]
    assert len(goals) == len(plan_v1["outcomes"])
    assert [a["id"] for a in cp.json()["activity"]] == [a["id"] for a in plan_v1["actions"]]

    action = plan_v1["actions"][0]
    task = api.get(EH, f"/fhir/Task/{action['id']}")
    assert task.status_code == 200, task.text
    assert Task.model_validate(task.json()).focus.reference == f"CarePlan/{episode_id}"
    found = api.get(EH, "/fhir/Task", params={"focus": f"CarePlan/{episode_id}"})
    assert found.status_code == 200, found.text
    bundle = Bundle.model_validate(found.json())
    assert bundle.total == len(plan_v1["actions"])

    # A school not on the TAF: 404 OperationOutcomes and an empty search.
    for path in (
        f"/fhir/CareTeam/{episode_id}",
        f"/fhir/CarePlan/{episode_id}",
        f"/fhir/Task/{action['id']}",
    ):
        hidden = api.get(SCHOOL, path)
        assert hidden.status_code == 404, hidden.text
        assert OperationOutcome.model_validate(hidden.json()).issue[0].code == "not-found"
    empty = api.get(SCHOOL, "/fhir/Task", params={"focus": f"CarePlan/{episode_id}"})
    assert empty.status_code == 200 and empty.json()["total"] == 0
    bad = api.get(EH, "/fhir/Task", params={"focus": "Patient/1"})
    assert bad.status_code == 422
    assert OperationOutcome.model_validate(bad.json()).issue[0].expression == ["focus"]

    statement = api.http.get("/fhir/metadata").json()
    kinds = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {i["code"] for i in kinds["CareTeam"]["interaction"]} == {"read"}
    assert {i["code"] for i in kinds["CarePlan"]["interaction"]} == {"read"}
    assert {i["code"] for i in kinds["Task"]["interaction"]} == {"read", "search-type"}
    # `focus` first (plan actions: `CarePlan/<id>`); the deadline search's own follow (issue 22).
    assert kinds["Task"]["searchParam"][0]["name"] == "focus"
    assert {p["name"] for p in kinds["Task"]["searchParam"]} == {
        "focus",
        "code",
        "business-status",
        "status",
        "_count",
    }
