"""The families of scenarios.md, seeded through the gateway for `make run`.

A newcomer who opens the API sees cases at every stage: an ordinary early help journey
(Ahmed), one child referred through three doors and linked (Brown), a young person's
self-referral (Kayla), a safeguarding concern about an unborn baby (Okafor), a step-down
from social care (Wilson) and a consent withdrawal (Patel). Seeded once: if the MASH can
already see referrals, nothing is added.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from jose import jwt

from shared.service_client import KEEPALIVE_SECONDS

SOON = (date.today() + timedelta(days=60)).isoformat()


class Client:
    def __init__(self, gw: str, token: Callable[[str, str], str]) -> None:
        self.gw = gw
        self.http = httpx.Client(
            base_url=gw, timeout=20, limits=httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS)
        )
        self._token = token
        self._tokens: dict[str, str] = {}

    def headers(self, client_id: str) -> dict[str, str]:
        if client_id not in self._tokens:
            self._tokens[client_id] = self._token(self.gw, client_id)
        return {"Authorization": f"Bearer {self._tokens[client_id]}"}

    def agency(self, client_id: str) -> str:
        self.headers(client_id)
        return str(jwt.get_unverified_claims(self._tokens[client_id])["agency_id"])

    def call(
        self, method: str, client_id: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 202)
    ) -> Any:
        resp = self.http.request(method, path, json=body, headers=self.headers(client_id))
        if resp.status_code not in ok:
            raise httpx.HTTPError(f"{method} {path} as {client_id}: {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else None


def consent_now(given_by: str) -> dict[str, Any]:
    return {
        "obtained": True,
        "given_by": given_by,
        "obtained_at": datetime.now(UTC).isoformat(),
        "method": "phone",
    }


def referral(
    children: list[dict[str, Any]], needs: list[str], postcode: str, summary: str, **over: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "referral_type": "request_for_support",
        "referrer": {"name": "Demo Referrer", "role": "Practitioner", "email": "referrer@agency.example"},
        "children": children,
        "adults": [],
        "address": {"line1": "1 Demo Street", "town": "Anytown", "postcode": postcode},
        "needs": needs,
        "summary": summary,
        "significant_harm_suspected": False,
        "consent": consent_now("parent"),
    }
    body.update(over)
    return body


def decide(c: Client, rid: str, outcome: str, level: str) -> None:
    c.call(
        "POST",
        "demo-mash",
        f"/v1/referrals/{rid}/decision",
        {
            "level_of_need": level,
            "outcome": outcome,
            "rag": "amber",
            "rationale": "Demo decision.",
            "decided_by": {"name": "Dee Cision", "role": "MASH manager"},
        },
    )


def wait_episode(c: Client, rid: str, tries: int = 50) -> str:
    import time

    for _ in range(tries):
        episode_id = c.call("GET", "demo-mash", f"/v1/referrals/{rid}").get("episode_id")
        if episode_id:
            return str(episode_id)
        time.sleep(0.2)
    raise httpx.HTTPError("episode did not open")


def child_of(c: Client, rid: str) -> str:
    """The person id the index gave a referral's first child: the MASH sees it, the referring
    partner does not (least disclosure, services/referrals/policy.py)."""
    return str(c.call("GET", "demo-mash", f"/v1/referrals/{rid}")["children"][0]["person_id"])


def seed(gw: str, token: Callable[[str, str], str]) -> None:
    c = Client(gw, token)
    if c.call("GET", "demo-mash", "/v1/referrals?limit=1")["items"]:
        print("  demo families already present")
        return
    eh = "demo-early-help"
    # Ahmed: the ordinary path, up to an agreed plan.
    ahmed = c.call(
        "POST",
        "demo-education",
        "/v1/referrals",
        referral(
            [
                {
                    "given_name": "Amira",
                    "family_name": "Ahmed",
                    "date_of_birth": "2017-03-14",
                    "gender": "female",
                }
            ],
            ["school_attendance", "parental_mental_health"],
            "LS1 4AP",
            "Attendance 71%; mother has depression; father works nights.",
        ),
    )
    decide(c, ahmed["id"], "team_around_the_family", "partnership_plus")
    episode = wait_episode(c, ahmed["id"])
    c.call(
        "PUT",
        eh,
        f"/v1/episodes/{episode}/lead-professional",
        {
            "name": "Erin Early",
            "agency_id": c.agency(eh),
            "email": "erin@council.example",
            "family_agreed": True,
        },
    )
    c.call(
        "POST",
        eh,
        f"/v1/episodes/{episode}/taf-members",
        {
            "agency_id": c.agency("demo-education"),
            "agency_type": "education",
            "name": "Ms Head",
            "role": "DSL",
        },
    )
    c.call(
        "POST",
        eh,
        "/v1/consents",
        {
            "person_id": child_of(c, ahmed["id"]),
            "given_by": {"name": "Samira Ahmed", "relationship": "parent"},
            "competence": "parental",
            "purposes": ["early_help_service", "information_sharing"],
            "agencies": ["team_around_the_family"],
            "method": "verbal",
            "obtained_at": datetime.now(UTC).isoformat(),
        },
    )
    c.call(
        "POST",
        eh,
        f"/v1/episodes/{episode}/contacts",
        {"contact_at": datetime.now(UTC).isoformat(), "method": "phone", "notes": "First contact with mum."},
    )
    c.call(
        "PUT",
        eh,
        f"/v1/episodes/{episode}/plan",
        {
            "outcomes": [
                {
                    "headline": "good_education",
                    "description": "Amira attends school",
                    "measure": "attendance %",
                    "baseline": "71",
                    "target": "95",
                    "target_on": SOON,
                }
            ],
            "actions": [
                {
                    "description": "Daily check-in",
                    "owner": {"agency_id": c.agency("demo-education"), "name": "Ms Head"},
                    "due_on": SOON,
                    "outcome_refs": [0],
                }
            ],
        },
    )
    print("  Ahmed family: referral decided, episode with lead professional, consent and plan")
    # Brown: three doors, one child.
    jayden = [
        {"given_name": "Jayden", "family_name": "Brown", "date_of_birth": "2012-05-02", "gender": "male"}
    ]
    c.call(
        "POST",
        "demo-education",
        "/v1/referrals",
        referral(jayden, ["school_attendance"], "M1 1AE", "Truanting."),
    )
    c.call(
        "POST",
        "demo-police",
        "/v1/referrals",
        referral(
            [{**jayden[0], "given_name": "Jaden", "family_name": "Browne"}],
            ["anti_social_behaviour"],
            "M1 1AE",
            "ASB.",
        ),
    )
    print("  Brown family: a second request for Jayden, linked to the first")
    # Kayla: a self-referral, consenting for herself at 16.
    c.call(
        "POST",
        eh,
        "/v1/referrals",
        referral(
            [
                {
                    "given_name": "Kayla",
                    "family_name": "Reid",
                    "date_of_birth": "2010-01-20",
                    "gender": "female",
                }
            ],
            ["child_mental_health"],
            "B1 1BB",
            "Asked for help herself.",
            referral_type="self_referral",
            consent=consent_now("Kayla (self)"),
        ),
    )
    print("  Kayla: self-referral (CIN source 1C)")
    # Okafor: a safeguarding concern about an unborn baby, no consent needed.
    c.call(
        "POST",
        "demo-police",
        "/v1/referrals",
        referral(
            [
                {
                    "family_name": "Okafor",
                    "unborn_expected_on": (date.today() + timedelta(weeks=10)).isoformat(),
                },
                {
                    "given_name": "Daniel",
                    "family_name": "Okafor",
                    "date_of_birth": "2023-06-01",
                    "gender": "male",
                },
            ],
            ["domestic_abuse"],
            "E1 6AN",
            "Domestic abuse reported; mother 30 weeks pregnant.",
            referral_type="safeguarding_concern",
            significant_harm_suspected=True,
            consent=None,
        ),
    )
    print("  Okafor family: urgent safeguarding concern (unborn child in the index)")
    # Wilson: stepped down from social care.
    wilson = c.call(
        "POST",
        "demo-social-care",
        "/v1/referrals",
        referral(
            [
                {
                    "given_name": "Lily",
                    "family_name": "Wilson",
                    "date_of_birth": "2014-09-09",
                    "gender": "female",
                }
            ],
            ["family_relationships"],
            "NE1 4ST",
            "Child in need plan closing.",
        ),
    )
    decide(c, wilson["id"], "social_care_assessment", "specialist")
    c.call(
        "POST",
        "demo-social-care",
        "/v1/episodes",
        {
            "origin": "step_down",
            "person_ids": [child_of(c, wilson["id"])],
            "level_of_need": "partnership_plus",
            "stepdown_panel_on": date.today().isoformat(),
            "social_worker": {"name": "Sam Social", "email": "sam@council.example"},
        },
    )
    print("  Wilson family: step-down episode with its joint-visit deadline")
    # Patel: consent given, then withdrawn.
    patel = c.call(
        "POST",
        "demo-health",
        "/v1/referrals",
        referral(
            [{"given_name": "Ravi", "family_name": "Patel", "date_of_birth": "2015-08-01", "gender": "male"}],
            ["offending"],
            "L1 8JQ",
            "Concerns raised by the GP.",
        ),
    )
    decide(c, patel["id"], "team_around_the_family", "partnership_plus")
    episode = wait_episode(c, patel["id"])
    c.call(
        "POST",
        eh,
        f"/v1/episodes/{episode}/taf-members",
        {
            "agency_id": c.agency("demo-police"),
            "agency_type": "police",
            "name": "PC Vale",
            "role": "neighbourhood",
        },
    )
    consent = c.call(
        "POST",
        eh,
        "/v1/consents",
        {
            "person_id": child_of(c, patel["id"]),
            "given_by": {"name": "Mr Patel", "relationship": "parent"},
            "competence": "parental",
            "purposes": ["information_sharing"],
            "agencies": ["team_around_the_family"],
            "method": "verbal",
            "obtained_at": datetime.now(UTC).isoformat(),
        },
    )
    c.call("POST", eh, f"/v1/consents/{consent['id']}/withdraw", {"reason": "Father withdrew at the review"})
    print("  Patel family: consent withdrawn; the police can no longer read the episode")
