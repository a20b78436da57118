"""TAF plans (SMART, versioned), actions updated by their owners, reviews."""

from __future__ import annotations

from datetime import date, timedelta

from services.assessments.tests.conftest import EH, POLICE, SCHOOL, add_taf, events, h, new_episode

SOON = (date.today() + timedelta(days=90)).isoformat()
PAST = (date.today() - timedelta(days=1)).isoformat()


def plan_body(**over):
    body = {
        "outcomes": [
            {
                "headline": "good_education",
                "description": "Amira attends school",
                "measure": "attendance %",
                "baseline": "71",
                "target": "95",
                "target_on": SOON,
            },
            {
                "headline": "improved_mental_and_physical_health",
                "description": "Mum's health reviewed",
                "measure": "GP review held",
                "baseline": "no",
                "target": "yes",
                "target_on": SOON,
            },
        ],
        "actions": [
            {
                "description": "Daily check-in",
                "owner": {"agency_id": "school-1", "name": "Ms Head"},
                "due_on": SOON,
                "outcome_refs": [0],
            },
            {
                "description": "Book GP review",
                "owner": {"agency_id": "eh-team", "name": "Erin"},
                "due_on": SOON,
                "outcome_refs": [1],
            },
        ],
    }
    body.update(over)
    return body


async def test_not_smart_is_422_naming_each_item(svc):
    ep = await new_episode(svc)
    url = f"/v1/episodes/{ep['id']}/plan"
    cases = [
        (lambda b: b["actions"][0].pop("owner"), "actions.0.owner"),
        (lambda b: b["actions"][1].pop("due_on"), "actions.1.due_on"),
        (lambda b: b["actions"][1].update(due_on=PAST), "actions.1.due_on"),
        (lambda b: b["outcomes"][1].pop("measure"), "outcomes.1.measure"),
        (lambda b: b["outcomes"][0].pop("baseline"), "outcomes.0.baseline"),
        (lambda b: b["outcomes"][0].pop("target"), "outcomes.0.target"),
        (lambda b: b["outcomes"][1].pop("target_on"), "outcomes.1.target_on"),
        (lambda b: b["outcomes"][1].update(target_on=PAST), "outcomes.1.target_on"),
        (lambda b: b["outcomes"][0].update(headline="happiness"), "outcomes.0.headline"),
        (lambda b: b["actions"][0].update(outcome_refs=[5]), "actions.0.outcome_refs.0"),
    ]
    for mutate, field in cases:
        body = plan_body()
        mutate(body)
        r = await svc.client.put(url, json=body, headers=h(svc, EH))
        assert r.status_code == 422, field
        assert r.json()["type"].endswith("/plan-not-smart")
        assert field in [e["field"] for e in r.json()["errors"]], (field, r.json())
    assert (await svc.client.get(url, headers=h(svc, EH))).status_code == 404


async def test_plans_are_versioned_and_every_version_readable(svc):
    ep = await new_episode(svc)
    url = f"/v1/episodes/{ep['id']}/plan"
    v1 = (await svc.client.put(url, json=plan_body(), headers=h(svc, EH))).json()
    assert v1["version"] == 1 and len(v1["outcomes"]) == 2
    body = plan_body()
    body["outcomes"][0]["id"] = v1["outcomes"][0]["id"]
    body["outcomes"][0]["target"] = "97"
    body["actions"] = [{**body["actions"][0], "id": v1["actions"][0]["id"]}]
    v2 = (await svc.client.put(url, json=body, headers=h(svc, EH))).json()
    assert v2["version"] == 2 and v2["versions"] == [1, 2]
    assert v2["outcomes"][0]["id"] == v1["outcomes"][0]["id"] and v2["outcomes"][0]["target"] == "97"
    old = (await svc.client.get(f"{url}/versions/1", headers=h(svc, EH))).json()
    assert old["outcomes"][0]["target"] == "95" and len(old["actions"]) == 2
    assert (await svc.client.get(url, headers=h(svc, EH))).json()["version"] == 2
    assert (await svc.client.get(f"{url}/versions/9", headers=h(svc, EH))).status_code == 404
    assert [e["version"] for e in await events(svc, "plan.agreed")] == [1, 2]
    assert len(await events(svc, "action.created")) == 2  # the kept action is not created again
    body["actions"][0]["id"] = "not-an-action"
    r = await svc.client.put(url, json=body, headers=h(svc, EH))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "actions.0.id"


async def test_action_updated_by_its_owner_and_refused_for_another_agency(svc, fake_consent):
    ep = await new_episode(svc)
    person = ep["person_ids"][0]
    await add_taf(svc, ep["id"], SCHOOL)
    await add_taf(svc, ep["id"], POLICE)
    fake_consent.allowed |= {(person, "school-1"), (person, "police-1")}
    plan = (
        await svc.client.put(f"/v1/episodes/{ep['id']}/plan", json=plan_body(), headers=h(svc, EH))
    ).json()
    action = plan["actions"][0]  # owned by school-1
    url = f"/v1/actions/{action['id']}"
    # the owner: If-Match required
    assert (
        await svc.client.patch(url, json={"status": "in_progress"}, headers=h(svc, SCHOOL))
    ).status_code == 428
    etag = f'"{action["id"]}-1"'
    r = await svc.client.patch(
        url,
        json={"status": "completed", "progress_notes": "done"},
        headers=h(svc, SCHOOL, **{"If-Match": etag}),
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed" and r.json()["completed_at"]
    assert (await events(svc, "action.completed"))[0]["owner_agency_id"] == "school-1"
    r = await svc.client.patch(url, json={"status": "open"}, headers=h(svc, SCHOOL, **{"If-Match": etag}))
    assert r.status_code == 412
    # another agency on the TAF can see it but does not own it: 403
    r = await svc.client.patch(url, json={"status": "open"}, headers=h(svc, POLICE, **{"If-Match": "*"}))
    assert r.status_code == 403 and r.json()["type"].endswith("/not-action-owner")
    # early help sees everything but still does not own the school's action
    r = await svc.client.patch(url, json={"status": "open"}, headers=h(svc, EH, **{"If-Match": "*"}))
    assert r.status_code == 403
    # an agency that cannot see the episode: 404
    other = {"agency_type": "housing", "agency_id": "housing-1", "scopes": "episodes:write"}
    r = await svc.client.patch(url, json={"status": "open"}, headers=h(svc, other, **{"If-Match": "*"}))
    assert r.status_code == 404
    r = await svc.client.patch(url, json={"status": "lost"}, headers=h(svc, SCHOOL, **{"If-Match": "*"}))
    assert r.status_code == 422


async def test_reviews_scores_next_review_and_distance_travelled(svc):
    ep = await new_episode(svc)
    eid = ep["id"]
    url = f"/v1/episodes/{eid}/reviews"
    r = await svc.client.post(
        url, json={"held_on": "2026-11-01", "next_review_on": "2026-12-01"}, headers=h(svc, EH)
    )
    assert r.status_code == 409 and r.json()["type"].endswith("/no-plan")
    plan = (await svc.client.put(f"/v1/episodes/{eid}/plan", json=plan_body(), headers=h(svc, EH))).json()
    o1, o2 = plan["outcomes"][0]["id"], plan["outcomes"][1]["id"]
    r = await svc.client.post(
        url,
        json={
            "held_on": "2026-10-01",
            "next_review_on": "2026-12-25",
            "outcome_progress": [{"outcome_id": o1, "score": 3}],
        },
        headers=h(svc, EH),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "next_review_on"  # 12 weeks + 1 day
    r = await svc.client.post(
        url,
        json={
            "held_on": "2026-10-01",
            "next_review_on": "2026-11-12",
            "outcome_progress": [{"outcome_id": o1, "score": 11}],
        },
        headers=h(svc, EH),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "outcome_progress.0.score"
    r = await svc.client.post(
        url,
        json={
            "held_on": "2026-10-01",
            "next_review_on": "2026-11-12",
            "outcome_progress": [{"outcome_id": "nope", "score": 1}],
        },
        headers=h(svc, EH),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "outcome_progress.0.outcome_id"
    r = await svc.client.post(
        url,
        json={
            "held_on": "2026-10-01",
            "next_review_on": "2026-12-24",
            "outcome_progress": [{"outcome_id": o1, "score": 3}, {"outcome_id": o2, "score": 5}],
        },
        headers=h(svc, EH),
    )
    assert r.status_code == 201, r.text  # exactly 12 weeks is allowed
    await svc.client.post(
        url,
        json={
            "held_on": "2026-11-12",
            "next_review_on": "2026-12-24",
            "outcome_progress": [{"outcome_id": o1, "score": 6}, {"outcome_id": o2, "score": 4}],
        },
        headers=h(svc, EH),
    )
    assert [e["next_review_on"] for e in await events(svc, "review.held")] == ["2026-12-24", "2026-12-24"]
    got = (await svc.client.get(f"/v1/episodes/{eid}", headers=h(svc, EH))).json()
    dist = {d["outcome_id"]: d for d in got["distance_travelled"]}
    assert dist[o1]["first_score"] == 3 and dist[o1]["latest_score"] == 6 and dist[o1]["change"] == 3
    assert dist[o2]["change"] == -1 and dist[o1]["headline"] == "good_education"
    assert len((await svc.client.get(url, headers=h(svc, EH))).json()) == 2
