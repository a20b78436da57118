"""Linked referrals are never parked forever (issue 20, item 5; rules in requeue.py).

- linked to an episode: re-queued for the MASH when the episode closes, with a new due time,
  `referral.requeued` for notifications, and the journey showing it;
- linked to an undecided referral: follows its decision - `team_around_the_family` joins the
  episode it opens (its referrer told the outcome: `referral.linked_outcome`), anything else
  or a withdrawal re-queues it;
- consent `{"obtained": false}` on a safeguarding concern.
"""

from __future__ import annotations

import httpx

from services.referrals.tests.conftest import child, london, rfs
from services.referrals.tests.test_journey import use_assessments

NO_TIMELINE = {"items": [], "withheld": []}


async def _opened(svc, episode_id: str, person_id: str, referral_id: str | None = None) -> None:
    await svc.event(
        "episode.opened",
        {
            "episode_id": episode_id,
            "referral_id": referral_id,
            "person_ids": [person_id],
            "origin": "referral" if referral_id else "step_down",
            "level_of_need": "partnership_plus",
            "opened_at": "2026-11-03T10:00:00Z",
        },
    )


async def _closed(svc, episode_id: str) -> None:
    await svc.event(
        "episode.closed",
        {"episode_id": episode_id, "reason": "needs_met", "closed_at": "2026-12-01T10:00:00Z"},
    )


async def _read(svc, referral_id: str, caller: str = "mash") -> dict:
    resp = await svc.client.get(f"/v1/referrals/{referral_id}", headers=svc.as_(caller))
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_a_referral_linked_to_an_episode_is_requeued_when_it_closes(svc):
    svc.now = london(2026, 11, 2, 9, 0)  # Monday
    first = await svc.create()
    amira = first["children"][0]["person_id"]
    await svc.decide(first["id"])
    await _opened(svc, "ep-1", amira, first["id"])
    svc.now = london(2026, 11, 10, 9, 0)
    parked = await svc.create("police", rfs(needs=["anti_social_behaviour"]))
    assert parked["status"] == "linked" and parked["open_episode_id"] == "ep-1"
    due_at_intake = parked["decision_due_at"]

    svc.now = london(2026, 12, 4, 11, 0)  # Friday: one working day on is Monday
    await _closed(svc, "ep-1")
    back = await _read(svc, parked["id"])
    assert back["status"] == "received"
    assert back["requeue_reason"] == "episode_closed"
    assert back["requeued_at"].startswith("2026-12-04T11:00:00")
    assert back["decision_due_at"] != due_at_intake
    assert back["decision_due_at"].startswith("2026-12-07T11:00:00")
    # What it had joined stays on it, for the MASH.
    assert back["open_episode_id"] == "ep-1"
    # It is in the MASH queue again, and can be decided.
    queue = (await svc.client.get("/v1/mash/queue", headers=svc.as_("mash"))).json()["items"]
    assert parked["id"] in [r["id"] for r in queue]
    [event] = await svc.outbox("referral.requeued")
    data = event["data"]
    assert data["referral_id"] == parked["id"] and data["reason"] == "episode_closed"
    assert data["requeued_at"].startswith("2026-12-04T11:00:00")
    assert data["decision_due_at"] == back["decision_due_at"].replace("Z", "+00:00")
    assert data["person_ids"] == [amira] and data["source_agency_id"] == "agency-police"
    assert "Ahmed" not in str(data) and "Amira" not in str(data)  # ids, never names
    decided = await svc.decide(parked["id"], "universal", "no_further_action")
    assert decided.status_code == 200, decided.text
    assert decided.json()["decided_within_timescale"] is True
    # A partner still sees only its own referral's status: nothing says it had been linked.
    own = await _read(svc, parked["id"], "police")
    assert own["requeued_at"] is None and own["requeue_reason"] is None


async def test_a_closed_episode_sent_again_requeues_nothing_twice(svc):
    first = await svc.create()
    amira = first["children"][0]["person_id"]
    await _opened(svc, "ep-2", amira)
    parked = await svc.create("police")
    assert parked["status"] == "linked"
    await _closed(svc, "ep-2")
    await svc.decide(parked["id"])  # decided after the re-queue
    await _closed(svc, "ep-2")  # another event id for the same close: nothing parked any more
    assert len(await svc.outbox("referral.requeued")) == 1
    assert (await _read(svc, parked["id"]))["status"] == "decided"


async def test_the_journey_shows_the_link_and_the_requeue(svc):
    use_assessments(svc, lambda r: httpx.Response(200, json=NO_TIMELINE))
    svc.now = london(2026, 11, 2, 9, 0)
    first = await svc.create()
    amira = first["children"][0]["person_id"]
    await _opened(svc, "ep-3", amira)
    svc.now = london(2026, 11, 9, 9, 0)
    parked = await svc.create("police")
    svc.now = london(2026, 12, 1, 9, 0)
    await _closed(svc, "ep-3")
    out = (await svc.client.get(f"/v1/people/{amira}/journey", headers=svc.as_("mash"))).json()
    mine = [i for i in out["items"] if i.get("referral_id") == parked["id"]]
    assert [i["kind"] for i in mine] == ["referral_linked", "referral_received", "referral_requeued"]
    requeued = mine[-1]
    assert requeued["reason"] == "episode_closed" and requeued["at"].startswith("2026-12-01T09:00:00")
    assert next(i for i in mine if i["kind"] == "referral_linked")["open_episode_id"] == "ep-3"


async def test_a_referral_linked_to_an_undecided_one_joins_the_episode_its_decision_opens(svc):
    svc.now = london(2026, 11, 2, 9, 0)
    first = await svc.create("school_a")
    amira = first["children"][0]["person_id"]
    svc.now = london(2026, 11, 2, 10, 0)
    second = await svc.create("police")
    third = await svc.create("health")
    for parked in (second, third):
        assert parked["status"] == "linked" and parked["linked_referral_id"] == first["id"]
    svc.now = london(2026, 11, 2, 15, 0)
    assert (await svc.decide(first["id"])).status_code == 200

    # Each referrer of a linked referral is told the outcome, about its own referral.
    told = await svc.outbox("referral.linked_outcome")
    assert {(e["data"]["referral_id"], e["data"]["source_agency_id"]) for e in told} == {
        (second["id"], "agency-police"),
        (third["id"], "agency-gp"),
    }
    assert all(e["data"]["outcome"] == "team_around_the_family" for e in told)
    assert all(e["data"]["reference"] for e in told)
    assert await svc.outbox("referral.requeued") == []

    # The episode the decision opened holds them; its close sends them back to the MASH.
    await _opened(svc, "ep-4", amira, first["id"])
    for parked in (second, third):
        got = await _read(svc, parked["id"])
        assert got["status"] == "linked" and got["open_episode_id"] == "ep-4"
    await _closed(svc, "ep-4")
    for parked in (second, third):
        got = await _read(svc, parked["id"])
        assert got["status"] == "received" and got["requeue_reason"] == "episode_closed"


async def test_a_referral_linked_to_one_decided_otherwise_is_requeued(svc):
    first = await svc.create("school_a")
    parked = await svc.create("police")
    assert parked["status"] == "linked"
    assert (await svc.decide(first["id"], "universal", "no_further_action")).status_code == 200
    got = await _read(svc, parked["id"])
    assert got["status"] == "received" and got["requeue_reason"] == "linked_referral_decided"
    assert got["linked_referral_id"] == first["id"]
    assert await svc.outbox("referral.linked_outcome") == []
    [event] = await svc.outbox("referral.requeued")
    assert event["data"]["reason"] == "linked_referral_decided"


async def test_a_referral_linked_to_one_withdrawn_is_requeued(svc):
    first = await svc.create("school_a")
    parked = await svc.create("police")
    resp = await svc.client.post(
        f"/v1/referrals/{first['id']}/withdraw", json={"reason": "sent twice"}, headers=svc.as_("school_a")
    )
    assert resp.status_code == 200, resp.text
    got = await _read(svc, parked["id"])
    assert got["status"] == "received" and got["requeue_reason"] == "linked_referral_withdrawn"


async def test_an_episode_closed_before_it_opened_requeues_the_followers_of_its_referral(svc):
    first = await svc.create("school_a")
    amira = first["children"][0]["person_id"]
    parked = await svc.create("police")
    await svc.decide(first["id"])
    await _closed(svc, "ep-5")  # the close overtakes the open
    await _opened(svc, "ep-5", amira, first["id"])
    got = await _read(svc, parked["id"])
    assert got["status"] == "received" and got["requeue_reason"] == "episode_closed"


async def test_a_linked_referral_on_both_an_episode_and_a_referral_follows_the_episode(svc):
    first = await svc.create("school_a")
    amira = first["children"][0]["person_id"]
    await _opened(svc, "ep-6", amira)  # a step-down episode, not from the referral
    parked = await svc.create("police")
    assert parked["open_episode_id"] == "ep-6" and parked["linked_referral_id"] == first["id"]
    await svc.decide(first["id"], "universal", "no_further_action")
    assert (await _read(svc, parked["id"]))["status"] == "linked"  # still on the open episode
    await _closed(svc, "ep-6")
    assert (await _read(svc, parked["id"]))["requeue_reason"] == "episode_closed"


# ---- consent {"obtained": false} ----


async def test_a_safeguarding_concern_may_say_consent_was_not_obtained(svc):
    body = rfs(referral_type="safeguarding_concern", consent={"obtained": False})
    resp = await svc.client.post("/v1/referrals", json=body, headers=svc.as_("police"))
    assert resp.status_code == 201, resp.text
    assert resp.json()["consent"] == {
        "obtained": False,
        "given_by": None,
        "obtained_at": None,
        "method": None,
    }
    nulls = {"obtained": False, "given_by": None, "obtained_at": None, "method": None}
    other = rfs(
        referral_type="safeguarding_concern", consent=nulls, children=[child("Ivy", "Clarke", "2015-01-01")]
    )
    resp = await svc.client.post("/v1/referrals", json=other, headers=svc.as_("police"))
    assert resp.status_code == 201, resp.text


async def test_a_request_for_support_without_consent_is_still_refused(svc):
    body = rfs(consent={"obtained": False})
    resp = await svc.client.post("/v1/referrals", json=body, headers=svc.as_("school_a"))
    assert resp.status_code == 422
    assert resp.json()["type"] == "https://early-help.example/problems/consent-required"
    harm = rfs(consent={"obtained": False}, significant_harm_suspected=True)
    assert (await svc.client.post("/v1/referrals", json=harm, headers=svc.as_("school_a"))).status_code == 201


async def test_consent_obtained_still_names_each_missing_detail(svc):
    body = rfs(consent={"obtained": True, "method": "phone"})
    resp = await svc.client.post("/v1/referrals", json=body, headers=svc.as_("school_a"))
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert problem["type"] == "https://early-help.example/problems/validation-error"
    assert [e["field"] for e in problem["errors"]] == ["consent.given_by", "consent.obtained_at"]
    concern = rfs(referral_type="safeguarding_concern", consent={"obtained": True, "given_by": "Sam"})
    resp = await svc.client.post("/v1/referrals", json=concern, headers=svc.as_("police"))
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json()["errors"]] == ["consent.obtained_at", "consent.method"]
