"""Linked referrals through the real gateway and services (issue 20, item 5).

A request parked (`linked`) on an episode goes back to the MASH queue when the episode closes,
with its front-door deadline open again in notifications and the re-queue in the journey; a
request parked on an undecided referral that is decided `team_around_the_family` tells its
own referrer the outcome and joins the episode; a safeguarding concern may say consent was
not obtained. Events travel through the real outboxes: effects are awaited, never assumed.
"""

from __future__ import annotations

import random
import string
import time

import pytest

pytestmark = pytest.mark.e2e

SCHOOL, POLICE, MASH, EARLY_HELP = "demo-education", "demo-police", "demo-mash", "demo-early-help"


def eventually(fn, timeout: float = 20.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def family() -> str:
    return "".join(random.choices(string.ascii_uppercase, k=10)).capitalize()


def rfs(name: str, **over) -> dict:
    body = {
        "referral_type": "request_for_support",
        "referrer": {"name": "Jo Clarke", "role": "Designated safeguarding lead"},
        "children": [{"given_name": "Amira", "family_name": name, "date_of_birth": "2016-05-04"}],
        "address": {"line1": "1 Oak Street", "postcode": "S60 1AE"},
        "needs": ["school_attendance"],
        "summary": "Attendance 71%.",
        "consent": {
            "obtained": True,
            "given_by": "Samira",
            "obtained_at": "2026-01-05T10:00:00Z",
            "method": "phone",
        },
    }
    body.update(over)
    return body


def decide(api, rid: str, level: str = "partnership_plus", outcome: str = "team_around_the_family"):
    return api.post(
        MASH,
        f"/v1/referrals/{rid}/decision",
        json={
            "level_of_need": level,
            "outcome": outcome,
            "rationale": "Several needs.",
            "decided_by": {"name": "Pat", "role": "Team manager"},
        },
    )


def create(api, client: str, body: dict) -> str:
    resp = api.post(client, "/v1/referrals", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def outcome_told(api, client: str, rid: str) -> bool:
    return any(
        n.get("referral_id") == rid and n.get("kind") == "referral.decided"
        for n in api.get(client, "/v1/notifications", params={"limit": 200}).json()["items"]
    )


def test_a_request_parked_on_an_episode_is_requeued_when_it_closes(api):
    name = family()
    first = create(api, SCHOOL, rfs(name))
    assert decide(api, first).status_code == 200
    episode_id = eventually(lambda: api.get(MASH, f"/v1/referrals/{first}").json().get("episode_id"))
    assert episode_id
    # The referrals service learns of the episode from episode.opened: then a new request joins it.
    parked = create(api, POLICE, rfs(name, needs=["anti_social_behaviour"]))
    got = api.get(MASH, f"/v1/referrals/{parked}").json()
    assert got["status"] == "linked" and got["open_episode_id"] == episode_id, got
    assert api.get(POLICE, f"/v1/referrals/{parked}").json()["status"] == "received"  # least disclosure

    closed = api.post(
        EARLY_HELP, f"/v1/episodes/{episode_id}/close", json={"reason": "needs_met", "summary": "Done."}
    )
    assert closed.status_code == 200, closed.text

    back = eventually(
        lambda: (r := api.get(MASH, f"/v1/referrals/{parked}").json())["status"] == "received" and r
    )
    assert back and back["requeue_reason"] == "episode_closed" and back["requeued_at"]
    queue = api.get(MASH, "/v1/mash/queue", params={"limit": 200}).json()["items"]
    assert parked in [r["id"] for r in queue]
    # notifications has the front-door decision due again.
    assert eventually(
        lambda: any(
            d["kind"] == "front_door_decision" and d["status"] == "open"
            for d in api.get(MASH, "/v1/deadlines", params={"referral_id": parked}).json()["items"]
        )
    )
    person = got["children"][0]["person_id"]
    journey = api.get(MASH, f"/v1/people/{person}/journey").json()
    mine = [i["kind"] for i in journey["items"] if i.get("referral_id") == parked]
    assert "referral_requeued" in mine, mine
    # Decided now, its referrer hears the outcome as every referrer does.
    assert decide(api, parked, "universal", "no_further_action").status_code == 200
    assert eventually(lambda: outcome_told(api, POLICE, parked))


def test_a_request_parked_on_an_undecided_referral_follows_its_decision(api):
    name = family()
    first = create(api, SCHOOL, rfs(name))
    parked = create(api, POLICE, rfs(name))
    got = api.get(MASH, f"/v1/referrals/{parked}").json()
    assert got["status"] == "linked" and got["linked_referral_id"] == first
    assert decide(api, first).status_code == 200
    # The police hear the outcome about their own referral, not the school's.
    assert eventually(lambda: outcome_told(api, POLICE, parked))
    assert not outcome_told(api, POLICE, first)
    # And the referral joins the episode the decision opened.
    episode_id = eventually(lambda: api.get(MASH, f"/v1/referrals/{first}").json().get("episode_id"))
    assert eventually(
        lambda: api.get(MASH, f"/v1/referrals/{parked}").json().get("open_episode_id") == episode_id
    )


def test_a_request_parked_on_a_referral_decided_otherwise_goes_back_to_the_mash(api):
    name = family()
    first = create(api, SCHOOL, rfs(name))
    parked = create(api, POLICE, rfs(name))
    assert decide(api, first, "universal", "no_further_action").status_code == 200
    got = api.get(MASH, f"/v1/referrals/{parked}").json()
    assert got["status"] == "received" and got["requeue_reason"] == "linked_referral_decided"


def test_a_safeguarding_concern_may_say_consent_was_not_obtained(api):
    body = rfs(family(), referral_type="safeguarding_concern", consent={"obtained": False})
    resp = api.post(POLICE, "/v1/referrals", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["consent"]["obtained"] is False
    refused = api.post(SCHOOL, "/v1/referrals", json=rfs(family(), consent={"obtained": False}))
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/consent-required")
    missing = api.post(SCHOOL, "/v1/referrals", json=rfs(family(), consent={"obtained": True}))
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {
        "consent.given_by",
        "consent.obtained_at",
        "consent.method",
    }
