"""The Early Help Assessment: states, If-Match, extensions, reassessment after 12 months."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import update

from services.assessments.models import Assessment
from services.assessments.tests.conftest import EH, events, h, new_episode

FULL = {
    "family_members": [
        {"role": "child", "views": "likes school", "strengths": ["reading"], "needs": ["attendance"]},
        {"role": "mother", "views": "tired", "strengths": ["loving"], "needs": ["GP review"]},
    ],
    "baseline": {
        "school_attendance_percent": 71,
        "exclusions": 0,
        "anti_social_behaviour_incidents": 0,
        "developmental_milestones": {"on_track": True},
    },
    "factors": ["parental_mental_health", "school_attendance"],
    "diversity": {"religion": "Muslim", "culture": "British Pakistani"},
    "analysis": "Attendance falls when mum is unwell.",
    "priorities": ["attendance", "mum's health"],
}


async def start(svc, eid: str, body=None):
    return await svc.client.post(f"/v1/episodes/{eid}/assessments", json=body or {}, headers=h(svc, EH))


async def test_lifecycle_with_if_match_return_and_approval(svc):
    ep = await new_episode(svc)
    r = await start(svc, ep["id"])
    assert r.status_code == 201, r.text
    a = r.json()
    url = f"/v1/assessments/{a['id']}"
    assert a["status"] == "draft" and r.headers["location"] == url
    assert (await events(svc, "assessment.started"))[0]["due_on"] == a["due_on"]
    # PATCH needs If-Match: 428 without, 412 with a stale one.
    assert (await svc.client.patch(url, json={"analysis": "x"}, headers=h(svc, EH))).status_code == 428
    etag = r.headers["etag"]
    ok = await svc.client.patch(url, json=FULL, headers=h(svc, EH, **{"If-Match": etag}))
    assert ok.status_code == 200, ok.text
    assert ok.json()["baseline"]["school_attendance_percent"] == 71
    stale = await svc.client.patch(url, json={"analysis": "y"}, headers=h(svc, EH, **{"If-Match": etag}))
    assert stale.status_code == 412
    bad = await svc.client.patch(
        url,
        json={"diversity": {"favourite_colour": "x"}},
        headers=h(svc, EH, **{"If-Match": ok.headers["etag"]}),
    )
    assert bad.status_code == 422
    bad = await svc.client.patch(
        url,
        json={"baseline": {"school_attendance_percent": 140}},
        headers=h(svc, EH, **{"If-Match": ok.headers["etag"]}),
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "baseline.school_attendance_percent"
    # approve before submit is a conflict
    r = await svc.client.post(
        f"{url}/approve", json={"approved_by": {"name": "M", "role": "manager"}}, headers=h(svc, EH)
    )
    assert r.status_code == 409 and r.json()["type"].endswith("/assessment-state")
    assert (await svc.client.post(f"{url}/submit", headers=h(svc, EH))).json()["status"] == "submitted"
    # editing a submitted assessment is a conflict
    cur = await svc.client.get(url, headers=h(svc, EH))
    r = await svc.client.patch(
        url, json={"analysis": "z"}, headers=h(svc, EH, **{"If-Match": cur.headers["etag"]})
    )
    assert r.status_code == 409
    r = await svc.client.post(f"{url}/return", json={"reason": "Add the father's views"}, headers=h(svc, EH))
    assert r.json()["status"] == "returned" and r.json()["return_reason"] == "Add the father's views"
    r = await svc.client.patch(
        url, json={"analysis": "better"}, headers=h(svc, EH, **{"If-Match": r.headers["etag"]})
    )
    assert r.status_code == 200
    assert (await svc.client.post(f"{url}/submit", headers=h(svc, EH))).status_code == 200
    r = await svc.client.post(
        f"{url}/approve", json={"approved_by": {"name": "M", "role": "manager"}}, headers=h(svc, EH)
    )
    assert r.json()["status"] == "approved" and r.json()["approved_at"]
    assert len(await events(svc, "assessment.submitted")) == 2
    assert len(await events(svc, "assessment.approved")) == 1


async def test_submit_needs_family_sections_and_analysis(svc):
    ep = await new_episode(svc)
    a = (await start(svc, ep["id"])).json()
    r = await svc.client.post(f"/v1/assessments/{a['id']}/submit", headers=h(svc, EH))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "family_members"


async def test_extension_needs_approver_and_reason_and_moves_due_date(svc):
    ep = await new_episode(svc)
    a = (await start(svc, ep["id"])).json()
    url = f"/v1/assessments/{a['id']}/extensions"
    later = (date.fromisoformat(a["due_on"]) + timedelta(days=14)).isoformat()
    r = await svc.client.post(url, json={"new_due_on": later, "reason": "family ill"}, headers=h(svc, EH))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "approved_by"
    r = await svc.client.post(
        url, json={"new_due_on": later, "approved_by": {"name": "M", "role": "manager"}}, headers=h(svc, EH)
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = await svc.client.post(
        url,
        json={"new_due_on": a["due_on"], "reason": "x", "approved_by": {"name": "M", "role": "manager"}},
        headers=h(svc, EH),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "new_due_on"
    r = await svc.client.post(
        url,
        json={"new_due_on": later, "reason": "family ill", "approved_by": {"name": "M", "role": "manager"}},
        headers=h(svc, EH),
    )
    assert r.status_code == 201 and r.json()["due_on"] == later
    assert r.json()["extensions"][0]["previous_due_on"] == a["due_on"]
    assert (await events(svc, "assessment.extended"))[0]["new_due_on"] == later


async def test_reassessment_only_after_12_months(svc):
    ep = await new_episode(svc)
    a = (await start(svc, ep["id"], FULL)).json()
    assert (await start(svc, ep["id"])).status_code == 409  # one in progress
    await svc.client.post(f"/v1/assessments/{a['id']}/submit", headers=h(svc, EH))
    await svc.client.post(
        f"/v1/assessments/{a['id']}/approve",
        json={"approved_by": {"name": "M", "role": "m"}},
        headers=h(svc, EH),
    )
    r = await start(svc, ep["id"])
    assert r.status_code == 409 and r.json()["type"].endswith("/reassessment-not-due")
    async with svc.runtime.db.session() as s:
        await s.execute(
            update(Assessment)
            .where(Assessment.id == a["id"])
            .values(approved_at=datetime.now(UTC) - timedelta(days=366))
        )
    r = await start(svc, ep["id"])
    assert r.status_code == 201 and r.json()["id"] != a["id"] and r.json()["episode_id"] == ep["id"]
