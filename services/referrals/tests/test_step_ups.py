"""`POST /internal/step-ups`: a safeguarding referral from an early help episode, once per id."""

from __future__ import annotations

import asyncio

from services.referrals.tests.conftest import rfs


async def test_a_step_up_is_one_urgent_referral_whatever_the_retries(svc):
    first = await svc.create()
    amira = first["children"][0]["person_id"]
    await svc.decide(first["id"])
    await svc.event(
        "episode.opened",
        {
            "episode_id": "ep-1",
            "referral_id": first["id"],
            "person_ids": [amira],
            "origin": "referral",
            "opened_at": "2026-11-03T10:00:00Z",
        },
    )
    body = {
        "step_up_id": "su-1",
        "episode_id": "ep-1",
        "person_ids": [amira],
        "reason": "Disclosure at school",
        "agency_id": "agency-early-help",
        "agency_type": "early_help",
    }
    created = await svc.client.post("/internal/step-ups", json=body, headers=svc.as_("service"))
    assert created.status_code == 201, created.text
    out = created.json()
    assert out["referral_type"] == "safeguarding_concern" and out["urgent"] is True
    assert out["status"] == "received"  # not parked on the open episode: the MASH must see it
    assert out["source_code"] == "5D" and out["source_agency_id"] == "agency-early-help"
    assert out["step_up_id"] == "su-1" and out["open_episode_id"] == "ep-1"
    assert out["children"][0]["person_id"] == amira
    again = await svc.client.post("/internal/step-ups", json=body, headers=svc.as_("service"))
    assert again.status_code == 200 and again.json()["id"] == out["id"]
    # A retry uses up no reference number: the next intake's follows the step-up's.
    following = await svc.create()
    assert [_number(r) for r in (first, out, following)] == [_number(first) + i for i in range(3)]
    [alert] = await svc.outbox("referral.safeguarding_concern")
    assert alert["data"]["referral_id"] == out["id"]
    # The agency that stepped up reads it like its own.
    mine = await svc.client.get(f"/v1/referrals/{out['id']}", headers=svc.as_("early_help"))
    assert mine.status_code == 200


async def test_concurrent_retries_of_one_step_up_make_one_referral(svc):
    first = await svc.create()
    body = {
        "step_up_id": "su-2",
        "episode_id": "ep-2",
        "person_ids": [first["children"][0]["person_id"]],
        "reason": "Escalating risk",
        "agency_id": "agency-early-help",
        "agency_type": "early_help",
    }
    results = await asyncio.gather(
        *(svc.client.post("/internal/step-ups", json=body, headers=svc.as_("service")) for _ in range(4))
    )
    assert sorted(r.status_code for r in results) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in results}) == 1


async def test_step_ups_are_for_services_and_known_people(svc):
    body = {
        "step_up_id": "su-3",
        "episode_id": "ep-3",
        "person_ids": ["nobody"],
        "reason": "x",
        "agency_id": "a",
        "agency_type": "early_help",
    }
    assert (
        await svc.client.post("/internal/step-ups", json=body, headers=svc.as_("mash"))
    ).status_code == 403
    unknown = await svc.client.post("/internal/step-ups", json=body, headers=svc.as_("service"))
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "person_ids"
    assert (
        await svc.client.post("/internal/step-ups", json=rfs(), headers=svc.as_("service"))
    ).status_code == 422


def _number(referral: dict) -> int:
    return int(referral["reference"].rsplit("-", 1)[1])
