"""Episodes: opened by referral decisions (once), step-down, self-referral; lead professional,
TAF, contacts, joint visits, closure, the timeline and reports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.assessments.tests.conftest import (
    EH,
    MASH,
    POLICE,
    add_taf,
    decided_event,
    deliver,
    events,
    h,
    new_episode,
)


async def test_referral_decided_opens_one_episode_even_when_replayed(svc):
    env = decided_event()
    rid, person = env["data"]["referral_id"], env["data"]["person_ids"][0]
    assert (await deliver(svc, env)).json()["applied"] is True
    assert (await deliver(svc, env)).json()["applied"] is False  # same event id
    again = {**env, "id": str(uuid.uuid4())}  # the same decision re-sent under a new event id
    assert (await deliver(svc, again)).json()["applied"] is True
    other = decided_event(outcome="signpost_universal")
    await deliver(svc, other)
    r = await svc.client.get(f"/v1/episodes?person_id={person}", headers=h(svc, EH))
    items = r.json()["items"]
    assert len(items) == 1
    ep = items[0]
    assert ep["referral_id"] == rid and ep["origin"] == "referral" and ep["status"] == "open"
    assert ep["reference"].startswith(f"EH-{datetime.now(UTC).year}-") and len(ep["reference"]) == 14
    opened = await events(svc, "episode.opened")
    assert len(opened) == 1 and opened[0]["referral_id"] == rid and opened[0]["person_ids"] == [person]
    assert "referral_received_at" in opened[0]
    r = await svc.client.get(f"/v1/episodes?person_id={other['data']['person_ids'][0]}", headers=h(svc, EH))
    assert r.json()["items"] == []


async def test_references_are_sequential(svc):
    a = await new_episode(svc)
    b = await new_episode(svc)
    assert int(b["reference"][-6:]) == int(a["reference"][-6:]) + 1


async def test_step_down_needs_panel_and_social_worker_and_sets_joint_visit_deadline(svc):
    person = str(uuid.uuid4())
    base = {"origin": "step_down", "person_ids": [person]}
    r = await svc.client.post("/v1/episodes", json=base, headers=h(svc, EH))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "stepdown_panel_on"
    r = await svc.client.post(
        "/v1/episodes", json={**base, "stepdown_panel_on": "2026-04-01"}, headers=h(svc, EH)
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "social_worker"
    sw = {"name": "Sam Social", "email": "sam@council.example"}
    r = await svc.client.post(
        "/v1/episodes",
        json={**base, "stepdown_panel_on": "2026-04-01", "social_worker": sw, "surprise": 1},
        headers=h(svc, EH),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "surprise"
    # The Wilson family: panel on Wed 1 April 2026; Good Friday and Easter Monday are not working days.
    r = await svc.client.post(
        "/v1/episodes",
        json={**base, "stepdown_panel_on": "2026-04-01", "social_worker": sw},
        headers=h(svc, EH),
    )
    assert r.status_code == 201, r.text
    ep = r.json()
    assert r.headers["location"] == f"/v1/episodes/{ep['id']}"
    assert ep["joint_visit_due_on"] == "2026-04-17" and ep["social_care_involved"] is True
    assert (await events(svc, "stepdown.opened"))[0] == {
        "episode_id": ep["id"],
        "panel_on": "2026-04-01",
        "person_ids": [person],
    }
    r = await svc.client.post(
        f"/v1/episodes/{ep['id']}/joint-visit", json={"held_on": "2026-04-15"}, headers=h(svc, EH)
    )
    assert r.status_code == 200 and r.json()["within_deadline"] is True
    assert (await events(svc, "joint_visit.recorded"))[0]["held_on"] == "2026-04-15"
    r = await svc.client.post(
        f"/v1/episodes/{ep['id']}/joint-visit", json={"held_on": "2026-04-16"}, headers=h(svc, EH)
    )
    assert r.status_code == 409 and r.json()["type"].endswith("/joint-visit-recorded")


async def test_self_referral_and_joint_visit_only_for_step_down(svc):
    r = await svc.client.post(
        "/v1/episodes",
        json={"origin": "self_referral", "person_ids": [str(uuid.uuid4())]},
        headers=h(svc, EH),
    )
    assert r.status_code == 201 and r.json()["origin"] == "self_referral"
    r2 = await svc.client.post(
        f"/v1/episodes/{r.json()['id']}/joint-visit", json={"held_on": "2026-04-15"}, headers=h(svc, EH)
    )
    assert r2.status_code == 409 and r2.json()["type"].endswith("/not-a-step-down")
    r3 = await svc.client.post(
        "/v1/episodes",
        json={
            "origin": "self_referral",
            "person_ids": [str(uuid.uuid4())],
            "stepdown_panel_on": "2026-04-01",
        },
        headers=h(svc, EH),
    )
    assert r3.status_code == 422
    r4 = await svc.client.post(
        "/v1/episodes",
        json={"origin": "self_referral", "person_ids": [str(uuid.uuid4())]},
        headers=h(svc, {**EH, "scopes": "episodes:read"}),
    )
    assert r4.status_code == 403


async def test_lead_professional_history_and_event(svc):
    ep = await new_episode(svc)
    url = f"/v1/episodes/{ep['id']}/lead-professional"
    a = {"name": "Erin Early", "agency_id": "eh-team", "email": "erin@council.example", "family_agreed": True}
    b = {"name": "Sue School", "agency_id": "school-1", "email": "sue@school.example", "family_agreed": True}
    assert (await svc.client.put(url, json=a, headers=h(svc, EH))).status_code == 200
    assert (await svc.client.put(url, json=b, headers=h(svc, EH))).status_code == 200
    assert (await svc.client.put(url, json={**a, "email": "nope"}, headers=h(svc, EH))).status_code == 422
    got = (await svc.client.get(f"/v1/episodes/{ep['id']}", headers=h(svc, EH))).json()
    assert got["lead_professional"]["name"] == "Sue School"
    hist = got["lead_professional_history"]
    assert [x["name"] for x in hist] == ["Erin Early", "Sue School"]
    assert (
        hist[0]["ended_at"] is not None and hist[1]["ended_at"] is None and hist[0]["family_agreed"] is True
    )
    evs = await events(svc, "lead_professional.assigned")
    assert [e["agency_id"] for e in evs] == ["eh-team", "school-1"] and evs[0][
        "email"
    ] == "erin@council.example"


async def test_taf_membership_add_and_remove(svc):
    ep = await new_episode(svc)
    m = await add_taf(svc, ep["id"], POLICE, role="neighbourhood officer")
    got = (await svc.client.get(f"/v1/episodes/{ep['id']}", headers=h(svc, EH))).json()
    assert [x["agency_id"] for x in got["taf_members"]] == ["police-1"]
    r = await svc.client.delete(f"/v1/episodes/{ep['id']}/taf-members/{m['id']}", headers=h(svc, EH))
    assert r.status_code == 204
    got = (await svc.client.get(f"/v1/episodes/{ep['id']}", headers=h(svc, EH))).json()
    assert got["taf_members"] == []
    r = await svc.client.delete(f"/v1/episodes/{ep['id']}/taf-members/{m['id']}", headers=h(svc, EH))
    assert r.status_code == 404


async def test_first_contact_meets_72_hour_deadline(svc):
    ep = await new_episode(svc)
    url = f"/v1/episodes/{ep['id']}/contacts"
    now = datetime.now(UTC)
    future = (now + timedelta(days=1)).isoformat()
    r = await svc.client.post(
        url, json={"contact_at": future, "method": "phone", "notes": "x"}, headers=h(svc, EH)
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "contact_at"
    r = await svc.client.post(
        url,
        json={"contact_at": now.isoformat(), "method": "home_visit", "notes": "met mum"},
        headers=h(svc, EH),
    )
    assert r.status_code == 201 and r.json()["first"] is True and r.json()["within_deadline"] is True
    r = await svc.client.post(
        url, json={"contact_at": now.isoformat(), "method": "phone", "notes": "follow up"}, headers=h(svc, EH)
    )
    assert r.json()["first"] is False and r.json()["within_deadline"] is None
    evs = await events(svc, "contact.recorded")
    assert [e["first"] for e in evs] == [True, False]
    got = (await svc.client.get(f"/v1/episodes/{ep['id']}", headers=h(svc, EH))).json()
    assert got["first_contact_at"] is not None


async def test_closed_episode_is_read_only(svc):
    ep = await new_episode(svc)
    eid = ep["id"]
    r = await svc.client.post(
        f"/v1/episodes/{eid}/close",
        json={"reason": "moved_away", "summary": "left the area"},
        headers=h(svc, EH),
    )
    assert (
        r.status_code == 200 and r.json()["status"] == "closed" and r.json()["close_reason"] == "moved_away"
    )
    assert (await events(svc, "episode.closed"))[0]["reason"] == "moved_away"
    attempts = [
        ("post", f"/v1/episodes/{eid}/close", {"reason": "needs_met"}),
        (
            "put",
            f"/v1/episodes/{eid}/lead-professional",
            {"name": "A", "agency_id": "eh-team", "email": "a@b.example", "family_agreed": True},
        ),
        (
            "post",
            f"/v1/episodes/{eid}/taf-members",
            {"agency_id": "x", "agency_type": "police", "name": "n", "role": "r"},
        ),
        (
            "post",
            f"/v1/episodes/{eid}/contacts",
            {"contact_at": datetime.now(UTC).isoformat(), "method": "phone", "notes": ""},
        ),
        ("post", f"/v1/episodes/{eid}/assessments", {}),
        ("post", f"/v1/episodes/{eid}/step-up", {"reason": "risk"}),
        ("post", f"/v1/episodes/{eid}/reviews", {"held_on": "2026-01-01", "next_review_on": "2026-02-01"}),
    ]
    for method, url, body in attempts:
        r = await getattr(svc.client, method)(url, json=body, headers=h(svc, EH))
        assert r.status_code == 409, (url, r.text)
        assert r.json()["type"].endswith("/episode-closed")
    assert (await svc.client.get(f"/v1/episodes/{eid}", headers=h(svc, EH))).status_code == 200
    r = await svc.client.post(f"/v1/episodes/{eid}/close", json={"reason": "bored"}, headers=h(svc, EH))
    assert r.status_code == 422


async def test_timeline_for_referrals_withholds_what_the_agency_may_not_see(svc):
    person = str(uuid.uuid4())
    ep = await new_episode(svc, [person])
    url = f"/internal/people/{person}/timeline"
    service = svc.headers(agency_type="service", audience="early-help-api")
    r = await svc.client.get(url, params={"agency_id": "police-1", "agency_type": "police"}, headers=service)
    assert r.status_code == 200
    assert r.json()["items"] == []
    assert r.json()["withheld"] == [{"episode_id": ep["id"], "reason": "not_on_team_around_the_family"}]
    r = await svc.client.get(url, params={"agency_id": "mash-1", "agency_type": "mash"}, headers=service)
    kinds = [i["kind"] for i in r.json()["items"]]
    assert kinds == ["episode_opened"] and r.json()["withheld"] == []
    # Only a service identity may ask.
    r = await svc.client.get(url, params={"agency_id": "mash-1", "agency_type": "mash"}, headers=h(svc, MASH))
    assert r.status_code == 403


async def test_report_json_and_csv(svc):
    ep = await new_episode(svc)
    await svc.client.post(
        f"/v1/episodes/{ep['id']}/contacts",
        json={"contact_at": datetime.now(UTC).isoformat(), "method": "phone", "notes": ""},
        headers=h(svc, EH),
    )
    await svc.client.post(f"/v1/episodes/{ep['id']}/close", json={"reason": "disengaged"}, headers=h(svc, EH))
    await new_episode(svc)
    r = await svc.client.get("/v1/reports/episodes", headers=h(svc, EH))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["episodes_opened"] == 2
    assert body["first_contact"]["within_72_hours"] == 1
    assert body["closures_by_reason"] == {"disengaged": 1}
    assert body["drift"]["open_more_than_12_months"] == 0
    csv = await svc.client.get("/v1/reports/episodes", headers=h(svc, EH, Accept="text/csv"))
    assert csv.headers["content-type"].startswith("text/csv")
    assert "closures_by_reason,disengaged,1" in csv.text
    r = await svc.client.get("/v1/reports/episodes", headers=h(svc, POLICE))
    assert r.status_code == 403
    r = await svc.client.get(
        "/v1/reports/episodes?opened_from=2026-05-01&opened_to=2026-04-01", headers=h(svc, EH)
    )
    assert r.status_code == 422
