"""The referrals service in-process on a migrated database, with callers and fake receivers.

Callers carry hop identities signed exactly as the gateway signs them (shared.testing), one per
agency of the access matrix. Outbound events go to fake receivers (an httpx.MockTransport
behind the outbox relay) that can be switched down and up, so "assessments was down when the
decision was made" is a test, not a hope.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from services.referrals.config import Settings
from services.referrals.main import create_app
from services.referrals.models import PLATFORM
from shared.clock import LONDON, clock, utcnow
from shared.service_client import ServiceClient

SERVICE_DIR = Path(__file__).resolve().parent.parent
ASSESSMENTS = "http://assessments.test/internal/events"
NOTIFICATIONS = "http://notifications.test/internal/events"

PARTNER_SCOPES = (
    "referrals:create referrals:read episodes:read episodes:write notifications:read webhooks:manage"
)
CALLERS: dict[str, dict[str, str]] = {
    "school_a": {"agency_type": "education", "agency_id": "agency-school-a", "scopes": PARTNER_SCOPES},
    "school_b": {"agency_type": "education", "agency_id": "agency-school-b", "scopes": PARTNER_SCOPES},
    "police": {"agency_type": "police", "agency_id": "agency-police", "scopes": PARTNER_SCOPES},
    "health": {"agency_type": "health", "agency_id": "agency-gp", "scopes": PARTNER_SCOPES},
    "mash": {
        "agency_type": "mash",
        "agency_id": "agency-mash",
        "scopes": "referrals:create referrals:read triage:write people:read episodes:read reports:read",
    },
    "early_help": {
        "agency_type": "early_help",
        "agency_id": "agency-early-help",
        "scopes": "referrals:create referrals:read people:read episodes:read episodes:write reports:read",
    },
    "social_care": {
        "agency_type": "social_care",
        "agency_id": "agency-social-care",
        "scopes": "referrals:create referrals:read people:read episodes:read episodes:write",
    },
}

# Distinct invented children, for tests that need several unrelated ones.
NAMES = [
    ("Oliver", "Price"),
    ("Isla", "Turner"),
    ("Noah", "Bennett"),
    ("Freya", "Khan"),
    ("Arlo", "Murphy"),
    ("Ivy", "Clarke"),
    ("Theo", "Lewis"),
    ("Ada", "Walsh"),
    ("Finn", "Patel"),
    ("Rosa", "Hughes"),
    ("Ezra", "Wood"),
    ("Nell", "Gray"),
]

# Valid NHS numbers (modulus 11) for invented children.
NHS = ["9434765919", "9434765870", "4010232137", "2914177763", "3740681241", "6907366258"]


def rfs(**overrides: Any) -> dict[str, Any]:
    """A valid Request for Support (the Ahmed family), with top-level fields overridden."""
    body: dict[str, Any] = {
        "referral_type": "request_for_support",
        "referrer": {
            "name": "Jo Clarke",
            "role": "Designated safeguarding lead",
            "email": "dsl@oakfield.sch.uk",
        },
        "children": [
            {"given_name": "Amira", "family_name": "Ahmed", "date_of_birth": "2017-03-02", "gender": "female"}
        ],
        "adults": [{"given_name": "Samira", "family_name": "Ahmed", "relationship": "mother"}],
        "address": {"line1": "1 Oak Street", "town": "Rotherham", "postcode": "S60 1AE"},
        "needs": ["school_attendance", "parental_mental_health"],
        "summary": "Attendance 71%; mother has depression; father works nights.",
        "significant_harm_suspected": False,
        "consent": {
            "obtained": True,
            "given_by": "Samira Ahmed",
            "obtained_at": "2026-10-01T10:00:00Z",
            "method": "phone",
        },
    }
    body.update(copy.deepcopy(overrides))
    return body


def child(given: str | None, family: str, dob: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"family_name": family, **extra}
    if given is not None:
        out["given_name"] = given
    if dob is not None:
        out["date_of_birth"] = dob
    return out


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)  # type: ignore[misc]


class Receivers:
    """Fake event receivers behind the outbox relay: each host can be up or down."""

    def __init__(self) -> None:
        self.up = {"assessments.test": True, "notifications.test": True}
        self.received: list[tuple[str, dict[str, Any]]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if not self.up.get(host, False):
            return httpx.Response(503)
        import json

        self.received.append((host, json.loads(request.content)))
        return httpx.Response(202, json={"applied": True})

    def events(self, host: str, event_type: str | None = None) -> list[dict[str, Any]]:
        return [e for h, e in self.received if h == host and (event_type is None or e["type"] == event_type)]


class StaticTokens:
    async def __call__(self) -> str:
        return "service-token"

    def invalidate(self) -> None:
        pass


class FakeConsent:
    """The consent service's disclosure log, in memory (idempotent by Idempotency-Key)."""

    def __init__(self) -> None:
        self.down = False
        self.reject = False
        self.disclosures: list[dict[str, Any]] = []
        self.keys: set[str] = set()

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("consent is down")
        if request.url.path != "/internal/disclosures":
            return httpx.Response(404)
        if self.reject:
            return httpx.Response(422, json={"status": 422})
        key = request.headers["idempotency-key"]
        if key not in self.keys:
            self.keys.add(key)
            self.disclosures.append(json.loads(request.content))
        return httpx.Response(201, json={"id": key})


class Referrals:
    """The harness plus helpers: `as_(caller)`, `post/get`, a clock, the outbox."""

    def __init__(self, harness: Any, receivers: Receivers, consent: FakeConsent) -> None:
        self.h = harness
        self.client: httpx.AsyncClient = harness.client
        self.receivers = receivers
        self.consent = consent

    @property
    def now(self) -> datetime | None:
        """The moment the clock is stopped at (shared.clock), None while it runs."""
        return clock.now() if clock.faked else None

    @now.setter
    def now(self, moment: datetime | None) -> None:
        clock.set(moment)

    @property
    def runtime(self) -> Any:
        return self.h.runtime

    def as_(self, caller: str, **extra: Any) -> dict[str, str]:
        if caller == "service":
            return self.h.headers(
                agency_type="service",
                agency_id="svc-assessments",
                client_id="svc-assessments",
                audience="early-help-api",
                scopes="",
            )
        c = CALLERS[caller]
        return self.h.headers(
            agency_type=c["agency_type"],
            agency_id=c["agency_id"],
            client_id=f"client-{caller}",
            scopes=c["scopes"],
            **extra,
        )

    async def create(
        self,
        caller: str = "school_a",
        body: dict[str, Any] | None = None,
        *,
        seen_by: str | None = "mash",
        **kw: Any,
    ) -> dict[str, Any]:
        """Submit as `caller`; the referral as `seen_by` reads it (the MASH by default: the
        person ids, matches and links a partner is not shown, policy.view_of), or the
        caller's own create response with `seen_by=None`."""
        resp = await self.client.post("/v1/referrals", json=body or rfs(), headers=self.as_(caller), **kw)
        assert resp.status_code == 201, resp.text
        if seen_by is None or seen_by == caller:
            return resp.json()  # type: ignore[no-any-return]
        read = await self.client.get(f"/v1/referrals/{resp.json()['id']}", headers=self.as_(seen_by))
        assert read.status_code == 200, read.text
        return read.json()  # type: ignore[no-any-return]

    async def decide(
        self,
        referral_id: str,
        level: str = "partnership_plus",
        outcome: str = "team_around_the_family",
        caller: str = "mash",
    ) -> httpx.Response:
        return await self.client.post(
            f"/v1/referrals/{referral_id}/decision",
            json={
                "level_of_need": level,
                "outcome": outcome,
                "rag": "amber",
                "rationale": "Several needs.",
                "decided_by": {"name": "Pat MASH", "role": "Team manager"},
            },
            headers=self.as_(caller),
        )

    async def event(self, event_type: str, data: dict[str, Any]) -> httpx.Response:
        resp = await self.client.post(
            "/internal/events",
            json={"type": event_type, "source": "assessments", "data": data},
            headers=self.as_("service"),
        )
        assert resp.status_code == 202, resp.text
        return resp

    async def outbox(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Events published (one per event id, whatever the number of destinations)."""
        t = PLATFORM.outbox
        async with self.runtime.db.session(write=False) as s:
            stmt = select(t).order_by(t.c.created_at)
            if event_type:
                stmt = stmt.where(t.c.event_type == event_type)
            rows = (await s.execute(stmt)).mappings().all()
        seen: dict[str, dict[str, Any]] = {}
        for r in rows:
            seen.setdefault(r["event_id"], r["payload"])
        return list(seen.values())

    async def deliver_now(self) -> int:
        """Make every pending outbox row due and run one relay pass."""
        t = PLATFORM.outbox
        # Not while a background pass is writing its marks and backoffs: both lock several
        # outbox rows, in different orders, and PostgreSQL would end one as a deadlock.
        async with self.runtime.relay._pass_lock:
            async with self.runtime.db.session() as s:
                await s.execute(update(t).where(t.c.delivered_at.is_(None)).values(next_attempt_at=utcnow()))
        return await self.runtime.relay.run_once()  # type: ignore[no-any-return]


@pytest.fixture
def receivers() -> Receivers:
    return Receivers()


@pytest.fixture
def make_referrals(service_factory: Callable[..., Any], receivers: Receivers) -> Callable[..., Any]:
    async def make(**overrides: Any) -> Referrals:
        settings = {
            "event_subscribers": {"referral.": [ASSESSMENTS, NOTIFICATIONS]},
            "relay_interval_seconds": 3600,
            **overrides,
        }
        harness = await service_factory(create_app, Settings, SERVICE_DIR, **settings)
        relay = harness.runtime.relay
        await relay.client.aclose()
        relay.client = httpx.AsyncClient(transport=httpx.MockTransport(receivers.handler))

        async def token() -> str:
            return "service-token"

        relay.token_provider = token
        consent = FakeConsent()
        harness.runtime.clients["consent"] = ServiceClient(
            "http://consent.test", StaticTokens(), transport=httpx.MockTransport(consent.handler)
        )
        return Referrals(harness, receivers, consent)

    return make


@pytest.fixture
async def svc(make_referrals: Callable[..., Any]) -> Referrals:
    return await make_referrals()  # type: ignore[no-any-return]
