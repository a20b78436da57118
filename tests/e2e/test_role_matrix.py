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

`POLICY` is keyed by `Route.key` (method, path template; `path?rule` for a route the gateway
picks by the query) and reads as the policy: for each route, the
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

import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
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
from tests.e2e.matrix import (
    AD,
    ASSESSMENT,
    CLOSED,
    EH,
    FHIR_SEARCH,
    MA,
    NOT_PERMITTED,
    PO,
    SA,
    SB,
    SC,
    TODAY,
    Builder,
    Call,
    Check,
    Expect,
    MatrixWorld,
    Target,
    access_check_params,
    admin_client,
    assert_rows_match_routes,
    consent_body,
    correct_person,
    decisions,
    delete_own_subscription,
    do_not_share,
    end_relationship,
    episode_body,
    episode_path,
    eventually,
    everyone,
    extend,
    fhir_service_request,
    fixed,
    fresh_episode,
    import_consents,
    import_episodes,
    import_plans,
    import_referrals,
    listed,
    merge_people,
    name,
    now_iso,
    only,
    patch_action,
    patch_assessment,
    plan_body,
    relate_people,
    remove_member,
    resolve_match,
    retry,
    review,
    route_id,
    running_world,
    scope_refusal,
    table,
    target_failures,
    undo_merge,
    want,
    withdraw_consent,
)
from tests.e2e.matrix import referral_body as _referral_body
from tests.e2e.matrix import throwaway_member as _throwaway_member

pytestmark = pytest.mark.e2e

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
PRACTITIONER_TYPE = "urn:early-help:params:oauth:token-type:practitioner"

# --- the agencies (demo clients) ------------------------------------------------------------------

# SA, SB (school A, school B), PO, MA, EH, SC and AD: tests.e2e.matrix.
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
    if not scope:
        return True  # any valid token (the code lists)
    if not casework(frozenset(persona.roles)) and scope not in ADMINISTRATIVE_SCOPES:
        return False
    return scope in DEFAULT_SCOPES[persona.agency_type]


def seeded(name: str) -> Any:
    return next(p for p in DEMO_PRACTITIONERS if p.name == name)


# --- what a cell expects (tests.e2e.matrix: Want, Expect, Target...) ----------------------------

NOT_ACTION_OWNER = want(403, "not-action-owner")
NOT_SUBMITTER = want(403, "not-submitter")
ROLE_REQUIRED = want(403, "role-required")
NOT_AGENCY_ADMIN = want(403, "not-agency-admin")


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


def referral_body(**kw: Any) -> dict[str, Any]:
    """A request for support naming a child and no adults."""
    return _referral_body(adults=False, **kw)


NFA, TAF_DECISION = decisions("Maya Manager")
MANAGER = {"name": "Erin Manager", "role": "Early help team manager"}
STEP_DOWN_SOCIAL_WORKER = {"name": "Sol Social Worker", "email": "sol@council.example"}
CLOSE = {"reason": "needs_met", "summary": "Needs met."}
CONTACT = {"contact_at": now_iso(), "method": "phone", "notes": "Spoke to mum."}


def note_body(**kw: Any) -> dict[str, Any]:
    return {"kind": "visit", "occurred_at": now_iso(), "text": "Home visit; all well.", **kw}


def throwaway_member() -> dict[str, Any]:
    # An agency that is no demo agency: adding or removing it changes no persona's visibility.
    return {**_throwaway_member(), "family_agreed": True}


# --- the world: every object the matrix needs, built through the API -----------------------------


class World(MatrixWorld):
    """Callers are personas (exchanged tokens) or, for setup, demo client ids (system tokens)."""

    def __init__(self, http_client: httpx.Client, sink_url: str, service_urls: dict[str, str]) -> None:
        super().__init__(http_client, sink_url, service_urls, AGENCY_TYPE)
        self.agency = dict(DEMO_AGENCY_IDS)
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

    def bearer(self, who: Persona | str) -> str:
        return self.token(who) if isinstance(who, Persona) else self.system[who]

    # -- building blocks --

    def referral(self, who: Persona | str, **kw: Any) -> dict[str, Any]:
        return super().referral(who, adults=False, **kw)

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
        body = episode_body(
            person,
            origin="step_down" if step_down else "self_referral",
            level_of_need="partnership_plus",
            social_worker=STEP_DOWN_SOCIAL_WORKER,
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
        """A plan whose action Tom owns."""
        return plan_body(
            {"agency_id": self.agency[SA], "name": TAF_SCHOOL.name, "practitioner_id": self.pid[TAF_SCHOOL]}
        )

    def possible_match(self) -> tuple[str, str]:
        """(referral, existing person): the family moved, so the same child is only a possible match."""
        family, given = name(), name()
        dob = (date(2010, 1, 1) + timedelta(days=random.randrange(4000))).isoformat()
        child = {"given": given, "family": family, "dob": dob}
        first = self.referral(EH, postcode="S60 1AE", **child)
        second = self.referral(MA, postcode="S61 2BB", **child)
        existing = first["children"][0]["person_id"]
        assert existing in [m["person_id"] for m in second["matches"]], second["matches"]
        return second["id"], existing

    def two_people(self) -> tuple[str, str]:
        return (self.known_child(), self.known_child())

    def consent(self) -> str:
        return str(self.ok("POST", EH, "/v1/consents", consent_body(self.known_child()))["id"])

    def throwaway_practitioner(self) -> str:
        """An early help practitioner no persona is: for the cells that change or disable one."""
        return self.register(EH, f"Throwaway {name()}", [EH_PRACTITIONER])

    # -- the shared objects --

    def build(self) -> None:
        self.build_subscriptions()

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
        self.build_person_and_consent_decoys()
        self.decision = self.ok(
            "POST", EH, "/v1/sharing-decisions", do_not_share(self.x, self.agency[PO], "Erin Manager")
        )["id"]
        self.decoy_client = self.admin_client()
        self.decoy_practitioner = self.throwaway_practitioner()
        self.rule_body = self.first_review_rule()
        self.await_feed_and_deliveries({SA: self.ref_e, SB: self.ref_b})

        # The design holds before the matrix starts: Tom sees E (consent reached the cache).
        eventually(
            lambda: self.send("GET", TAF_SCHOOL, Call(f"/v1/episodes/{self.e}")).status_code == 200,
            "Tom to see episode E",
            timeout=10,
        )

        # Issue 20: a contact on E, Tom's case note and early help's restricted one.
        self.contact_e = self.ok("POST", EH_MGR, f"/v1/episodes/{self.e}/contacts", CONTACT)["id"]
        self.note_e = self.ok("POST", TAF_SCHOOL, f"/v1/episodes/{self.e}/notes", note_body())["id"]
        self.secret_e = self.ok("POST", EH_PRAC, f"/v1/episodes/{self.e}/notes", note_body(restricted=True))[
            "id"
        ]


# --- call builders -----------------------------------------------------------------------------


def fresh_assessment(suffix: str, body: Any = None, *, submitted: bool) -> Builder:
    """A new assessment written by Eddie; the decoy (also Eddie's) for a persona to be refused."""

    def build(w: World, caller: Persona, fresh: bool) -> Call:
        if fresh:
            aid = w.assessment(w.episode(), submitted=submitted)
        else:
            aid = w.decoy_submitted if submitted else w.decoy_draft
        return Call(f"/v1/assessments/{aid}{suffix}", json=body)

    return build


def new_episode(origin: str, *, known: bool = True) -> Builder:
    """A new episode of a known child (fresh: a child of its own; else referral B's child), or of
    a child no one ever referred."""

    def build(w: World, caller: Persona, fresh: bool) -> Call:
        if not known:
            person = str(uuid.uuid4())
        else:
            person = w.known_child() if fresh else w.y
        body = episode_body(
            person, origin=origin, level_of_need="universal_plus", social_worker=STEP_DOWN_SOCIAL_WORKER
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


def other_school(caller: Persona) -> str:
    return SB if caller.client == SA else SA


def delete_other_subscription(w: World, caller: Persona, fresh: bool) -> Call:
    return Call(f"/v1/subscriptions/{w.decoy_sub[other_school(caller)]}")


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


# services/assessments/policy.py: restricted notes are early help's; the MASH reads everything.
READS_RESTRICTED = frozenset({*MASH, *EARLY_HELP})


def restricted_note_listed(w: World, caller: Persona, resp: httpx.Response) -> str | None:
    """A list (notes, chronology) shows E's restricted note to exactly READS_RESTRICTED."""
    if resp.status_code != 200:
        return None
    shown = w.secret_e in {i.get("id") or i["source"]["id"] for i in resp.json()["items"]}
    if shown != (caller in READS_RESTRICTED):
        return f"the list {'shows' if shown else 'does not show'} the restricted note to {caller}"
    return None


def amend_note(w: World, caller: Persona, fresh: bool) -> Call:
    """A PATCH of Tom's note on E (a new one of Tom's for a caller expected to succeed)."""
    note_id = w.ok("POST", TAF_SCHOOL, f"/v1/episodes/{w.e}/notes", note_body())["id"] if fresh else w.note_e
    path = f"/v1/episodes/{w.e}/notes/{note_id}"
    return Call(
        path, json={"text": f"Amended by {caller}", "reason": "matrix"}, headers={"If-Match": w.etag(path)}
    )


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


# ---- issue 21: the threshold audit (services/referrals/policy.py AUDIT_RULES) ----


def _audit_body(w: World) -> dict[str, Any]:
    return {
        "decided_from": (TODAY - timedelta(days=1)).isoformat(),
        "decided_to": (TODAY + timedelta(days=1)).isoformat(),
        "share": 1,
        "reviewer_ids": [w.pid[MASH_MGR]],
    }


def draw_audit(w: World, caller: Persona, fresh: bool) -> Call:
    """A draw over today's decisions, one of them new (a decision is sampled once)."""
    if fresh:
        w.ok("POST", SCREENER, f"/v1/referrals/{w.referral(SA)['id']}/decision", NFA)
    return Call("/v1/threshold-audits", json=_audit_body(w))


def new_audit(w: World, decided_by: Persona) -> dict[str, Any]:
    """A threshold audit of today's decisions not sampled before, one new and `decided_by`'s,
    drawn by Maya Manager with her as the reviewer: the items of her own decisions stay
    unassigned (reviewer null), every other is hers."""
    w.ok("POST", decided_by, f"/v1/referrals/{w.referral(SA)['id']}/decision", NFA)
    return dict(w.ok("POST", MASH_MGR, "/v1/threshold-audits", _audit_body(w)))


def shared_audit(w: World) -> dict[str, Any]:
    """One audit for the reads: with an item Sam decided and one Maya decided."""
    if "ta_audit" not in w.__dict__:
        w.ok("POST", MASH_MGR, f"/v1/referrals/{w.referral(SA)['id']}/decision", NFA)
        w.__dict__["ta_audit"] = new_audit(w, SCREENER)
    return dict(w.__dict__["ta_audit"])


def audit_item(mine: bool, suffix: str = "", body: Any = None, reviewed: bool = False) -> Builder:
    """An item Maya decided (`mine`) or one assigned to her; `fresh`: of a new audit (and,
    `reviewed`, with her blind review recorded)."""

    def build(w: World, caller: Persona, fresh: bool) -> Call:
        audit = new_audit(w, MASH_MGR if mine else SCREENER) if fresh else shared_audit(w)
        want_reviewer = None if mine else w.pid[MASH_MGR]
        item = next(i for i in audit["sample"] if i["reviewer_id"] == want_reviewer)
        path = f"/v1/threshold-audits/{audit['id']}/items/{item['id']}"
        if fresh and reviewed:
            w.ok(
                "POST",
                MASH_MGR,
                f"{path}/review",
                {"level_of_need": "universal", "outcome": "no_further_action"},
            )
        return Call(f"{path}{suffix}", json=body)

    return build


REVIEW = {"level_of_need": "universal", "outcome": "no_further_action"}


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
    # Issue 21: the JSNA feed, as the referral report.
    ("GET", "/v1/reports/jsna"): per_role(Target("the feed", everyone(200), fixed("/v1/reports/jsna"))),
    # ---- issue 20: households, relationships, corrections (services/referrals/policy.py) ----
    ("GET", "/v1/people/{person_id}/relationships"): per_role(
        Target("E's child", everyone(200), fixed(lambda w: f"/v1/people/{w.x}/relationships"))
    ),
    ("GET", "/v1/people/{person_id}/household"): per_role(
        Target("E's child", everyone(200), fixed(lambda w: f"/v1/people/{w.x}/household"))
    ),
    ("GET", "/v1/people/{person_id}/addresses"): per_role(
        Target("E's child", everyone(200), fixed(lambda w: f"/v1/people/{w.x}/addresses"))
    ),
    ("GET", "/v1/people/{person_id}/history"): per_role(
        Target("E's child", everyone(200), fixed(lambda w: f"/v1/people/{w.x}/history"))
    ),
    ("PATCH", "/v1/people/{person_id}"): per_role(
        Target(
            "a child's record",
            Expect(ROLE_REQUIRED, {p: want(200) for p in (*MASH, *EARLY_HELP) if p in REPRESENTATIVES}),
            correct_person,
            fresh=True,
        )
    ),
    ("POST", "/v1/people/{person_id}/relationships"): per_role(
        Target(
            "two people",
            Expect(ROLE_REQUIRED, {p: want(201) for p in (*MASH, *EARLY_HELP) if p in REPRESENTATIVES}),
            relate_people,
            fresh=True,
        )
    ),
    ("POST", "/v1/people/{person_id}/relationships/{relationship_id}/end"): per_role(
        Target(
            "a current relationship",
            Expect(ROLE_REQUIRED, {p: want(200) for p in (*MASH, *EARLY_HELP) if p in REPRESENTATIVES}),
            end_relationship,
            fresh=True,
        )
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
    # Issue 20: the family is seen as the episode is, and set by those who run it.
    ("GET", "/v1/episodes/{episode_id}/family"): per_person(
        Target("episode E", only(200, SEES_E), episode_path("/family"))
    ),
    ("PUT", "/v1/episodes/{episode_id}/family-members"): per_person(
        Target(
            "episode E",
            on_e(200, RUNS_E),
            fixed(
                lambda w: f"/v1/episodes/{w.e}/family-members",
                json=lambda w: {"members": [{"person_id": w.x, "role": "child"}]},
            ),
        )
    ),
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
        Target(
            "a member of the episode", on_e(204, RUNS_E), remove_member(EH_MGR, throwaway_member), fresh=True
        )
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
        Target("E's draft assessment (Eddie's)", only(200, WRITES_E), patch_assessment())
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
        Target("E's draft assessment", only(201, WRITES_E), extend(MANAGER))
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
            patch_action("action_e"),
        )
    ),
    ("POST", "/v1/episodes/{episode_id}/reviews"): per_person(
        Target("episode E", only(201, WRITES_E), review(["Erin Manager", "Tom Teacher"]))
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
    # ---- contacts read back, case notes, the chronology (issue 20) ----
    ("GET", "/v1/episodes/{episode_id}/contacts"): per_person(
        Target("episode E", only(200, SEES_E), episode_path("/contacts"))
    ),
    ("GET", "/v1/episodes/{episode_id}/contacts/{contact_id}"): per_person(
        Target(
            "E's contact", only(200, SEES_E), fixed(lambda w: f"/v1/episodes/{w.e}/contacts/{w.contact_e}")
        )
    ),
    # Whoever may see and write to the episode writes a note; only early help restricts one.
    ("POST", "/v1/episodes/{episode_id}/notes"): per_person(
        Target(
            "episode E",
            only(201, WRITES_E),
            fixed(lambda w: f"/v1/episodes/{w.e}/notes", json=lambda w: note_body()),
        ),
        Target(
            "episode E, restricted",
            Expect(want(404), {**{p: NOT_PERMITTED for p in WRITES_E}, **{p: want(201) for p in EARLY_HELP}}),
            fixed(lambda w: f"/v1/episodes/{w.e}/notes", json=lambda w: note_body(restricted=True)),
        ),
        Target(
            "a closed episode related like E",
            only(CLOSED, WRITES_E),
            fixed(lambda w: f"/v1/episodes/{w.closed}/notes", json=lambda w: note_body()),
        ),
    ),
    ("GET", "/v1/episodes/{episode_id}/notes"): per_person(
        Target("E's notes", only(200, SEES_E), episode_path("/notes"), check=restricted_note_listed)
    ),
    ("GET", "/v1/episodes/{episode_id}/notes/{note_id}"): per_person(
        Target("Tom's note on E", only(200, SEES_E), fixed(lambda w: f"/v1/episodes/{w.e}/notes/{w.note_e}")),
        Target(
            "early help's restricted note on E",
            only(200, READS_RESTRICTED),
            fixed(lambda w: f"/v1/episodes/{w.e}/notes/{w.secret_e}"),
        ),
    ),
    ("GET", "/v1/episodes/{episode_id}/notes/{note_id}/history"): per_person(
        Target(
            "Tom's note on E",
            only(200, SEES_E),
            fixed(lambda w: f"/v1/episodes/{w.e}/notes/{w.note_e}/history"),
        ),
        Target(
            "early help's restricted note on E",
            only(200, READS_RESTRICTED),
            fixed(lambda w: f"/v1/episodes/{w.e}/notes/{w.secret_e}/history"),
        ),
    ),
    # The author (Tom) or an early help manager amends; anyone else who sees E: 403.
    ("PATCH", "/v1/episodes/{episode_id}/notes/{note_id}"): per_person(
        Target(
            "Tom's note on E",
            Expect(
                want(404),
                {**{p: NOT_PERMITTED for p in WRITES_E}, **{p: want(200) for p in (TAF_SCHOOL, *MANAGERS)}},
            ),
            amend_note,
            fresh=True,
        )
    ),
    ("GET", "/v1/episodes/{episode_id}/chronology"): per_person(
        Target("episode E", only(200, SEES_E), episode_path("/chronology"), check=restricted_note_listed)
    ),
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
    ("GET", "/v1/reports/drift"): per_role(
        Target("the drift list", everyone(200), fixed("/v1/reports/drift"))
    ),
    # Issue 21: Supporting Families.
    ("GET", "/v1/reports/supporting-families"): per_role(
        Target("the families", everyone(200), fixed("/v1/reports/supporting-families"))
    ),
    ("GET", "/v1/reports/supporting-families/claims"): per_role(
        Target("the claims", everyone(200), fixed("/v1/reports/supporting-families/claims"))
    ),
    ("GET", "/v1/reports/supporting-families/summary"): per_role(
        Target("a quarter", everyone(200), fixed("/v1/reports/supporting-families/summary?quarter=2026-Q3"))
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
                "/v1/sharing-decisions", json=do_not_share(str(uuid.uuid4()), w.agency[PO], c.name)
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
    ("GET", "/v1/code-lists"): per_role(Target("the lists", everyone(200), fixed("/v1/code-lists"))),
    ("GET", "/v1/code-lists/{name}"): per_role(
        Target("the needs", everyone(200), fixed("/v1/code-lists/need"))
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
    # ---- issue 21: the threshold audit: a MASH manager draws, reads and reviews (never her
    # own decision: 403 own-decision); a screener is refused (role-required).
    ("POST", "/v1/threshold-audits"): per_role(
        Target("today's decisions", table(ROLE_REQUIRED, {MASH_MGR: 201}), draw_audit, fresh=True)
    ),
    ("GET", "/v1/threshold-audits"): per_role(
        Target("the list", table(ROLE_REQUIRED, {MASH_MGR: 200}), fixed("/v1/threshold-audits"))
    ),
    ("GET", "/v1/threshold-audits/{audit_id}"): per_role(
        Target(
            "an audit",
            table(ROLE_REQUIRED, {MASH_MGR: 200}),
            fixed(lambda w: f"/v1/threshold-audits/{shared_audit(w)['id']}"),
        )
    ),
    ("GET", "/v1/threshold-audits/{audit_id}/items/{item_id}"): per_role(
        Target("an item Sam decided", table(ROLE_REQUIRED, {MASH_MGR: 200}), audit_item(mine=False)),
        Target(
            "an item Maya decided",
            table(ROLE_REQUIRED, {MASH_MGR: want(403, "own-decision")}),
            audit_item(mine=True),
        ),
    ),
    ("POST", "/v1/threshold-audits/{audit_id}/items/{item_id}/review"): per_role(
        Target(
            "an item Sam decided",
            table(ROLE_REQUIRED, {MASH_MGR: 200}),
            audit_item(mine=False, suffix="/review", body=REVIEW),
            fresh=True,
        ),
        Target(
            "an item Maya decided",
            table(ROLE_REQUIRED, {MASH_MGR: want(403, "own-decision")}),
            audit_item(mine=True, suffix="/review", body=REVIEW),
        ),
    ),
    ("POST", "/v1/threshold-audits/{audit_id}/items/{item_id}/agreement"): per_role(
        Target(
            "an item Maya reviewed",
            table(ROLE_REQUIRED, {MASH_MGR: 200}),
            audit_item(mine=False, suffix="/agreement", body={"agrees": True}, reviewed=True),
            fresh=True,
        ),
        Target(
            "an item not reviewed yet",
            table(ROLE_REQUIRED, {MASH_MGR: want(409, "review-not-recorded")}),
            audit_item(mine=False, suffix="/agreement", body={"agrees": True}),
        ),
    ),
    ("GET", "/v1/reports/threshold-audit"): per_role(
        Target("the report", everyone(200), fixed("/v1/reports/threshold-audit"))
    ),
    # ---- issue 22: the bulk import is the council admin client's system call (imports:write):
    # no practitioner's token carries the scope (the council admin's is cut to the
    # administrative scopes), so every persona is refused at the gateway.
    ("POST", "/v1/imports/referrals"): per_role(
        Target("a batch of one child", everyone(200), import_referrals)
    ),
    ("POST", "/v1/imports/episodes"): per_role(
        Target("a batch of one open episode", everyone(200), import_episodes)
    ),
    ("POST", "/v1/imports/plans"): per_role(Target("a batch of one plan", everyone(200), import_plans)),
    ("POST", "/v1/imports/consents"): per_role(
        Target("a batch of one consent", everyone(200), import_consents)
    ),
}


# ---- issue 22: the FHIR facade (docs/fhir.md): the /v1 scopes and rules, so the /v1 rows' cells.
POLICY.update(
    {
        ("POST", "/fhir/ServiceRequest"): per_role(
            Target(
                "a new ServiceRequest",
                everyone(201),
                lambda w, c, f: Call("/fhir/ServiceRequest", json=fhir_service_request()),
            )
        ),
        ("GET", "/fhir/ServiceRequest"): per_role(
            Target("a search by NHS number", everyone(200), FHIR_SEARCH)
        ),
        ("GET", "/fhir/ServiceRequest/{referral_id}"): per_person(
            Target(
                "Tom's referral (E's)",
                only(200, {*READS_ALL_REFERRALS, TAF_SCHOOL, COLLEAGUE}),
                fixed(lambda w: f"/fhir/ServiceRequest/{w.ref_e}"),
            ),
            Target(
                "the persona's own referral",
                everyone(200),
                lambda w, c, f: Call(f"/fhir/ServiceRequest/{w.own_referral[c]}"),
            ),
        ),
        ("GET", "/fhir/metadata"): per_role(
            Target("the CapabilityStatement", everyone(200), fixed("/fhir/metadata"))
        ),
    }
)


# ---- issue 22: the FHIR facade's TAF, plan and actions (assessments): the /v1 episode reads'
# cells; a Task search finds nothing (200, empty) for whoever may not see the episode.
POLICY.update(
    {
        ("GET", "/fhir/CareTeam/{episode_id}"): per_person(
            Target("E's TAF", only(200, SEES_E), fixed(lambda w: f"/fhir/CareTeam/{w.e}"))
        ),
        ("GET", "/fhir/CarePlan/{episode_id}"): per_person(
            Target("E's plan", only(200, SEES_E), fixed(lambda w: f"/fhir/CarePlan/{w.e}"))
        ),
        ("GET", "/fhir/Task/{action_id}"): per_person(
            Target("Tom's action on E", only(200, SEES_E), fixed(lambda w: f"/fhir/Task/{w.action_e}"))
        ),
        ("GET", "/fhir/Task"): per_role(
            Target(
                "the actions of E's plan",
                everyone(200),
                fixed("/fhir/Task", params=lambda w: {"focus": f"CarePlan/{w.e}"}),
            )
        ),
        # Deadlines as Tasks (notifications): GET /v1/deadlines' scope, no per-agency filtering.
        ("GET", "/fhir/Task/deadline-{deadline_id}"): per_role(
            Target("a deadline of E", everyone(200), fixed(lambda w: w.deadline_task(w.e)))
        ),
        # The deadline search, routed by its query (keyed `path?deadlines`): every holder sees all.
        ("GET", "/fhir/Task?deadlines"): per_role(
            Target(
                "the deadlines of E",
                everyone(200),
                fixed("/fhir/Task", params=lambda w: {"focus": f"CareTeam/{w.e}"}),
            )
        ),
    }
)

# Issue 22, consent's part: a Consent and the disclosure log as AuditEvents, with the cells of
# the /v1 reads they stand for (searched by person id: `patient=`).
POLICY.update(
    {
        ("GET", "/fhir/Consent"): per_role(
            Target("E's child", everyone(200), fixed("/fhir/Consent", params=lambda w: {"patient": w.x}))
        ),
        ("GET", "/fhir/Consent/{consent_id}"): per_role(
            Target(
                "the TAF consent of E's child", everyone(200), fixed(lambda w: f"/fhir/Consent/{w.consent_e}")
            )
        ),
        ("GET", "/fhir/AuditEvent"): per_role(
            Target("E's child", everyone(200), fixed("/fhir/AuditEvent", params=lambda w: {"patient": w.x}))
        ),
        ("GET", "/fhir/AuditEvent/{disclosure_id}"): per_role(
            Target("no such disclosure", everyone(404), fixed(f"/fhir/AuditEvent/{uuid.UUID(int=22)}"))
        ),
    }
)


# --- the tests ---------------------------------------------------------------------------------

ROUTES = load_routes()


def cells() -> list[tuple[Route, Persona]]:
    out = []
    for route in ROUTES:
        row = POLICY.get(route.key)
        for persona in row.personas() if row else PERSONAS:
            out.append((route, persona))
    return out


CELLS = cells()


@pytest.fixture(scope="module")
def world(api: Any) -> Any:
    yield from running_world(api, World, ROUTES)


def test_every_route_has_a_role_expectation() -> None:
    """A new route fails here until its row says who may call it; a removed route leaves a stale row."""
    assert_rows_match_routes(ROUTES, POLICY, "POLICY", "role expectation")
    for route in ROUTES:
        row = POLICY[route.key]
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
    row = POLICY.get(route.key)
    if row is None:
        pytest.fail(f"no role expectation for {route_id(route)}: add its row to POLICY in {__name__}")
    if not holds(persona, route.scope):
        # The gateway refuses on the route's scope, whatever the object, and never forwards it.
        problem = scope_refusal(world, route, persona, row.targets[0].call(world, persona, False))
        assert problem is None, f"{route_id(route)} as {persona} (lacks {route.scope}): {problem}"
        return
    failures = target_failures(world, route, persona, row.targets)
    assert not failures, f"{route_id(route)} as {persona} ({persona.relationship}):\n  " + "\n  ".join(
        failures
    )
