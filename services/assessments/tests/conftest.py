"""Fixtures of the assessments service tests: the app on a migrated database, fake partners."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.assessments.config import Settings
from services.assessments.main import create_app
from services.assessments.models import PLATFORM
from shared.service_client import ServiceClient

SERVICE_DIR = Path(__file__).resolve().parents[1]
SUBSCRIBER = "http://notifications.test/internal/events"

EH = {
    "agency_type": "early_help",
    "agency_id": "eh-team",
    "scopes": "episodes:read episodes:write reports:read",
}
POLICE = {"agency_type": "police", "agency_id": "police-1", "scopes": "episodes:read episodes:write"}
SCHOOL = {"agency_type": "education", "agency_id": "school-1", "scopes": "episodes:read episodes:write"}
MASH = {"agency_type": "mash", "agency_id": "mash-1", "scopes": "episodes:read reports:read"}


class StaticTokens:
    """Stands in for the gateway's token endpoint: always the same service token."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def __call__(self) -> str:
        return self.token

    def invalidate(self) -> None:
        pass


class FakeConsent:
    """The consent service's access check and disclosure log, answered from memory."""

    def __init__(self) -> None:
        self.allowed: set[tuple[str, str]] = set()
        self.down = False
        self.checks = 0
        self.disclosures: list[dict[str, Any]] = []
        self.keys: set[str] = set()
        self.queries: list[dict[str, str]] = []  # every access check's query parameters

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("consent is down")
        if request.url.path == "/v1/access-checks":
            self.checks += 1
            q = request.url.params
            self.queries.append(dict(q))
            assert q["purpose"] == "information_sharing"
            assert q["on_team_around_the_family"] == "true"
            ok = (q["person_id"], q["agency_id"]) in self.allowed
            return httpx.Response(
                200,
                json={
                    "allowed": ok,
                    "basis": "consent" if ok else None,
                    "reference_id": str(uuid.uuid4()) if ok else None,
                    "reason": "consent_names_taf" if ok else "no_consent_or_decision",
                },
            )
        if request.url.path == "/internal/disclosures":
            key = request.headers["idempotency-key"]
            if key not in self.keys:
                self.keys.add(key)
                self.disclosures.append(__import__("json").loads(request.content))
            return httpx.Response(201, json={"id": key})
        return httpx.Response(404)


class FakePeople:
    """The referrals service's `POST /internal/people/known`: every id is known except those
    in `unknown`; `down` makes it unreachable."""

    def __init__(self) -> None:
        self.unknown: set[str] = set()
        self.down = False
        self.calls: list[list[str]] = []
        self.details = {}
        self.details_calls: list[list[str]] = []

    details: dict[str, dict[str, Any]]  # person id -> names and date of birth (issue 20)

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("referrals is down")
        if request.url.path == "/internal/people/details":
            assert request.headers["authorization"].startswith("Bearer ")
            ids = json.loads(request.content)["person_ids"]
            self.details_calls.append(ids)
            known = self.details
            return httpx.Response(
                200,
                json={
                    "people": [
                        {"person_id": p, "current_person_id": p, **known[p]} for p in ids if p in known
                    ],
                    "unknown": [p for p in ids if p not in known],
                },
            )
        if request.url.path != "/internal/people/known":
            return httpx.Response(404)
        assert request.headers["authorization"].startswith("Bearer ")
        ids = json.loads(request.content)["person_ids"]
        self.calls.append(ids)
        return httpx.Response(
            200,
            json={
                "known": [p for p in ids if p not in self.unknown],
                "unknown": [p for p in ids if p in self.unknown],
            },
        )


@pytest.fixture
def fake_consent() -> FakeConsent:
    return FakeConsent()


@pytest.fixture
def fake_people() -> FakePeople:
    return FakePeople()


@pytest.fixture
async def svc(service_factory, signer, fake_consent, fake_people):
    harness = await service_factory(
        create_app,
        Settings,
        SERVICE_DIR,
        event_subscribers={"*": [SUBSCRIBER]},
        gateway_url="http://127.0.0.1:9",
        stepup_backoff_seconds=0.01,
    )
    token = signer.identity_token(agency_type="service", audience="early-help-api", scopes="")
    harness.runtime.clients["consent"] = ServiceClient(
        "http://consent.test", StaticTokens(token), transport=httpx.MockTransport(fake_consent.handler)
    )
    harness.runtime.clients["referrals"] = ServiceClient(
        "http://referrals.test", StaticTokens(token), transport=httpx.MockTransport(fake_people.handler)
    )
    harness.service_token = token
    return harness


def h(svc, who: dict[str, str], **extra: str) -> dict[str, str]:
    return {**svc.headers(**who), **extra}


async def events(svc, event_type: str) -> list[dict[str, Any]]:
    t = PLATFORM.outbox
    async with svc.runtime.db.session() as s:
        rows = (
            await s.execute(select(t.c.payload).where(t.c.event_type == event_type).order_by(t.c.created_at))
        ).scalars()
        return [r["data"] for r in rows]


def decided_event(
    referral_id: str | None = None, people: list[str] | None = None, **data: Any
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "referral.decided",
        "source": "referrals",
        "data": {
            "referral_id": referral_id or str(uuid.uuid4()),
            "reference": "RFS-2026-000001",
            "source_agency_id": "school-1",
            "person_ids": people or [str(uuid.uuid4())],
            "level_of_need": "partnership_plus",
            "outcome": "team_around_the_family",
            "rag": "amber",
            "decided_at": datetime.now(UTC).isoformat(),
            "received_at": datetime.now(UTC).isoformat(),
            "decided_within_timescale": True,
            **data,
        },
    }


async def deliver(svc, envelope: dict[str, Any]) -> httpx.Response:
    return await svc.client.post(
        "/internal/events",
        json=envelope,
        headers=svc.headers(agency_type="service", audience="early-help-api"),
    )


async def new_episode(svc, people: list[str] | None = None) -> dict[str, Any]:
    """An episode opened by a referral decision, as the referrals service would do it."""
    env = decided_event(people=people)
    assert (await deliver(svc, env)).status_code == 202
    r = await svc.client.get(f"/v1/episodes?person_id={env['data']['person_ids'][0]}", headers=h(svc, EH))
    return r.json()["items"][0]


async def add_taf(
    svc, episode_id: str, who: dict[str, str], role: str = "member", **extra: Any
) -> dict[str, Any]:
    r = await svc.client.post(
        f"/v1/episodes/{episode_id}/taf-members",
        headers=h(svc, EH),
        json={
            "agency_id": who["agency_id"],
            "agency_type": who["agency_type"],
            "name": "A Practitioner",
            "role": role,
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()
