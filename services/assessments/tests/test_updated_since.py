"""`?updated_since=` on the assessments service's worklists and an episode's step-ups and reviews
(issue 20): an item changed before the moment is left out, one changed after it is listed.

An episode changes (its `updated_at`) whenever it is touched, an assessment whenever it moves on,
a step-up when requested and when sent, a review (never changed) when recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.assessments.tests.conftest import EH, POLICE, add_taf, h, new_episode
from services.assessments.tests.test_plans import plan_body
from services.assessments.tests.test_policy import EDDIE, ELLIE, ERIN, start_and_submit
from services.assessments.tests.test_step_up import FakeReferrals, use
from shared.clock import london_today


def moments() -> tuple[datetime, str, str]:
    """T0 (close to the real time, so the tests' real-date plan dates stay valid), with the
    moments an hour before and an hour after it."""
    t0 = datetime.now(UTC).replace(microsecond=0)
    return t0, (t0 - timedelta(hours=1)).isoformat(), (t0 + timedelta(hours=1)).isoformat()


async def listed(svc, url: str, who: dict[str, str], since: str | None = None) -> list[str]:
    params = {} if since is None else {"updated_since": since}
    resp = await svc.client.get(url, params=params, headers=h(svc, who))
    assert resp.status_code == 200, resp.text
    body: Any = resp.json()
    items = body if isinstance(body, list) else body["items"]
    return [i.get("id") or i["step_up_id"] for i in items]


async def test_my_caseload_changed_since(svc, clock):
    t0, before, after = moments()
    clock.set(t0)
    quiet = await new_episode(svc)
    await add_taf(svc, quiet["id"], EH, practitioner_id="p-ellie")
    busy = await new_episode(svc)
    await add_taf(svc, busy["id"], EH, practitioner_id="p-ellie")
    clock.set(t0 + timedelta(hours=2))
    await add_taf(svc, busy["id"], POLICE)  # the episode changes
    assert await listed(svc, "/v1/me/caseload", ELLIE, after) == [busy["id"]]
    # Both opened at T0: the order between them is the id's, so compare the sets.
    assert set(await listed(svc, "/v1/me/caseload", ELLIE, before)) == {busy["id"], quiet["id"]}
    later = (t0 + timedelta(hours=3)).isoformat()
    assert await listed(svc, "/v1/me/caseload", ELLIE, later) == []
    bad = await svc.client.get(
        "/v1/me/caseload",
        params={"updated_since": t0.replace(tzinfo=None).isoformat()},
        headers=h(svc, ELLIE),
    )
    assert bad.status_code == 422 and "updated_since" in bad.text


async def test_assessments_awaiting_approval_changed_since(svc, clock):
    t0, before, after = moments()
    clock.set(t0)
    first = await start_and_submit(svc, (await new_episode(svc))["id"], ELLIE)
    clock.set(t0 + timedelta(hours=2))
    second = await start_and_submit(svc, (await new_episode(svc))["id"], EDDIE)
    url = "/v1/assessments?status=submitted"
    assert await listed(svc, url, ERIN, after) == [second["id"]]
    assert await listed(svc, url, ERIN, before) == [first["id"], second["id"]]  # oldest first
    assert await listed(svc, url, ERIN, (t0 + timedelta(hours=3)).isoformat()) == []


async def test_step_ups_changed_when_requested_or_sent(svc, clock):
    t0, before, after = moments()
    fake = FakeReferrals()
    use(svc, fake)
    ep = await new_episode(svc)
    url = f"/v1/episodes/{ep['id']}/step-up"
    clock.set(t0)
    sent = await svc.client.post(url, json={"reason": "disclosure of harm"}, headers=h(svc, EH))
    assert sent.status_code == 201 and sent.json()["status"] == "sent", sent.text
    # A second one, requested an hour and a half later, is sent only at T0 + 3h by the worker.
    fake.fail_first = fake.calls + 100
    clock.set(t0 + timedelta(minutes=90))
    pending = await svc.client.post(url, json={"reason": "risk rising"}, headers=h(svc, EH))
    assert pending.status_code == 202 and pending.json()["status"] == "pending", pending.text
    clock.set(t0 + timedelta(hours=3))
    fake.fail_first = 0
    await svc.runtime.run_jobs_once()
    first_id, second_id = sent.json()["step_up_id"], pending.json()["step_up_id"]
    listing = f"/v1/episodes/{ep['id']}/step-ups"
    assert sorted(await listed(svc, listing, EH, before)) == sorted([first_id, second_id])
    assert await listed(svc, listing, EH, after) == [second_id]
    # Requested before T0 + 2h but sent after it: a change after the moment.
    assert await listed(svc, listing, EH, (t0 + timedelta(hours=2)).isoformat()) == [second_id]
    assert await listed(svc, listing, EH, (t0 + timedelta(hours=4)).isoformat()) == []


async def test_reviews_changed_since(svc, clock):
    t0, before, after = moments()
    ep = await new_episode(svc)
    eid = ep["id"]
    clock.set(t0)
    put = await svc.client.put(f"/v1/episodes/{eid}/plan", json=plan_body(), headers=h(svc, EH))
    assert put.status_code in (200, 201), put.text

    async def review() -> str:
        held = london_today()
        resp = await svc.client.post(
            f"/v1/episodes/{eid}/reviews",
            json={"held_on": held.isoformat(), "next_review_on": (held + timedelta(weeks=6)).isoformat()},
            headers=h(svc, EH),
        )
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    old = await review()
    clock.set(t0 + timedelta(hours=2))
    new = await review()
    url = f"/v1/episodes/{eid}/reviews"
    assert await listed(svc, url, EH, after) == [new]
    assert sorted(await listed(svc, url, EH, before)) == sorted([old, new])
    assert await listed(svc, url, EH, (t0 + timedelta(hours=3)).isoformat()) == []
