"""The role x relationship authorization matrix, end to end through the gateway (issue 18, item 7).

`test_authz_matrix.py` asks every route as every demo *client* (system calls). This matrix
asks every route of the gateway's route table (`gateway.routes.load_routes()`) as
*practitioners*: a persona is an agency type x role x relationship to the objects the
matrix builds, reached through the OAuth 2.0 token exchange (RFC 8693) with its agency
system's credentials, exactly as a front end acting for a person would.

The personas (`PERSONAS`), and their relationship to episode E and its objects:

| persona | who | relationship |
| --- | --- | --- |
| `mash-screener`, `mash-manager` | Sam Screener, Maya Manager (MASH) | the front door: see every case |
| `eh-practitioner` | Ellie Practitioner (early help) | not E's lead professional |
| `eh-lead` | Lee Lead (early help practitioner, registered here) | E's lead professional, the manager delegating (`manager_delegates`) |
| `eh-manager` | Erin Manager | early help manager, not the author of E's assessment |
| `eh-manager-author` | Eddie Manager | early help manager who wrote E's assessment |
| `eh-agency-admin` | Ada Admin (early help, `agency_admin` only) | manages early help's practitioners |
| `school-on-taf` | Tom Teacher (school A) | on E's TAF (family agreed), owner of E's plan action, submitter of E's referral |
| `school-colleague` | Cal Colleague (school A, registered here) | same agency as Tom: not named on the TAF, owns no action |
| `other-school` | Tina Teacher (school B) | not on E's TAF; submitter of referral B |
| `police-late` | Pat Officer (police) | added to E's TAF after the family's consent, the family not agreeing |
| `social-worker` | Sol Social Worker (social care) | not on E's TAF |
| `council-admin` | Cara Council (admin) | the council's administrator |

Each cell asserts the designed status exactly:
- **403 `insufficient-scope`** when the persona's client lacks the route's scope (exchanged
  tokens carry the client's scopes; `test_personas_are_who_the_matrix_says`): generated from
  the route table, never written down, and the service never sees the call.
- Otherwise what `POLICY` says for that route and object: 2xx, **404** (the persona may not
  know the object exists: its agency does not see the episode, another agency's referral,
  practitioner or feed item), or a **403 naming the problem type** where the persona can see
  the object but its role or relationship does not allow the call (`not-permitted`,
  `not-action-owner`, `not-submitter`, `role-required`, `not-agency-admin`...), or a documented
  409/422.

`POLICY` is keyed by (method, path template) and reads as the policy: for each route, the
objects it is called on and, per persona, a default and the exceptions (`table`, `only`,
`runs`...). A route without a row fails (`test_every_route_has_a_role_expectation`), so a new
route must declare who may call it. Rows are `per_person` where the relationship decides
(episodes, assessments, plans, actions, referrals); elsewhere (`per_role`) personas of the same
agency and roles are one group and the first of them answers for all, which keeps the matrix
to about the size of the client matrix.

Objects are built once per module through the API (`World.build`) with the relationships
above. A call that changes an object gets a newly built object, related the same way, when
the persona is expected to succeed (`Target.fresh`); personas expected to be refused are
pointed at decoys, so a wrongly allowed call fails its own cell and spoils no other.
"""

from __future__ import annotations

import http.server
import random
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from jose import jwt

from gateway.clients import DEFAULT_SCOPES
from gateway.routes import Route, load_routes
from gateway.seed import DEMO_AGENCY_IDS, DEMO_PRACTITIONERS, demo_team_id
from shared.roles import (
    ADMINISTRATIVE_SCOPES,
    AGENCY_ADMIN,
    AGENCY_PRACTITIONER,
    COUNCIL_ADMIN,
    EH_MANAGER,
    EH_PRACTITIONER,
    MASH_MANAGER,
    MASH_SCREENER,
    casework,
)

pytestmark = pytest.mark.e2e

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
PRACTITIONER_TYPE = "urn:early-help:params:oauth:token-type:practitioner"

# --- the agencies (demo clients) ------------------------------------------------------------------

SA, SB, PO = "demo-education", "demo-education-2", "demo-police"
MA, EH, SC, AD = "demo-mash", "demo-early-help", "demo-social-care", "demo-admin"
AGENCY_TYPE = {
    SA: "education",
    SB: "education",
    PO: "police",
    MA: "mash",
    EH: "early_help",
    SC: "social_care",
    AD: "admin",
}

# --- the personas -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Persona:
    key: str
    client: str  # the agency system that exchanges its credentials for the practitioner's token
    name: str  # a demo practitioner (gateway/seed.py), or one the world registers (`seeded=False`)
    roles: tuple[str, ...]
    relationship: str
    seeded: bool = True

    @property
    def agency_type(self) -> str:
        return AGENCY_TYPE[self.client]

    @property
    def group(self) -> tuple[str, tuple[str, ...]]:
        """Same agency and roles: on a `per_role` row one persona answers for the group."""
        return (self.client, self.roles)

    def __str__(self) -> str:
        return self.key


SCREENER = Persona("mash-screener", MA, "Sam Screener", (MASH_SCREENER,), "MASH screener")
MASH_MGR = Persona("mash-manager", MA, "Maya Manager", (MASH_MANAGER,), "MASH manager")
EH_PRAC = Persona(
    "eh-practitioner", EH, "Ellie Practitioner", (EH_PRACTITIONER,), "not E's lead professional"
)
EH_LEAD = Persona(
    "eh-lead",
    EH,
    "Lee Lead",
    (EH_PRACTITIONER,),
    "E's lead professional, the manager delegating",
    seeded=False,
)
EH_MGR = Persona("eh-manager", EH, "Erin Manager", (EH_MANAGER,), "not the author of E's assessment")
AUTHOR = Persona("eh-manager-author", EH, "Eddie Manager", (EH_MANAGER,), "author of E's assessment")
EH_ADMIN = Persona("eh-agency-admin", EH, "Ada Admin", (AGENCY_ADMIN,), "early help's agency admin")
TAF_SCHOOL = Persona(
    "school-on-taf", SA, "Tom Teacher", (AGENCY_PRACTITIONER,), "on E's TAF (family agreed); owns E's action"
)
COLLEAGUE = Persona(
    "school-colleague",
    SA,
    "Cal Colleague",
    (AGENCY_PRACTITIONER,),
    "Tom's agency; not named on the TAF; owns no action",
    seeded=False,
)
OTHER_SCHOOL = Persona("other-school", SB, "Tina Teacher", (AGENCY_PRACTITIONER,), "school B: not on E's TAF")
LATE_POLICE = Persona(
    "police-late",
    PO,
    "Pat Officer",
    (AGENCY_PRACTITIONER,),
    "on E's TAF after the consent, family not agreeing",
)
SOCIAL_WORKER = Persona("social-worker", SC, "Sol Social Worker", (AGENCY_PRACTITIONER,), "not on E's TAF")
COUNCIL = Persona("council-admin", AD, "Cara Council", (COUNCIL_ADMIN,), "the council's administrator")

# Order matters: on a per_role row the first persona of each group answers for it.
PERSONAS: tuple[Persona, ...] = (
    SCREENER,
    MASH_MGR,
    EH_PRAC,
    EH_LEAD,
    EH_MGR,
    AUTHOR,
    EH_ADMIN,
    TAF_SCHOOL,
    COLLEAGUE,
    OTHER_SCHOOL,
    LATE_POLICE,
    SOCIAL_WORKER,
    COUNCIL,
)
BY_KEY = {p.key: p for p in PERSONAS}


def _representatives() -> tuple[Persona, ...]:
    first: dict[tuple[str, tuple[str, ...]], Persona] = {}
    for p in PERSONAS:
        first.setdefault(p.group, p)
    return tuple(first.values())


REPRESENTATIVES = _representatives()


def holds(persona: Persona, scope: str) -> bool:
    """The scopes a persona acts with: its client's defaults, cut to the administrative ones
    for a practitioner who only administers (gateway/auth.py, shared/roles.py)."""
    if not casework(frozenset(persona.roles)) and scope not in ADMINISTRATIVE_SCOPES:
        return False
    return scope in DEFAULT_SCOPES[persona.agency_type]


def seeded(name: str) -> Any:
    return next(p for p in DEMO_PRACTITIONERS if p.name == name)


TODAY = date.today()
SOON = (TODAY + timedelta(days=60)).isoformat()

# --- what a cell expects ----------------------------------------------------------------------


@dataclass(frozen=True)
class Want:
    codes: frozenset[int]
    problem: str | None = None  # the problem `type` ends with "/<problem>"
    scope: str | None = None  # WWW-Authenticate names this scope
    field: str | None = None  # a 422's errors name this field

    @property
    def success(self) -> bool:
        return all(200 <= c < 300 for c in self.codes)

    def __str__(self) -> str:
        codes = "/".join(str(c) for c in sorted(self.codes))
        return (
            codes
            + (f" {self.problem}" if self.problem else "")
            + (f" scope={self.scope}" if self.scope else "")
            + (f" field={self.field}" if self.field else "")
        )


def want(
    codes: int | Iterable[int] | Want,
    problem: str | None = None,
    scope: str | None = None,
    field: str | None = None,
) -> Want:
    if isinstance(codes, Want):
        return codes
    return Want(frozenset([codes] if isinstance(codes, int) else codes), problem, scope, field)


NOT_PERMITTED = want(403, "not-permitted")
NOT_ACTION_OWNER = want(403, "not-action-owner")
NOT_SUBMITTER = want(403, "not-submitter")
ROLE_REQUIRED = want(403, "role-required")
NOT_AGENCY_ADMIN = want(403, "not-agency-admin")
CLOSED = want(409, "episode-closed")


@dataclass(frozen=True)
class Expect:
    """`overrides` name personas explicitly; every other persona holding the scope gets `default`."""

    default: Want
    overrides: dict[Persona, Want] = field(default_factory=dict)

    def of(self, persona: Persona) -> Want:
        return self.overrides.get(persona, self.default)


def everyone(status: Any) -> Expect:
    return Expect(want(status))


def only(status: Any, personas: Iterable[Persona], otherwise: Any = 404) -> Expect:
    return Expect(want(otherwise), {p: want(status) for p in personas})


def table(default: Any, overrides: dict[Persona, Any]) -> Expect:
    return Expect(want(default), {p: want(s) for p, s in overrides.items()})


@dataclass
class Call:
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] | None = None


Builder = Callable[["World", Persona, bool], Call]  # (world, caller, fresh) -> the request
Check = Callable[["World", Persona, httpx.Response], "str | None"]


@dataclass
class Target:
    """One object (or object state) a route is called on, and what each persona gets."""

    name: str
    expect: Expect
    call: Builder
    fresh: bool = False  # True: a persona expected to succeed gets a newly built object
    check: Check | None = None  # more than the status: what a list shows to this persona


@dataclass
class Row:
    targets: list[Target]
    per_person: bool  # True: every persona; False: one persona per (agency, roles) group

    def personas(self) -> tuple[Persona, ...]:
        return PERSONAS if self.per_person else REPRESENTATIVES


def per_person(*targets: Target) -> Row:
    return Row(list(targets), True)


def per_role(*targets: Target) -> Row:
    return Row(list(targets), False)


# --- request bodies ---------------------------------------------------------------------------


def name() -> str:
    return "".join(random.choices(string.ascii_uppercase, k=10)).capitalize()


def now_iso() -> str:
    return (datetime.now(UTC) - timedelta(minutes=1)).isoformat()


def referral_body(postcode: str = "S60 1AE", **child: Any) -> dict[str, Any]:
    family = child.pop("family_name", None) or name()
    dob = (
        child.pop("date_of_birth", None)
        or (date(2012, 1, 1) + timedelta(days=random.randrange(3000))).isoformat()
    )
    return {
        "referral_type": "request_for_support",
        "referrer": {
            "name": "Jo Clarke",
            "role": "Designated safeguarding lead",
            "email": "dsl@oakfield.example",
        },
        "children": [
            {
                "given_name": child.pop("given_name", None) or name(),
                "family_name": family,
                "date_of_birth": dob,
            }
        ],
        "adults": [],
        "address": {"line1": "1 Oak Street", "postcode": postcode},
        "needs": ["school_attendance", "parental_mental_health"],
        "summary": "Attendance 71%; mother has depression.",
        "consent": {"obtained": True, "given_by": "Mother", "obtained_at": now_iso(), "method": "phone"},
    }


NFA = {
    "level_of_need": "universal",
    "outcome": "no_further_action",
    "rag": "green",
    "rationale": "Universal services meet the need.",
    "decided_by": {"name": "Maya Manager", "role": "MASH team manager"},
}
TAF_DECISION = {
    **NFA,
    "level_of_need": "partnership_plus",
    "outcome": "team_around_the_family",
    "rag": "amber",
    "rationale": "Several needs: multi-agency early help with a lead professional.",
}
ASSESSMENT = {
    "family_members": [
        {"role": "child", "views": "Likes school", "strengths": ["reading"], "needs": ["attendance"]}
    ],
    "baseline": {"school_attendance_percent": 71, "exclusions": 0},
    "analysis": "Attendance falls when mum is unwell.",
    "priorities": ["attendance"],
}
MANAGER = {"name": "Erin Manager", "role": "Early help team manager"}
CLOSE = {"reason": "needs_met", "summary": "Needs met."}


def consent_body(person_id: str) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "given_by": {"name": "A Parent", "relationship": "parent"},
        "competence": "parental",
        "purposes": ["early_help_service", "information_sharing"],
        "agencies": ["team_around_the_family"],
        "method": "verbal",
        "obtained_at": now_iso(),
    }


def throwaway_member() -> dict[str, Any]:
    # An agency that is no demo agency: adding or removing it changes no persona's visibility.
    return {
        "agency_id": f"matrix-{uuid.uuid4().hex[:12]}",
        "agency_type": "voluntary",
        "name": "A. Member",
        "role": "Key worker",
        "family_agreed": True,
    }


# --- a webhook receiver, so deliveries succeed and subscriptions stay active ---------------------


class _Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class WebhookSink:
    def __init__(self) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the world: every object the matrix needs, built through the API -----------------------------


def eventually(fn: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class World:
    def __init__(self, http_client: httpx.Client, sink_url: str, service_urls: dict[str, str]) -> None:
        self.http = http_client
        self.sink_url = sink_url
        self.service_urls = service_urls
        self.agency = dict(DEMO_AGENCY_IDS)
        self.system: dict[str, str] = {}
        for client in AGENCY_TYPE:
            resp = http_client.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client, f"{client}-secret")
            )
            assert resp.status_code == 200, resp.text
            self.system[client] = resp.json()["access_token"]
        self.pid: dict[Persona, str] = {}
        for p in PERSONAS:
            self.pid[p] = seeded(p.name).id if p.seeded else self.register(p.client, p.name, list(p.roles))
        self._tokens: dict[Persona, tuple[str, float]] = {}

    # -- tokens and HTTP --

    def register(self, client: str, who: str, roles: list[str]) -> str:
        """A practitioner registered by the agency's own system (a system call may manage it)."""
        slug = who.lower().replace(" ", ".")
        body = {"name": who, "email": f"{slug}.{uuid.uuid4().hex[:8]}@matrix.example", "roles": roles}
        resp = self.http.post(
            "/v1/practitioners", json=body, headers={"Authorization": f"Bearer {self.system[client]}"}
        )
        assert resp.status_code == 201, f"registering {who} at {client}: {resp.status_code} {resp.text}"
        return str(resp.json()["id"])

    def token(self, persona: Persona) -> str:
        """The persona's exchanged token, exchanged again a minute before it expires."""
        hit = self._tokens.get(persona)
        if hit is None or hit[1] - time.monotonic() < 60:
            resp = self.http.post(
                "/oauth/token",
                data={
                    "grant_type": EXCHANGE,
                    "subject_token": self.pid[persona],
                    "subject_token_type": PRACTITIONER_TYPE,
                },
                auth=(persona.client, f"{persona.client}-secret"),
            )
            assert resp.status_code == 200, f"token exchange for {persona}: {resp.text}"
            body = resp.json()
            hit = (body["access_token"], time.monotonic() + body["expires_in"])
            self._tokens[persona] = hit
        return hit[0]

    def send(self, method: str, who: Persona | str, call: Call) -> httpx.Response:
        token = self.token(who) if isinstance(who, Persona) else self.system[who]
        headers = {"Authorization": f"Bearer {token}", **(call.headers or {})}
        return self.http.request(method, call.path, json=call.json, params=call.params, headers=headers)

    def ok(self, method: str, who: Persona | str, path: str, json: Any = None, **kw: Any) -> Any:
        """A setup call that must succeed."""
        resp = self.send(method, who, Call(path, json=json, **kw))
        assert 200 <= resp.status_code < 300, (
            f"setup {method} {path} as {who}: {resp.status_code} {resp.text}"
        )
        return resp.json() if resp.content else None

    def refusals_at(self, service: str) -> float:
        """403s the service itself answered on public routes: a scope-refused call never gets there."""
        text = httpx.get(f"{self.service_urls[service]}/metrics", timeout=10).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("http_requests_total{") and 'status="403"' in line and 'route="/v1/' in line
        )

    def ids(self, who: Persona, path: str, params: dict[str, Any] | None = None) -> set[str]:
        """Every id a list shows this persona, following the cursor."""
        seen: set[str] = set()
        params = {**(params or {}), "limit": 200}
        for _ in range(50):
            body = self.ok("GET", who, path, params=params)
            seen |= {item["id"] for item in body["items"]}
            if not body.get("next_cursor"):
                break
            params["cursor"] = body["next_cursor"]
        return seen

    # -- building blocks --

    def referral(self, who: Persona | str, **kw: Any) -> dict[str, Any]:
        return self.ok("POST", who, "/v1/referrals", referral_body(**kw))

    def child_of(self, referral_id: str) -> str:
        """The person id the index gave a referral's child (the MASH sees it; the submitter does not)."""
        return str(self.ok("GET", MA, f"/v1/referrals/{referral_id}")["children"][0]["person_id"])

    def lead_body(self, *, family_agreed: bool = True, delegates: bool = True) -> dict[str, Any]:
        return {
            "name": EH_LEAD.name,
            "agency_id": self.agency[EH],
            "email": "lee.lead@early-help.example",
            "family_agreed": family_agreed,
            "practitioner_id": self.pid[EH_LEAD],
            "manager_delegates": delegates,
        }

    def member(self, persona: Persona, *, family_agreed: bool) -> dict[str, Any]:
        return {
            "agency_id": self.agency[persona.client],
            "agency_type": persona.agency_type,
            "name": persona.name,
            "role": "Key worker",
            "practitioner_id": self.pid[persona],
            "family_agreed": family_agreed,
        }

    def relate(self, episode_id: str, person_id: str) -> str:
        """E's relationships on an episode: Lee leads (the manager delegating), Tom joins with the
        family's agreement, the family gives TAF-wide consent, then Pat joins without it."""
        base = f"/v1/episodes/{episode_id}"
        self.ok("PUT", EH_MGR, f"{base}/lead-professional", self.lead_body())
        self.ok("POST", EH_MGR, f"{base}/taf-members", self.member(TAF_SCHOOL, family_agreed=True))
        consent_id = self.ok("POST", EH_MGR, "/v1/consents", consent_body(person_id))["id"]
        self.ok("POST", EH_MGR, f"{base}/taf-members", self.member(LATE_POLICE, family_agreed=False))
        return str(consent_id)

    def known_child(self) -> str:
        """A child the referrals service knows (an episode opens only for one)."""
        # Early help's own request (a partner's answer names no person ids: least disclosure).
        return str(self.referral(EH)["children"][0]["person_id"])

    def episode(self, *, step_down: bool = False) -> str:
        """A new episode of a known child, opened by an early help manager and related like E."""
        person = self.known_child()
        body: dict[str, Any] = {
            "origin": "self_referral",
            "person_ids": [person],
            "level_of_need": "partnership_plus",
        }
        if step_down:
            body.update(
                origin="step_down",
                stepdown_panel_on=TODAY.isoformat(),
                social_worker={"name": "Sol Social Worker", "email": "sol@council.example"},
            )
        episode_id = str(self.ok("POST", EH_MGR, "/v1/episodes", body)["id"])
        self.relate(episode_id, person)
        return episode_id

    def assessment(self, episode_id: str, *, submitted: bool = False) -> str:
        """An assessment written by Eddie (the author persona)."""
        aid = str(self.ok("POST", AUTHOR, f"/v1/episodes/{episode_id}/assessments", ASSESSMENT)["id"])
        if submitted:
            self.ok("POST", AUTHOR, f"/v1/assessments/{aid}/submit")
        return aid

    def plan_body(self) -> dict[str, Any]:
        return {
            "outcomes": [
                {
                    "headline": "good_education",
                    "description": "Attends school every day",
                    "measure": "attendance %",
                    "baseline": "71",
                    "target": "95",
                    "target_on": SOON,
                }
            ],
            "actions": [
                {
                    "description": "Daily check-in at the gate",
                    "owner": {
                        "agency_id": self.agency[SA],
                        "name": TAF_SCHOOL.name,
                        "practitioner_id": self.pid[TAF_SCHOOL],
                    },
                    "due_on": SOON,
                    "outcome_refs": [0],
                }
            ],
        }

    def possible_match(self) -> tuple[str, str]:
        """(referral, existing person): the family moved, so the same child is only a possible match."""
        family, given = name(), name()
        dob = (date(2010, 1, 1) + timedelta(days=random.randrange(4000))).isoformat()
        child = {"given_name": given, "family_name": family, "date_of_birth": dob}
        first = self.referral(EH, postcode="S60 1AE", **child)
        second = self.ok("POST", MA, "/v1/referrals", referral_body(postcode="S61 2BB", **child))
        existing = first["children"][0]["person_id"]
        assert existing in [m["person_id"] for m in second["matches"]], second["matches"]
        return second["id"], existing

    def two_people(self) -> tuple[str, str]:
        return (self.known_child(), self.known_child())

    def merge(self) -> str:
        dup, into = self.two_people()
        return str(
            self.ok("POST", MA, f"/v1/people/{dup}/merge", {"into_person_id": into, "reason": "duplicate"})[
                "id"
            ]
        )

    def consent(self) -> str:
        return str(self.ok("POST", EH, "/v1/consents", consent_body(self.known_child()))["id"])

    def subscription(self, who: Persona | str, event_types: list[str] | None = None) -> str:
        body = {"url": self.sink_url, "event_types": event_types or ["referral.linked"]}
        return str(self.ok("POST", who, "/v1/subscriptions", body)["id"])

    def admin_client(self) -> str:
        body = {
            "name": "Matrix throwaway",
            "agency_type": "voluntary",
            "client_id": f"matrix-{uuid.uuid4().hex[:12]}",
        }
        return str(self.ok("POST", AD, "/v1/admin/clients", body)["client_id"])

    def throwaway_practitioner(self) -> str:
        """An early help practitioner no persona is: for the cells that change or disable one."""
        return self.register(EH, f"Throwaway {name()}", [EH_PRACTITIONER])

    def etag(self, path: str) -> str:
        resp = self.send("GET", EH, Call(path))
        assert resp.status_code == 200, resp.text
        return str(resp.headers["etag"])

    def action_etag(self, episode_id: str, action_id: str) -> str:
        plan = self.ok("GET", EH, f"/v1/episodes/{episode_id}/plan")
        return str(next(a["etag"] for a in plan["actions"] if a["id"] == action_id))

    # -- the shared objects --

    def build(self) -> None:
        # Webhook subscriptions of each school before their referrals are decided (a delivery
        # each), and decoys for the cells that must not touch them.
        self.sub = {c: self.subscription(c, ["referral.decided"]) for c in (SA, SB)}
        self.decoy_sub = {c: self.subscription(c) for c in (SA, SB)}

        # Every persona's own referral, where it may submit one.
        self.own_referral = {p: self.referral(p)["id"] for p in PERSONAS if holds(p, "referrals:create")}

        # Episode E: Tom's request for support, decided TAF by the MASH manager, related.
        self.ref_e = self.referral(TAF_SCHOOL)["id"]
        self.x = self.child_of(self.ref_e)
        self.ok("POST", MASH_MGR, f"/v1/referrals/{self.ref_e}/decision", TAF_DECISION)
        self.e = eventually(
            lambda: self.ok("GET", MA, f"/v1/referrals/{self.ref_e}").get("episode_id"), "episode E to open"
        )
        self.consent_e = self.relate(self.e, self.x)
        self.assessment_e = self.assessment(self.e)
        plan_e = self.ok("PUT", EH_MGR, f"/v1/episodes/{self.e}/plan", self.plan_body())
        self.outcome_e, self.action_e = plan_e["outcomes"][0]["id"], plan_e["actions"][0]["id"]

        # Referral B: Tina's, decided (no further action), so school B has a feed item.
        self.ref_b = self.referral(OTHER_SCHOOL)["id"]
        self.y = self.child_of(self.ref_b)
        self.ok("POST", MASH_MGR, f"/v1/referrals/{self.ref_b}/decision", NFA)
        # Referrals awaiting a decision: school A's (for withdrawal cells) and the decoys.
        self.decoy_ref = {c: self.referral(c)["id"] for c in (SA, SB)}

        # The decoy: related like E, for personas who must be refused a change.
        self.decoy = self.episode()
        self.decoy_draft = self.assessment(self.decoy)
        self.decoy_submitted = self.assessment(self.episode(), submitted=True)
        self.decoy_member = self.ok(
            "POST", EH_MGR, f"/v1/episodes/{self.decoy}/taf-members", throwaway_member()
        )["id"]
        # A submitted assessment: on the managers' worklist.
        self.awaiting = self.assessment(self.episode(), submitted=True)

        # A closed episode, related like E.
        self.closed = self.episode()
        self.ok("POST", EH_MGR, f"/v1/episodes/{self.closed}/close", CLOSE)

        # The person index, consent, registry and admin decoys.
        self.decoy_match = self.possible_match()
        self.decoy_people = self.two_people()
        self.decoy_merge = self.merge()
        self.decoy_consent = self.consent()
        self.withdrawn_consent = self.consent()
        self.ok(
            "POST", EH, f"/v1/consents/{self.withdrawn_consent}/withdraw", {"reason": "Changed their mind"}
        )
        self.decision = self.ok(
            "POST",
            EH,
            "/v1/sharing-decisions",
            {
                "person_id": self.x,
                "agency_id": self.agency[PO],
                "purpose": "information_sharing",
                "decision": "do_not_share",
                "justification": "Not necessary or proportionate for this agency's role.",
                "decided_by": "Erin Manager",
            },
        )["id"]
        self.decoy_client = self.admin_client()
        self.decoy_practitioner = self.throwaway_practitioner()
        rule = next(
            r for r in self.ok("GET", AD, "/v1/deadline-rules")["items"] if r["kind"] == "first_review"
        )
        self.rule_body = {
            k: rule[k]
            for k in ("amount", "unit", "reminder_lead_hours", "escalation_delay_hours", "escalation_target")
        }

        # Each school's feed item (the MASH decision on its referral) and webhook delivery.
        decided = {SA: self.ref_e, SB: self.ref_b}

        def feed_item(client: str) -> str | None:
            items = self.ok("GET", client, "/v1/notifications", params={"limit": 200})["items"]
            return next((n["id"] for n in items if n.get("referral_id") == decided[client]), None)

        def delivery(client: str) -> str | None:
            items = self.ok("GET", client, f"/v1/subscriptions/{self.sub[client]}/deliveries")["items"]
            return items[0]["id"] if items else None

        self.notification = {c: eventually(lambda c=c: feed_item(c), f"{c}'s notification") for c in (SA, SB)}
        self.delivery = {c: eventually(lambda c=c: delivery(c), f"{c}'s delivery") for c in (SA, SB)}

        # The design holds before the matrix starts: Tom sees E (consent reached the cache).
        eventually(
            lambda: self.send("GET", TAF_SCHOOL, Call(f"/v1/episodes/{self.e}")).status_code == 200,
            "Tom to see episode E",
            timeout=10,
        )

    def cleanup(self) -> None:
        """Subscriptions to the receiver that is about to stop would fail for the rest of the session."""
        for client in AGENCY_TYPE:
            if "webhooks:manage" not in DEFAULT_SCOPES[AGENCY_TYPE[client]]:
                continue
            for sub in self.ok("GET", client, "/v1/subscriptions")["items"]:
                if sub["url"].startswith(self.sink_url):
                    self.send("DELETE", client, Call(f"/v1/subscriptions/{sub['id']}"))


# --- call builders -----------------------------------------------------------------------------


def fixed(path: str | Callable[[World], str], **kw: Any) -> Builder:
    def build(w: World, caller: Persona, fresh: bool) -> Call:
        return Call(
            path(w) if callable(path) else path, **{k: v(w) if callable(v) else v for k, v in kw.items()}
        )

    return build


def episode_path(suffix: str = "") -> Builder:
    return fixed(lambda w: f"/v1/episodes/{w.e}{suffix}")


def fresh_episode(suffix: str, body: Any = None, *, step_down: bool = False) -> Builder:
    """A new episode related like E for a persona expected to succeed; the decoy otherwise."""

    def build(w: World, caller: Persona, fresh: bool) -> Call:
        episode_id = w.episode(step_down=step_down) if fresh else w.decoy
        return Call(f"/v1/episodes/{episode_id}{suffix}", json=body(w) if callable(body) else body)

    return build


def fresh_assessment(suffix: str, body: Any = None, *, submitted: bool) -> Builder:
    """A new assessment written by Eddie; the decoy (also Eddie's) for a persona to be refused."""

    def build(w: World, caller: Persona, fresh: bool) -> Call:
        if fresh:
            aid = w.assessment(w.episode(), submitted=submitted)
        else:
            aid = w.decoy_submitted if submitted else w.decoy_draft
        return Call(f"/v1/assessments/{aid}{suffix}", json=body)

    return build


def patch_assessment(w: World, caller: Persona, fresh: bool) -> Call:
    path = f"/v1/assessments/{w.assessment_e}"
    return Call(path, json={"analysis": f"Updated by {caller}."}, headers={"If-Match": w.etag(path)})


def extend(w: World, caller: Persona, fresh: bool) -> Call:
    due = date.fromisoformat(w.ok("GET", EH, f"/v1/assessments/{w.assessment_e}")["due_on"])
    body = {
        "new_due_on": (due + timedelta(days=1)).isoformat(),
        "reason": "Family away",
        "approved_by": MANAGER,
    }
    return Call(f"/v1/assessments/{w.assessment_e}/extensions", json=body)


def patch_action(w: World, caller: Persona, fresh: bool) -> Call:
    return Call(
        f"/v1/actions/{w.action_e}",
        json={"status": "in_progress", "progress_notes": f"Checked by {caller}"},
        headers={"If-Match": w.action_etag(w.e, w.action_e)},
    )


def review(w: World, caller: Persona, fresh: bool) -> Call:
    body = {
        "held_on": TODAY.isoformat(),
        "next_review_on": (TODAY + timedelta(weeks=6)).isoformat(),
        "attendees": ["Erin Manager", "Tom Teacher"],
        "outcome_progress": [{"outcome_id": w.outcome_e, "score": 5}],
    }
    return Call(f"/v1/episodes/{w.e}/reviews", json=body)


def remove_member(w: World, caller: Persona, fresh: bool) -> Call:
    if fresh:
        member = w.ok("POST", EH_MGR, f"/v1/episodes/{w.e}/taf-members", throwaway_member())["id"]
        return Call(f"/v1/episodes/{w.e}/taf-members/{member}")
    return Call(f"/v1/episodes/{w.decoy}/taf-members/{w.decoy_member}")


def new_episode(origin: str, *, known: bool = True) -> Builder:
    """A new episode of a known child (fresh: a child of its own; else referral B's child), or of
    a child no one ever referred."""

    def build(w: World, caller: Persona, fresh: bool) -> Call:
        if not known:
            person = str(uuid.uuid4())
        else:
            person = w.known_child() if fresh else w.y
        body: dict[str, Any] = {"origin": origin, "person_ids": [person], "level_of_need": "universal_plus"}
        if origin == "step_down":
            body.update(
                stepdown_panel_on=TODAY.isoformat(),
                social_worker={"name": "Sol Social Worker", "email": "sol@council.example"},
            )
        return Call("/v1/episodes", json=body)

    return build


def withdraw_school_a(w: World, caller: Persona, fresh: bool) -> Call:
    rid = w.referral(TAF_SCHOOL)["id"] if fresh else w.decoy_ref[SA]
    return Call(f"/v1/referrals/{rid}/withdraw", json={"reason": "Sent in error"})


def withdraw_own(w: World, caller: Persona, fresh: bool) -> Call:
    rid = w.referral(caller)["id"] if fresh else w.own_referral[caller]
    return Call(f"/v1/referrals/{rid}/withdraw", json={"reason": "Sent in error"})


def decide(w: World, caller: Persona, fresh: bool) -> Call:
    rid = w.referral(SA)["id"] if fresh else w.decoy_ref[SA]
    return Call(f"/v1/referrals/{rid}/decision", json=NFA)


def assign(to: Callable[[World], str | None]) -> Builder:
    """School B's referral awaiting a decision (no other cell touches it), assigned in the MASH."""
    return fixed(
        lambda w: f"/v1/referrals/{w.decoy_ref[SB]}/assignment", json=lambda w: {"practitioner_id": to(w)}
    )


def resolve_match(verb: str) -> Builder:
    def build(w: World, caller: Persona, fresh: bool) -> Call:
        rid, person = w.possible_match() if fresh else w.decoy_match
        return Call(f"/v1/referrals/{rid}/matches/{person}/{verb}")

    return build


def merge_people(w: World, caller: Persona, fresh: bool) -> Call:
    dup, into = w.two_people() if fresh else w.decoy_people
    return Call(f"/v1/people/{dup}/merge", json={"into_person_id": into, "reason": "The same child"})


def undo_merge(w: World, caller: Persona, fresh: bool) -> Call:
    return Call(f"/v1/people/merges/{w.merge() if fresh else w.decoy_merge}/undo")


def withdraw_consent(w: World, caller: Persona, fresh: bool) -> Call:
    return Call(
        f"/v1/consents/{w.consent() if fresh else w.decoy_consent}/withdraw", json={"reason": "Withdrawn"}
    )


def other_school(caller: Persona) -> str:
    return SB if caller.client == SA else SA


def delete_other_subscription(w: World, caller: Persona, fresh: bool) -> Call:
    return Call(f"/v1/subscriptions/{w.decoy_sub[other_school(caller)]}")


def delete_own_subscription(w: World, caller: Persona, fresh: bool) -> Call:
    return Call(f"/v1/subscriptions/{w.subscription(caller)}")


def retry(sub_of: str, delivery_of: str) -> Builder:
    return fixed(lambda w: f"/v1/subscriptions/{w.sub[sub_of]}/deliveries/{w.delivery[delivery_of]}/retry")


def admin_client(verb: str) -> Builder:
    def build(w: World, caller: Persona, fresh: bool) -> Call:
        return Call(f"/v1/admin/clients/{w.admin_client() if fresh else w.decoy_client}/{verb}")

    return build


def practitioner_verb(verb: str, body: Any = None) -> Builder:
    """A throwaway early help practitioner (never a persona): fresh for a persona expected to succeed."""

    def build(w: World, caller: Persona, fresh: bool) -> Call:
        pid = w.throwaway_practitioner() if fresh else w.decoy_practitioner
        return Call(f"/v1/practitioners/{pid}{verb}", json=body)

    return build


def new_practitioner(client: str, role: str) -> Builder:
    """A new practitioner of `client`'s agency, naming the agency (the council admin's power)."""

    def build(w: World, caller: Persona, fresh: bool) -> Call:
        body = {
            "name": f"Matrix {name()}",
            "email": f"m.{uuid.uuid4().hex[:10]}@matrix.example",
            "roles": [role],
            "agency_id": w.agency[client],
        }
        return Call("/v1/practitioners", json=body)

    return build


def listed(
    obj: Callable[[World], str], visible: Iterable[Persona], path: str, params: Callable[[World], dict]
) -> Check:
    """The list shows `obj` to exactly the `visible` personas."""
    seen_by = frozenset(visible)

    def check(w: World, caller: Persona, _resp: httpx.Response) -> str | None:
        shown = obj(w) in w.ids(caller, path, params(w))
        if shown != (caller in seen_by):
            return f"the list {'shows' if shown else 'does not show'} {obj(w)} to {caller}"
        return None

    return check


def when(personas: Iterable[Persona], check: Check) -> Check:
    """`check` for these personas only (the others were refused: there is no list to look at)."""
    asked = frozenset(personas)

    def run(w: World, caller: Persona, resp: httpx.Response) -> str | None:
        return check(w, caller, resp) if caller in asked else None

    return run


def journey_check(w: World, caller: Persona, resp: httpx.Response) -> str | None:
    kinds = {i["kind"] for i in resp.json()["items"]}
    shown = "episode_opened" in kinds
    if shown != (caller in SEES_E):
        return f"the journey {'shows' if shown else 'hides'} episode E to {caller}: {sorted(kinds)}"
    return None


def access_check_params(w: World) -> dict[str, str]:
    return {"person_id": w.x, "agency_id": w.agency[SA], "purpose": "information_sharing"}


# --- the policy --------------------------------------------------------------------------------
#
# Who sees episode E (docs/assessments.md "Visibility"): the MASH and early help (every
# practitioner of those agencies, whatever the role), and a partner agency on the TAF whose
# joining the family's consent covers - school A, Tom's agency, so Tom's colleague too (the TAF
# member is an agency; a practitioner named on it is a relationship for the caseload). Not
# school B, not the police (joined after the consent without the family's agreement), not
# social care (not on the TAF). Anyone else is 404, before any role rule is asked.

MASH = (SCREENER, MASH_MGR)
# Early help's caseworkers; its agency admin (Ada) administers people and reaches no case.
EARLY_HELP = (EH_PRAC, EH_LEAD, EH_MGR, AUTHOR)
MANAGERS = (EH_MGR, AUTHOR)
SEES_E = frozenset({*MASH, *EARLY_HELP, TAF_SCHOOL, COLLEAGUE})
# Who sees E and holds episodes:write (the MASH reads only).
WRITES_E = frozenset({*EARLY_HELP, TAF_SCHOOL, COLLEAGUE})
# services/assessments/policy.py: the TAF, the lead professional, the plan and step-up are run by
# an early help manager, or the lead professional where the manager delegates.
RUNS_E = frozenset({EH_MGR, AUTHOR, EH_LEAD})
# services/referrals/policy.py: the MASH, early help and social care read every referral.
READS_ALL_REFERRALS = frozenset({*MASH, *EARLY_HELP, SOCIAL_WORKER})


def on_e(status: Any, allowed: Iterable[Persona]) -> Expect:
    """`allowed` get `status`; anyone else who sees E is refused 403 not-permitted; the rest 404."""
    allowed = frozenset(allowed)
    return Expect(
        want(404), {**{p: NOT_PERMITTED for p in WRITES_E - allowed}, **{p: want(status) for p in allowed}}
    )


def registry(status: Any, allowed: dict[Persona, Any] | Iterable[Persona]) -> Expect:
    """The practitioner registry: anyone but an admin is 403 not-agency-admin."""
    if isinstance(allowed, dict):
        return Expect(NOT_AGENCY_ADMIN, {p: want(s) for p, s in allowed.items()})
    return Expect(NOT_AGENCY_ADMIN, {p: want(status) for p in allowed})


REGISTRY_ADMINS = (EH_ADMIN, COUNCIL)


POLICY: dict[tuple[str, str], Row] = {
    # ---- referrals (services/referrals/policy.py) ----
    ("POST", "/v1/referrals"): per_role(
        Target(
            "a new request for support",
            everyone(201),
            lambda w, c, f: Call("/v1/referrals", json=referral_body()),
        )
    ),
    ("GET", "/v1/referrals"): per_person(
        Target(
            "filtered to E's child",
            everyone(200),
            fixed("/v1/referrals", params=lambda w: {"person_id": w.x}),
            check=listed(
                lambda w: w.ref_e,
                {*READS_ALL_REFERRALS, TAF_SCHOOL, COLLEAGUE},
                "/v1/referrals",
                lambda w: {"person_id": w.x},
            ),
        )
    ),
    # A partner reads what its agency submitted (Tom's colleague too), nothing else: 404.
    ("GET", "/v1/referrals/{referral_id}"): per_person(
        Target(
            "Tom's referral (E's)",
            only(200, {*READS_ALL_REFERRALS, TAF_SCHOOL, COLLEAGUE}),
            fixed(lambda w: f"/v1/referrals/{w.ref_e}"),
        ),
        Target(
            "Tina's referral (school B)",
            only(200, {*READS_ALL_REFERRALS, OTHER_SCHOOL}),
            fixed(lambda w: f"/v1/referrals/{w.ref_b}"),
        ),
        Target(
            "the persona's own referral",
            everyone(200),
            lambda w, c, f: Call(f"/v1/referrals/{w.own_referral[c]}"),
        ),
    ),
    # The submitting agency or the MASH withdraws; early help and social care see it: 403.
    ("POST", "/v1/referrals/{referral_id}/withdraw"): per_person(
        Target(
            "a school A referral awaiting a decision (Tom's)",
            table(
                404,
                {
                    **{p: 200 for p in (*MASH, TAF_SCHOOL, COLLEAGUE)},
                    **{p: NOT_SUBMITTER for p in (*EARLY_HELP, SOCIAL_WORKER)},
                },
            ),
            withdraw_school_a,
            fresh=True,
        ),
        Target("its own referral awaiting a decision", everyone(200), withdraw_own, fresh=True),
    ),
    # Only the MASH decides (only the MASH holds triage:write; both MASH roles decide).
    ("POST", "/v1/referrals/{referral_id}/decision"): per_role(
        Target("a referral awaiting a decision", everyone(200), decide, fresh=True),
        Target(
            "a referral already decided",
            everyone(want(409, "decision-already-made")),
            fixed(lambda w: f"/v1/referrals/{w.ref_e}/decision", json=NFA),
        ),
    ),
    ("POST", "/v1/referrals/{referral_id}/matches/{person_id}/confirm"): per_role(
        Target("a possible match", everyone(200), resolve_match("confirm"), fresh=True)
    ),
    ("POST", "/v1/referrals/{referral_id}/matches/{person_id}/reject"): per_role(
        Target("a possible match", everyone(200), resolve_match("reject"), fresh=True)
    ),
    # The MASH queue is the MASH's; a manager assigns a referral to anyone (or unassigns it), a
    # screener only takes one themself.
    ("GET", "/v1/mash/queue"): per_role(
        Target(
            "by urgency",
            everyone(200),
            fixed("/v1/mash/queue"),
            check=listed(lambda w: w.decoy_ref[SB], MASH, "/v1/mash/queue", lambda w: {}),
        ),
        Target("assigned to me", everyone(200), fixed("/v1/mash/queue", params={"assigned_to": "me"})),
    ),
    ("PUT", "/v1/referrals/{referral_id}/assignment"): per_role(
        Target("to Sam Screener", everyone(200), assign(lambda w: w.pid[SCREENER])),
        Target("to Maya Manager", table(200, {SCREENER: ROLE_REQUIRED}), assign(lambda w: w.pid[MASH_MGR])),
        Target("to no one", table(200, {SCREENER: ROLE_REQUIRED}), assign(lambda w: None)),
    ),
    ("GET", "/v1/people"): per_role(
        Target(
            "a search by family name and date of birth",
            everyone(200),
            fixed("/v1/people", params={"family_name": "Smith", "date_of_birth": "2015-03-04"}),
        )
    ),
    ("GET", "/v1/people/{person_id}"): per_role(
        Target("E's child", everyone(200), fixed(lambda w: f"/v1/people/{w.x}"))
    ),
    # The journey's assessments part follows episode visibility: social care sees no episode.
    ("GET", "/v1/people/{person_id}/journey"): per_role(
        Target("E's child", everyone(200), fixed(lambda w: f"/v1/people/{w.x}/journey"), check=journey_check)
    ),
    ("POST", "/v1/people/{person_id}/merge"): per_role(
        Target("two records of a child", everyone(201), merge_people, fresh=True)
    ),
    ("POST", "/v1/people/merges/{merge_id}/undo"): per_role(
        Target("a merge", everyone(200), undo_merge, fresh=True)
    ),
    ("GET", "/v1/reports/referrals"): per_role(
        Target("the report", everyone(200), fixed("/v1/reports/referrals"))
    ),
    # ---- episodes (services/assessments/policy.py) ----
    # An episode opens from a MASH decision, a step-down (early help, or social care handing
    # over) or an early help manager's self-referral, and only for a child the referrals
    # service knows (422 naming person_ids).
    ("POST", "/v1/episodes"): per_person(
        Target(
            "a self-referral of a known child",
            Expect(NOT_PERMITTED, {p: want(201) for p in MANAGERS}),
            new_episode("self_referral"),
            fresh=True,
        ),
        Target(
            "a step-down of a known child",
            Expect(NOT_PERMITTED, {p: want(201) for p in (EH_PRAC, EH_LEAD, EH_MGR, AUTHOR, SOCIAL_WORKER)}),
            new_episode("step_down"),
            fresh=True,
        ),
        Target(
            "a self-referral of a child no one referred",
            Expect(NOT_PERMITTED, {p: want(422, "unknown-person", field="person_ids") for p in MANAGERS}),
            new_episode("self_referral", known=False),
        ),
    ),
    ("GET", "/v1/episodes"): per_person(
        Target(
            "filtered to E's child",
            everyone(200),
            fixed("/v1/episodes", params=lambda w: {"person_id": w.x}),
            check=listed(lambda w: w.e, SEES_E, "/v1/episodes", lambda w: {"person_id": w.x}),
        )
    ),
    ("GET", "/v1/episodes/{episode_id}"): per_person(Target("episode E", only(200, SEES_E), episode_path())),
    # Naming the lead professional is the manager's or the delegated lead's; delegating to the
    # lead (`manager_delegates`) is the manager's alone; the family's agreement is required.
    ("PUT", "/v1/episodes/{episode_id}/lead-professional"): per_person(
        Target(
            "an open episode: Lee named again, no delegation",
            on_e(200, RUNS_E),
            fresh_episode("/lead-professional", lambda w: w.lead_body(delegates=False)),
            fresh=True,
        ),
        Target(
            "episode E: delegating to Lee (as it is)",
            on_e(200, MANAGERS),
            fixed(lambda w: f"/v1/episodes/{w.e}/lead-professional", json=lambda w: w.lead_body()),
        ),
        Target(
            "the decoy: the family not agreeing",
            on_e(want(422, "family-agreement-required", field="family_agreed"), RUNS_E),
            fixed(
                lambda w: f"/v1/episodes/{w.decoy}/lead-professional",
                json=lambda w: w.lead_body(family_agreed=False, delegates=False),
            ),
        ),
    ),
    ("POST", "/v1/episodes/{episode_id}/taf-members"): per_person(
        Target(
            "episode E",
            on_e(201, RUNS_E),
            fixed(lambda w: f"/v1/episodes/{w.e}/taf-members", json=lambda w: throwaway_member()),
        )
    ),
    ("DELETE", "/v1/episodes/{episode_id}/taf-members/{member_id}"): per_person(
        Target("a member of the episode", on_e(204, RUNS_E), remove_member, fresh=True)
    ),
    # No role rule: whoever may see and write to the episode.
    ("POST", "/v1/episodes/{episode_id}/contacts"): per_person(
        Target(
            "episode E",
            only(201, WRITES_E),
            fixed(
                lambda w: f"/v1/episodes/{w.e}/contacts",
                json=lambda w: {"contact_at": now_iso(), "method": "phone", "notes": "Spoke to mum."},
            ),
        ),
        Target(
            "a closed episode related like E",
            only(CLOSED, WRITES_E),
            fixed(
                lambda w: f"/v1/episodes/{w.closed}/contacts",
                json=lambda w: {"contact_at": now_iso(), "method": "phone", "notes": "Late."},
            ),
        ),
    ),
    ("POST", "/v1/episodes/{episode_id}/assessments"): per_person(
        Target(
            "an open episode with no assessment",
            only(201, WRITES_E),
            fresh_episode("/assessments", ASSESSMENT),
            fresh=True,
        ),
        Target(
            "episode E, its assessment in progress",
            only(want(409, "assessment-in-progress"), WRITES_E),
            fixed(lambda w: f"/v1/episodes/{w.e}/assessments", json=ASSESSMENT),
        ),
    ),
    # The managers' worklist of assessments awaiting approval: not their own (they may not approve
    # those), so Eddie's submitted assessment is on Erin's list only.
    ("GET", "/v1/assessments"): per_person(
        Target(
            "awaiting approval",
            Expect(NOT_PERMITTED, {p: want(200) for p in MANAGERS}),
            fixed("/v1/assessments", params={"status": "submitted"}),
            check=when(
                MANAGERS,
                listed(lambda w: w.awaiting, {EH_MGR}, "/v1/assessments", lambda w: {"status": "submitted"}),
            ),
        )
    ),
    ("GET", "/v1/assessments/{assessment_id}"): per_person(
        Target("E's assessment", only(200, SEES_E), fixed(lambda w: f"/v1/assessments/{w.assessment_e}"))
    ),
    ("PATCH", "/v1/assessments/{assessment_id}"): per_person(
        Target("E's draft assessment (Eddie's)", only(200, WRITES_E), patch_assessment)
    ),
    ("POST", "/v1/assessments/{assessment_id}/submit"): per_person(
        Target(
            "a complete draft assessment (Eddie's)",
            only(200, WRITES_E),
            fresh_assessment("/submit", submitted=False),
            fresh=True,
        )
    ),
    # Approved or returned only by an early help manager who is not its author.
    ("POST", "/v1/assessments/{assessment_id}/approve"): per_person(
        Target(
            "a submitted assessment Eddie wrote",
            on_e(200, {EH_MGR}),
            fresh_assessment("/approve", {"approved_by": MANAGER}, submitted=True),
            fresh=True,
        )
    ),
    ("POST", "/v1/assessments/{assessment_id}/return"): per_person(
        Target(
            "a submitted assessment Eddie wrote",
            on_e(200, {EH_MGR}),
            fresh_assessment(
                "/return", {"reason": "Add the father's views", "returned_by": MANAGER}, submitted=True
            ),
            fresh=True,
        )
    ),
    ("POST", "/v1/assessments/{assessment_id}/extensions"): per_person(
        Target("E's draft assessment", only(201, WRITES_E), extend)
    ),
    ("PUT", "/v1/episodes/{episode_id}/plan"): per_person(
        Target(
            "an open episode",
            on_e(200, RUNS_E),
            fresh_episode("/plan", lambda w: w.plan_body()),
            fresh=True,
        )
    ),
    ("GET", "/v1/episodes/{episode_id}/plan"): per_person(
        Target("E's plan", only(200, SEES_E), episode_path("/plan"))
    ),
    ("GET", "/v1/episodes/{episode_id}/plan/versions/{version}"): per_person(
        Target("E's plan, version 1", only(200, SEES_E), episode_path("/plan/versions/1"))
    ),
    # The action's owner (Tom) updates it, and an early help manager; anyone else who sees E:
    # 403 not-action-owner (Tom's colleague included).
    ("PATCH", "/v1/actions/{action_id}"): per_person(
        Target(
            "Tom's action on E",
            Expect(
                want(404),
                {
                    **{p: NOT_ACTION_OWNER for p in WRITES_E},
                    **{p: want(200) for p in (TAF_SCHOOL, *MANAGERS)},
                },
            ),
            patch_action,
        )
    ),
    ("POST", "/v1/episodes/{episode_id}/reviews"): per_person(
        Target("episode E", only(201, WRITES_E), review)
    ),
    ("GET", "/v1/episodes/{episode_id}/reviews"): per_person(
        Target("episode E", only(200, SEES_E), episode_path("/reviews"))
    ),
    ("POST", "/v1/episodes/{episode_id}/step-up"): per_person(
        Target(
            "an open episode",
            on_e((201, 202), RUNS_E),
            fresh_episode("/step-up", {"reason": "Disclosure of harm at school"}),
            fresh=True,
        )
    ),
    ("GET", "/v1/episodes/{episode_id}/step-ups"): per_person(
        Target("episode E", only(200, SEES_E), episode_path("/step-ups"))
    ),
    ("POST", "/v1/episodes/{episode_id}/joint-visit"): per_person(
        Target(
            "a step-down episode",
            only(200, WRITES_E),
            fresh_episode("/joint-visit", {"held_on": TODAY.isoformat()}, step_down=True),
            fresh=True,
        )
    ),
    # Closure needs an early help manager's sign-off: not the delegated lead professional.
    ("POST", "/v1/episodes/{episode_id}/close"): per_person(
        Target("an open episode", on_e(200, MANAGERS), fresh_episode("/close", CLOSE), fresh=True)
    ),
    # Episodes where I am the lead professional or a TAF practitioner - and may see: Pat is
    # named on E's TAF but the consent does not cover the police.
    ("GET", "/v1/me/caseload"): per_person(
        Target(
            "the persona's caseload",
            everyone(200),
            fixed("/v1/me/caseload"),
            check=listed(lambda w: w.e, {EH_LEAD, TAF_SCHOOL}, "/v1/me/caseload", lambda w: {}),
        )
    ),
    ("GET", "/v1/reports/episodes"): per_role(
        Target("the report", everyone(200), fixed("/v1/reports/episodes"))
    ),
    # ---- consent (docs/consent.md: every consent:read holder sees all) ----
    ("POST", "/v1/consents"): per_role(
        Target(
            "a new consent",
            everyone(201),
            lambda w, c, f: Call("/v1/consents", json=consent_body(str(uuid.uuid4()))),
        )
    ),
    ("GET", "/v1/consents"): per_role(
        Target("E's child", everyone(200), fixed("/v1/consents", params=lambda w: {"person_id": w.x}))
    ),
    ("GET", "/v1/consents/{consent_id}"): per_role(
        Target("the TAF consent of E's child", everyone(200), fixed(lambda w: f"/v1/consents/{w.consent_e}"))
    ),
    ("POST", "/v1/consents/{consent_id}/withdraw"): per_role(
        Target("a live consent", everyone(200), withdraw_consent, fresh=True),
        Target(
            "a withdrawn consent",
            everyone(want(409, "consent-already-withdrawn")),
            fixed(lambda w: f"/v1/consents/{w.withdrawn_consent}/withdraw", json={"reason": "Again"}),
        ),
    ),
    ("GET", "/v1/lawful-bases"): per_role(Target("the list", everyone(200), fixed("/v1/lawful-bases"))),
    ("POST", "/v1/sharing-decisions"): per_role(
        Target(
            "a do_not_share decision",
            everyone(201),
            lambda w, c, f: Call(
                "/v1/sharing-decisions",
                json={
                    "person_id": str(uuid.uuid4()),
                    "agency_id": w.agency[PO],
                    "purpose": "information_sharing",
                    "decision": "do_not_share",
                    "justification": "Not necessary or proportionate for this agency's role.",
                    "decided_by": c.name,
                },
            ),
        )
    ),
    ("GET", "/v1/sharing-decisions"): per_role(
        Target(
            "E's child", everyone(200), fixed("/v1/sharing-decisions", params=lambda w: {"person_id": w.x})
        )
    ),
    ("GET", "/v1/sharing-decisions/{decision_id}"): per_role(
        Target(
            "the police decision on E's child",
            everyone(200),
            fixed(lambda w: f"/v1/sharing-decisions/{w.decision}"),
        )
    ),
    ("GET", "/v1/access-checks"): per_role(
        Target(
            "may school A see E's child?",
            everyone(want(403, "insufficient-scope", scope="service")),
            fixed("/v1/access-checks", params=access_check_params),
        )
    ),
    ("GET", "/v1/people/{person_id}/disclosures"): per_role(
        Target("E's child", everyone(200), fixed(lambda w: f"/v1/people/{w.x}/disclosures"))
    ),
    ("GET", "/v1/people/{person_id}/disclosures/export"): per_role(
        Target(
            "E's child",
            everyone(200),
            fixed(lambda w: f"/v1/people/{w.x}/disclosures/export", params={"format": "csv"}),
        )
    ),
    # ---- notifications (docs/notifications.md: a feed item and a subscription are an agency's) ----
    ("GET", "/v1/deadline-rules"): per_role(Target("the rules", everyone(200), fixed("/v1/deadline-rules"))),
    ("PUT", "/v1/deadline-rules/{kind}"): per_role(
        Target(
            "first_review, unchanged",
            everyone(200),
            fixed("/v1/deadline-rules/first_review", json=lambda w: w.rule_body),
        )
    ),
    ("GET", "/v1/deadlines"): per_role(Target("all deadlines", everyone(200), fixed("/v1/deadlines"))),
    ("GET", "/v1/notifications"): per_role(
        Target(
            "the persona's feed",
            everyone(200),
            fixed("/v1/notifications"),
            check=listed(lambda w: w.notification[SA], {TAF_SCHOOL}, "/v1/notifications", lambda w: {}),
        )
    ),
    ("POST", "/v1/notifications/{notification_id}/read"): per_role(
        Target(
            "school A's notification",
            only(200, {TAF_SCHOOL}),
            fixed(lambda w: f"/v1/notifications/{w.notification[SA]}/read"),
        )
    ),
    ("POST", "/v1/subscriptions"): per_role(
        Target(
            "a new subscription",
            everyone(201),
            lambda w, c, f: Call(
                "/v1/subscriptions", json={"url": w.sink_url, "event_types": ["referral.linked"]}
            ),
        )
    ),
    ("GET", "/v1/subscriptions"): per_role(
        Target(
            "the agency's subscriptions",
            everyone(200),
            fixed("/v1/subscriptions"),
            check=listed(lambda w: w.sub[SA], {TAF_SCHOOL}, "/v1/subscriptions", lambda w: {}),
        )
    ),
    ("DELETE", "/v1/subscriptions/{subscription_id}"): per_role(
        Target("another agency's subscription", everyone(404), delete_other_subscription),
        Target("its own subscription", everyone(204), delete_own_subscription, fresh=True),
    ),
    ("GET", "/v1/subscriptions/{subscription_id}/deliveries"): per_role(
        Target(
            "school A's subscription",
            only(200, {TAF_SCHOOL}),
            fixed(lambda w: f"/v1/subscriptions/{w.sub[SA]}/deliveries"),
        )
    ),
    ("POST", "/v1/subscriptions/{subscription_id}/deliveries/{delivery_id}/retry"): per_role(
        Target("school A's delivery", only(202, {TAF_SCHOOL}), retry(SA, SA)),
        Target("school A's delivery under school B's subscription", everyone(404), retry(SB, SA)),
    ),
    # ---- the gateway: admin (scope admin: the council only) ----
    ("POST", "/v1/admin/clients"): per_role(
        Target(
            "a new client",
            everyone(201),
            lambda w, c, f: Call(
                "/v1/admin/clients",
                json={
                    "name": "Matrix",
                    "agency_type": "voluntary",
                    "client_id": f"matrix-{uuid.uuid4().hex[:12]}",
                },
            ),
        )
    ),
    ("GET", "/v1/admin/clients"): per_role(Target("the list", everyone(200), fixed("/v1/admin/clients"))),
    ("POST", "/v1/admin/clients/{client_ref}/rotate-secret"): per_role(
        Target("a throwaway client", everyone(200), admin_client("rotate-secret"), fresh=True)
    ),
    ("POST", "/v1/admin/clients/{client_ref}/disable"): per_role(
        Target("a throwaway client", everyone(200), admin_client("disable"), fresh=True)
    ),
    ("GET", "/v1/admin/audit"): per_role(Target("the audit", everyone(200), fixed("/v1/admin/audit"))),
    # ---- the gateway: the practitioner registry (gateway/practitioners.py) ----
    # An agency admin manages its own agency's practitioners and teams, the council admin any
    # agency's; another agency's is 404 to an agency admin; anyone else 403 not-agency-admin.
    ("POST", "/v1/teams"): per_role(
        Target(
            "a team of the persona's agency",
            registry(201, REGISTRY_ADMINS),
            lambda w, c, f: Call("/v1/teams", json={"name": f"Matrix {name()}"}),
        ),
        Target(
            "a team of school B",
            registry(201, {COUNCIL: 201}),
            lambda w, c, f: Call("/v1/teams", json={"name": f"Matrix {name()}", "agency_id": w.agency[SB]}),
        ),
    ),
    ("GET", "/v1/teams"): per_role(Target("the list", registry(200, REGISTRY_ADMINS), fixed("/v1/teams"))),
    ("GET", "/v1/teams/{team_id}"): per_role(
        Target("early help's team", registry(200, REGISTRY_ADMINS), fixed(f"/v1/teams/{demo_team_id(EH)}")),
        Target(
            "school A's team",
            registry(200, {COUNCIL: 200, EH_ADMIN: 404}),
            fixed(f"/v1/teams/{demo_team_id(SA)}"),
        ),
    ),
    ("POST", "/v1/practitioners"): per_role(
        Target(
            "an early help practitioner",
            registry(201, REGISTRY_ADMINS),
            new_practitioner(EH, EH_PRACTITIONER),
        ),
        Target(
            "a school B practitioner",
            registry(201, {COUNCIL: 201}),
            new_practitioner(SB, AGENCY_PRACTITIONER),
        ),
    ),
    ("GET", "/v1/practitioners"): per_role(
        Target(
            "the list",
            registry(200, REGISTRY_ADMINS),
            fixed("/v1/practitioners"),
            # Tom is school A's: listed to the council, not to early help's agency admin.
            check=when(
                REGISTRY_ADMINS,
                listed(lambda w: w.pid[TAF_SCHOOL], {COUNCIL}, "/v1/practitioners", lambda w: {}),
            ),
        )
    ),
    ("GET", "/v1/practitioners/{practitioner_id}"): per_role(
        Target(
            "Ellie (early help)",
            registry(200, REGISTRY_ADMINS),
            fixed(lambda w: f"/v1/practitioners/{w.pid[EH_PRAC]}"),
        ),
        Target(
            "Tom (school A)",
            registry(200, {COUNCIL: 200, EH_ADMIN: 404}),
            fixed(lambda w: f"/v1/practitioners/{w.pid[TAF_SCHOOL]}"),
        ),
    ),
    ("PATCH", "/v1/practitioners/{practitioner_id}"): per_role(
        Target(
            "an early help practitioner",
            registry(200, REGISTRY_ADMINS),
            practitioner_verb("", {"name": "Renamed Practitioner"}),
            fresh=True,
        )
    ),
    ("POST", "/v1/practitioners/{practitioner_id}/disable"): per_role(
        Target(
            "an early help practitioner",
            registry(200, REGISTRY_ADMINS),
            practitioner_verb("/disable"),
            fresh=True,
        )
    ),
    ("POST", "/v1/practitioners/{practitioner_id}/enable"): per_role(
        Target(
            "an early help practitioner",
            registry(200, REGISTRY_ADMINS),
            practitioner_verb("/enable"),
            fresh=True,
        )
    ),
}


# --- the tests ---------------------------------------------------------------------------------

ROUTES = load_routes()


def route_id(route: Route) -> str:
    return f"{route.method} {route.path}"


def cells() -> list[tuple[Route, Persona]]:
    out = []
    for route in ROUTES:
        row = POLICY.get((route.method, route.path))
        for persona in row.personas() if row else PERSONAS:
            out.append((route, persona))
    return out


CELLS = cells()


@pytest.fixture(scope="module")
def world(api: Any) -> Any:
    sink = WebhookSink()
    sink.start()
    services = {r.service for r in ROUTES if r.service != "gateway"}
    w = World(api.http, sink.url, {s: api.stack.url(s) for s in services})
    try:
        w.build()
        yield w
    finally:
        try:
            w.cleanup()
        finally:
            sink.stop()


def mismatch(wanted: Want, resp: httpx.Response) -> str | None:
    if resp.status_code not in wanted.codes:
        return f"expected {wanted}, got {resp.status_code}: {resp.text[:300]}"
    if wanted.problem:
        kind = resp.json().get("type", "")
        if not kind.endswith("/" + wanted.problem):
            return f"expected problem {wanted.problem}, got {kind!r}"
    if wanted.scope:
        challenge = resp.headers.get("www-authenticate", "")
        if f'scope="{wanted.scope}"' not in challenge:
            return f"expected WWW-Authenticate naming scope {wanted.scope}, got {challenge!r}"
    if wanted.field:
        errors = resp.json().get("errors") or []
        if not any(wanted.field in str(e.get("field", e.get("loc", ""))) for e in errors):
            return f"expected an error naming {wanted.field}, got {errors!r}"
    return None


def test_every_route_has_a_role_expectation() -> None:
    """A new route fails here until its row says who may call it; a removed route leaves a stale row."""
    keys = {(r.method, r.path) for r in ROUTES}
    missing = sorted(keys - POLICY.keys())
    stale = sorted(POLICY.keys() - keys)
    assert not missing, f"routes with no role expectation in POLICY: {missing}"
    assert not stale, f"POLICY rows for routes that no longer exist: {stale}"
    for route in ROUTES:
        row = POLICY[(route.method, route.path)]
        assert row.targets, route_id(route)
        # A persona named but never asked (it lacks the scope, or another persona answers for
        # its group on a per_role row) is a dead entry: the policy would say what no cell checks.
        asked = {p for p in row.personas() if holds(p, route.scope)}
        for t in row.targets:
            dead = set(t.expect.overrides) - asked
            assert not dead, (
                f"{route_id(route)} / {t.name}: {sorted(map(str, dead))} lack {route.scope} "
                "or are not asked (per_role rows ask one persona per agency and roles)"
            )


def test_personas_are_who_the_matrix_says(world: World) -> None:
    """The premise of every cell: each persona's exchanged token names the practitioner, their
    roles and agency, and carries the client's default scopes (the generated 403 cells)."""
    for p in PERSONAS:
        claims = jwt.get_unverified_claims(world.token(p))
        assert claims["practitioner_id"] == world.pid[p] and claims["act"] == {"sub": p.client}, p
        assert claims["agency_id"] == world.agency[p.client] and claims["agency_type"] == p.agency_type, p
        assert tuple(sorted(claims["roles"].split())) == tuple(sorted(p.roles)), p
        assert set(claims["scope"].split()) == set(DEFAULT_SCOPES[p.agency_type]), p
    assert world.agency[SA] != world.agency[SB], "the two schools must be different agencies"


def test_the_relationships_hold(world: World) -> None:
    """Episode E is related as the personas' descriptions say."""
    episode = world.ok("GET", EH, f"/v1/episodes/{world.e}")
    lead = episode["lead_professional"]
    assert lead["practitioner_id"] == world.pid[EH_LEAD] and lead["manager_delegates"] is True, lead
    members = {m["practitioner_id"]: m for m in episode["taf_members"] if m.get("practitioner_id")}
    assert members[world.pid[TAF_SCHOOL]]["family_agreed"] is True
    assert members[world.pid[LATE_POLICE]]["family_agreed"] is False
    assert world.pid[COLLEAGUE] not in members
    assessment = world.ok("GET", EH, f"/v1/assessments/{world.assessment_e}")
    assert assessment["author_practitioner_id"] == world.pid[AUTHOR], assessment
    action = world.ok("GET", EH, f"/v1/episodes/{world.e}/plan")["actions"][0]
    assert action["owner"]["practitioner_id"] == world.pid[TAF_SCHOOL], action


@pytest.mark.parametrize(("route", "persona"), CELLS, ids=[f"{route_id(r)} as {p}" for r, p in CELLS])
def test_role_matrix(world: World, route: Route, persona: Persona) -> None:
    row = POLICY.get((route.method, route.path))
    if row is None:
        pytest.fail(f"no role expectation for {route_id(route)}: add its row to POLICY in {__name__}")
    if not holds(persona, route.scope):
        # The gateway refuses on the route's scope, whatever the object, and never forwards it.
        call = row.targets[0].call(world, persona, False)
        upstream = route.service if route.service != "gateway" else None
        before = world.refusals_at(upstream) if upstream else 0.0
        resp = world.send(route.method, persona, call)
        problem = mismatch(want(403, "insufficient-scope", scope=route.scope), resp)
        challenge = resp.headers.get("www-authenticate", "")
        if problem is None and not challenge.startswith('Bearer error="insufficient_scope"'):
            problem = f"expected a Bearer insufficient_scope challenge, got {challenge!r}"
        if problem is None and upstream and world.refusals_at(upstream) != before:
            problem = f"the {upstream} service refused it: the gateway forwarded a call lacking {route.scope}"
        assert problem is None, f"{route_id(route)} as {persona} (lacks {route.scope}): {problem}"
        return
    failures = []
    for t in row.targets:
        wanted = t.expect.of(persona)
        call = t.call(world, persona, t.fresh and wanted.success)
        resp = world.send(route.method, persona, call)
        problem = mismatch(wanted, resp)
        if problem is None and t.check is not None:
            problem = t.check(world, persona, resp)
        if problem:
            failures.append(f"{t.name} ({call.path}): {problem}")
    assert not failures, f"{route_id(route)} as {persona} ({persona.relationship}):\n  " + "\n  ".join(
        failures
    )
