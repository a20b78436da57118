"""The Ahmed family, the ordinary path, at service level: referral decision -> episode ->
lead professional -> contact -> assessment approved -> plan -> two reviews -> closure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.assessments.tests.conftest import EH, SCHOOL, add_taf, decided_event, deliver, events, h
from services.assessments.tests.test_assessments import FULL
from services.assessments.tests.test_plans import plan_body


async def test_ahmed_family_journey(svc, fake_consent):
    env = decided_event()
    amira = env["data"]["person_ids"][0]
    assert (await deliver(svc, env)).status_code == 202
    ep = (await svc.client.get(f"/v1/episodes?person_id={amira}", headers=h(svc, EH))).json()["items"][0]
    eid = ep["id"]
    r = await svc.client.put(
        f"/v1/episodes/{eid}/lead-professional",
        headers=h(svc, EH),
        json={
            "name": "Erin Early",
            "agency_id": "eh-team",
            "email": "erin@council.example",
            "family_agreed": True,
        },
    )
    assert r.status_code == 200
    await add_taf(svc, eid, SCHOOL, role="safeguarding lead")
    fake_consent.allowed.add((amira, "school-1"))
    r = await svc.client.post(
        f"/v1/episodes/{eid}/contacts",
        headers=h(svc, EH),
        json={"contact_at": datetime.now(UTC).isoformat(), "method": "phone", "notes": "spoke to mum"},
    )
    assert r.json()["within_deadline"] is True
    a = (await svc.client.post(f"/v1/episodes/{eid}/assessments", json=FULL, headers=h(svc, EH))).json()
    assert (await svc.client.post(f"/v1/assessments/{a['id']}/submit", headers=h(svc, EH))).status_code == 200
    r = await svc.client.post(
        f"/v1/assessments/{a['id']}/approve",
        headers=h(svc, EH),
        json={"approved_by": {"name": "Mo Manager", "role": "team manager"}},
    )
    assert r.json()["status"] == "approved"
    plan = (await svc.client.put(f"/v1/episodes/{eid}/plan", json=plan_body(), headers=h(svc, EH))).json()
    edu = plan["outcomes"][0]["id"]
    first = date.today() - timedelta(days=42)
    for held, score in ((first, 3), (first + timedelta(days=21), 6), (date.today(), 8)):
        r = await svc.client.post(
            f"/v1/episodes/{eid}/reviews",
            headers=h(svc, EH),
            json={
                "held_on": held.isoformat(),
                "next_review_on": (held + timedelta(weeks=6)).isoformat(),
                "attendees": ["Erin", "Ms Head", "Samira"],
                "outcome_progress": [{"outcome_id": edu, "score": score}],
            },
        )
        assert r.status_code == 201, r.text
    # the school, on the TAF with consent, reads the plan and the episode
    assert (await svc.client.get(f"/v1/episodes/{eid}/plan", headers=h(svc, SCHOOL))).status_code == 200
    assert (await svc.client.get(f"/v1/assessments/{a['id']}", headers=h(svc, SCHOOL))).status_code == 200
    r = await svc.client.post(
        f"/v1/episodes/{eid}/close",
        headers=h(svc, EH),
        json={"reason": "needs_met", "outcomes_achieved": [edu], "summary": "Attendance 95%"},
    )
    assert r.status_code == 200
    closed = r.json()
    assert closed["status"] == "closed" and closed["outcomes_achieved"] == [edu]
    d = closed["distance_travelled"][0]
    assert (d["first_score"], d["latest_score"], d["reviews"]) == (3, 8, 3)
    for t in (
        "episode.opened",
        "lead_professional.assigned",
        "contact.recorded",
        "assessment.started",
        "assessment.submitted",
        "assessment.approved",
        "plan.agreed",
        "action.created",
        "review.held",
        "episode.closed",
    ):
        assert await events(svc, t), t
    report = (await svc.client.get("/v1/reports/episodes", headers=h(svc, EH))).json()
    assert report["outcomes_achieved_by_headline"] == {"good_education": 1}
    assert report["assessment_started"]["within_10_working_days"] == 1
    assert report["assessment_completed"]["within_45_working_days"] == 1
    assert report["drift"]["three_or_more_reviews"] == 1
    timeline = await svc.client.get(
        f"/internal/people/{amira}/timeline",
        params={"agency_id": "school-1", "agency_type": "education"},
        headers=svc.headers(agency_type="service", audience="early-help-api"),
    )
    kinds = [i["kind"] for i in timeline.json()["items"]]
    assert kinds[-1] == "episode_closed" and kinds.count("review_held") == 3 and "plan_agreed" in kinds
    assert timeline.json()["withheld"] == []
    await svc.runtime.run_jobs_once()
    kinds = {d["resource_type"] for d in fake_consent.disclosures if d["agency_id"] == "school-1"}
    assert {"plan", "assessment", "episode"} <= kinds
