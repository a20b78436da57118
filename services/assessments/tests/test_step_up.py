"""Step-up: a safeguarding referral in the referrals service, retried and never made twice."""

from __future__ import annotations

import json

import httpx

from services.assessments.tests.conftest import EH, StaticTokens, h, new_episode
from shared.service_client import ServiceClient


class FakeReferrals:
    """POST /internal/step-ups, idempotent by step_up_id; can fail the first N calls."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.calls = 0
        self.referrals: dict[str, str] = {}

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls <= self.fail_first:
            return httpx.Response(503, json={"title": "down"})
        body = json.loads(request.content)
        assert set(body) == {"step_up_id", "episode_id", "person_ids", "reason", "agency_id", "agency_type"}
        first = body["step_up_id"] not in self.referrals
        rid = self.referrals.setdefault(
            body["step_up_id"], f"00000000-0000-0000-0000-{len(self.referrals):012d}"
        )
        return httpx.Response(201 if first else 200, json={"referral_id": rid})


def use(svc, fake: FakeReferrals) -> None:
    svc.runtime.clients["referrals"] = ServiceClient(
        "http://referrals.test", StaticTokens(svc.service_token), transport=httpx.MockTransport(fake.handler)
    )


async def test_step_up_retries_after_a_failure_and_makes_one_referral(svc):
    fake = FakeReferrals(fail_first=1)
    use(svc, fake)
    ep = await new_episode(svc)
    r = await svc.client.post(
        f"/v1/episodes/{ep['id']}/step-up", json={"reason": "disclosure of harm"}, headers=h(svc, EH)
    )
    assert r.status_code == 201, r.text
    assert fake.calls == 2 and len(fake.referrals) == 1
    assert r.json()["status"] == "sent" and r.json()["referral_id"] == next(iter(fake.referrals.values()))
    got = (await svc.client.get(f"/v1/episodes/{ep['id']}", headers=h(svc, EH))).json()
    assert got["social_care_involved"] is True and got["status"] == "open"


async def test_step_up_replayed_with_idempotency_key_and_pending_retried_by_worker(svc):
    fake = FakeReferrals(fail_first=100)
    use(svc, fake)
    ep = await new_episode(svc)
    url = f"/v1/episodes/{ep['id']}/step-up"
    r = await svc.client.post(
        url, json={"reason": "risk rising"}, headers=h(svc, EH, **{"Idempotency-Key": "k1"})
    )
    assert r.status_code == 202 and r.json()["status"] == "pending"
    step_up_id = r.json()["step_up_id"]
    again = await svc.client.post(
        url, json={"reason": "risk rising"}, headers=h(svc, EH, **{"Idempotency-Key": "k1"})
    )
    assert again.status_code == 202 and again.json()["step_up_id"] == step_up_id
    # a new request while one is pending is refused rather than making a second step-up
    r = await svc.client.post(url, json={"reason": "risk rising"}, headers=h(svc, EH))
    assert r.status_code == 409 and r.json()["type"].endswith("/step-up-in-progress")
    # referrals comes back: the worker resends the same step_up_id (twice, to prove idempotency)
    fake.fail_first = 0
    from datetime import UTC, datetime

    from sqlalchemy import update

    from services.assessments.models import StepUp

    async with svc.runtime.db.session() as s:
        await s.execute(update(StepUp).values(next_attempt_at=datetime.now(UTC)))
    await svc.runtime.run_jobs_once()
    listed = (await svc.client.get(f"/v1/episodes/{ep['id']}/step-ups", headers=h(svc, EH))).json()
    assert listed[0]["status"] == "sent" and listed[0]["step_up_id"] == step_up_id
    payload = {
        "step_up_id": step_up_id,
        "episode_id": ep["id"],
        "person_ids": ep["person_ids"],
        "reason": "r",
        "agency_id": "eh-team",
        "agency_type": "early_help",
    }
    resp = await svc.runtime.referrals().create_step_up(payload)
    assert resp == listed[0]["referral_id"] and len(fake.referrals) == 1
