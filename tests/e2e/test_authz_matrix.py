"""The authorization matrix, end to end through the gateway (issue 7, item 2).

Every route of the gateway's route table (`gateway.routes.load_routes()`) x every demo client
x own and others' objects. Each cell asserts the designed status exactly:

- **403 `insufficient_scope`** when the client's default scopes (`gateway/clients.py`
  `DEFAULT_SCOPES`) lack the route's scope. The gateway decides this from the route table
  alone, so these cells are generated, never written down (and carry the route's scope in
  `WWW-Authenticate`).
- Otherwise what `EXPECTATIONS` says for that route and object: **2xx** (allowed), **404** (the
  object is not the caller's to see: another agency's referral, an episode it is not on the
  TAF of or has no lawful basis to see, another agency's subscription or notification...),
  or a 403/409 that the owning service documents, named by its problem type.

`EXPECTATIONS` is keyed by `Route.key`: (method, path template), `path?rule` for a route the
gateway picks by the query (`GET /fhir/Task?deadlines`). A route without an entry fails: its cells
fail, and `test_every_route_has_an_expectation` names it. An entry naming a client that lacks
the route's scope (a dead cell) fails that test too.

Objects are built once per module through the API (`world`). A call that changes an object
other cells rely on gets a fresh object when the caller is expected to succeed
(`Target.fresh`); callers expected to be refused are pointed at decoys, so a wrongly allowed
call fails its own cell without spoiling later ones.

Who sees what (the design these expectations follow):
- referrals (api.md, docs/referrals.md): the MASH, early help and social care read every
  referral; any other agency only its own, else 404.
- episodes (docs/assessments.md "Visibility"): the MASH and early help see every episode;
  anyone else (social care included) only when on the TAF *and* the consent service allows it
  for every person on the episode, else 404; writes need the same visibility.
- consent (docs/consent.md "Who sees what"): only mash, early_help and social_care hold
  `consent:read` by default, and they see every person's records.
- notifications (docs/notifications.md): a feed item is the addressee agency's, a
  subscription the creating agency's; anyone else's is 404. Deadlines are not filtered.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from jose import jwt

from gateway.clients import DEFAULT_SCOPES
from gateway.routes import Route, load_routes
from gateway.seed import DEMO_PRACTITIONERS, demo_team_id
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
    referral_body,
    relate_people,
    remove_member,
    resolve_match,
    retry,
    review,
    route_id,
    running_world,
    scope_refusal,
    table,
    taf_member,
    target_failures,
    throwaway_member,
    undo_merge,
    want,
    withdraw_consent,
)

pytestmark = pytest.mark.e2e

# --- the clients ------------------------------------------------------------------------------

# SA, SB (school A, school B: two agencies), PO, MA, EH, SC and AD come from tests.e2e.matrix.
HE, HO, VO, YJ = "demo-health", "demo-housing", "demo-voluntary", "demo-youth-justice"
CLIENTS: dict[str, str] = {  # client -> agency type
    SA: "education",
    SB: "education",
    HE: "health",
    PO: "police",
    HO: "housing",
    VO: "voluntary",
    YJ: "youth_justice",
    MA: "mash",
    EH: "early_help",
    SC: "social_care",
    AD: "admin",
}


def holds(client: str, scope: str) -> bool:
    # An empty scope: any valid token (the code lists).
    return not scope or scope in DEFAULT_SCOPES[CLIENTS[client]]


# Read every referral: shared/roles.py STATUTORY_READER_AGENCY_TYPES.
READS_ALL_REFERRALS = frozenset({MA, EH, SC})
# Episode E: school A on the TAF with consent; the police on the TAF under a do_not_share decision.
SEES_E = frozenset({MA, EH, SA})
# Episode E2: school B on the TAF with consent.
SEES_E2 = frozenset({MA, EH, SB})

# --- request bodies ---------------------------------------------------------------------------

NFA, TAF_DECISION = decisions("Dee Cision")
MANAGER = {"name": "Mo Manager", "role": "Early help team manager"}
STEP_DOWN_SOCIAL_WORKER = {"name": "Sam Social", "email": "sam.social@council.example"}


def school_plan(owner_agency_id: str) -> dict[str, Any]:
    return plan_body({"agency_id": owner_agency_id, "name": "Ms Head"})


# --- the world: every object the matrix needs, built through the API -----------------------------


class World(MatrixWorld):
    """Callers are demo client ids, calling with their client-credentials tokens."""

    def __init__(self, http_client: httpx.Client, sink_url: str, service_urls: dict[str, str]) -> None:
        super().__init__(http_client, sink_url, service_urls, CLIENTS)
        self.claims = {c: jwt.get_unverified_claims(self.system[c]) for c in CLIENTS}
        self.agency = {c: self.claims[c]["agency_id"] for c in CLIENTS}

    # -- building blocks --

    def as_mash(self, referral: dict[str, Any]) -> dict[str, Any]:
        """The referral as the MASH reads it: a partner is not shown the person index's ids
        or matches (docs/referrals.md, who sees what)."""
        return self.ok("GET", MA, f"/v1/referrals/{referral['id']}")

    def add_taf(self, episode_id: str, client: str) -> str:
        # The family agreed to each agency joining: the consent (recorded a minute back, see
        # now_iso) then covers an agency that joins after it (issue 18, docs/consent.md).
        body = {**taf_member(self.agency[client], CLIENTS[client]), "family_agreed": True}
        return self.ok("POST", EH, f"/v1/episodes/{episode_id}/taf-members", body)["id"]

    def share_with_taf(
        self, episode_id: str, person_id: str, taf: Iterable[str], refused: Iterable[str]
    ) -> str:
        """TAF members added by early help, the family's TAF-wide consent recorded by early help,
        and a do_not_share decision for each `refused` agency (on the TAF, but no lawful basis)."""
        for client in (*taf, *refused):
            self.add_taf(episode_id, client)
        consent_id = self.ok("POST", EH, "/v1/consents", consent_body(person_id))["id"]
        for client in refused:
            self.ok(
                "POST",
                EH,
                "/v1/sharing-decisions",
                do_not_share(person_id, self.agency[client], "Erin Early"),
            )
        return consent_id

    def episode(
        self, *, step_down: bool = False, taf: Iterable[str] = (SA,), refused: Iterable[str] = ()
    ) -> str:
        """An episode opened by early help (POST /v1/episodes), shared like episode E."""
        person = self.known_person()
        body = episode_body(
            person,
            origin="step_down" if step_down else "self_referral",
            level_of_need="partnership_plus",
            social_worker=STEP_DOWN_SOCIAL_WORKER,
        )
        episode_id = self.ok("POST", EH, "/v1/episodes", body)["id"]
        self.share_with_taf(episode_id, person, taf, refused)
        return episode_id

    def assessment(self, episode_id: str, *, submitted: bool = False) -> str:
        aid = self.ok("POST", EH, f"/v1/episodes/{episode_id}/assessments", ASSESSMENT)["id"]
        if submitted:
            self.ok("POST", EH, f"/v1/assessments/{aid}/submit")
        return aid

    def plan(self, episode_id: str, owner: str) -> dict[str, Any]:
        return self.ok("PUT", EH, f"/v1/episodes/{episode_id}/plan", school_plan(self.agency[owner]))

    def possible_match(self) -> tuple[str, str]:
        """(referral, existing person): the family moved, so the same child is only a possible match."""
        # A date of birth of its own, so that no other pair's child is also a possible match.
        family, given = name(), name()
        dob = (date(2010, 1, 1) + timedelta(days=random.randrange(4000))).isoformat()
        first = self.as_mash(
            self.referral(SA, given=given, family=family, dob=dob, postcode="S60 1AE", adults=False)
        )
        second = self.as_mash(
            self.referral(SA, given=given, family=family, dob=dob, postcode="S61 2BB", adults=False)
        )
        existing = first["children"][0]["person_id"]
        assert existing in [m["person_id"] for m in second["matches"]], second["matches"]
        return second["id"], existing

    def known_person(self) -> str:
        """A new child the referrals service knows: episodes open only for such (issue 18).
        The school's referral names the child; the MASH reads the child's person id."""
        rid = self.referral(SA)["id"]
        return str(self.ok("GET", MA, f"/v1/referrals/{rid}")["children"][0]["person_id"])

    def two_people(self) -> tuple[str, str]:
        return tuple(self.as_mash(self.referral(SA))["children"][0]["person_id"] for _ in range(2))  # type: ignore[return-value]

    def consent(self) -> str:
        return self.ok("POST", EH, "/v1/consents", consent_body(str(uuid.uuid4())))["id"]

    def school_a_practitioner(self) -> str:
        body = {
            "name": "Matrix Teacher",
            "email": f"t-{uuid.uuid4().hex[:10]}@matrix.example",
            "roles": ["agency_practitioner"],
        }
        return self.ok("POST", SA, "/v1/practitioners", body)["id"]

    # -- the shared objects --

    def build(self) -> None:
        self.build_subscriptions()

        # A referral of each agency that may submit one; decoys awaiting a decision.
        self.own_referral = {c: self.referral(c) for c in CLIENTS if holds(c, "referrals:create")}
        self.ref_a, self.ref_b = self.own_referral[SA], self.own_referral[SB]
        self.ref_a_child = self.as_mash(self.ref_a)["children"][0]["person_id"]
        self.decoy_ref = {c: self.referral(c)["id"] for c in (SA, SB)}

        # Episode E: school A's request for support, decided TAF by the MASH.
        taf = self.referral(SA)
        self.ref_taf, self.x = taf["id"], self.as_mash(taf)["children"][0]["person_id"]
        self.ok("POST", MA, f"/v1/referrals/{self.ref_taf}/decision", TAF_DECISION)
        self.ok("POST", MA, f"/v1/referrals/{self.ref_b['id']}/decision", NFA)
        self.e = eventually(
            lambda: self.ok("GET", SA, f"/v1/referrals/{self.ref_taf}")["episode_id"], "episode E to open"
        )
        self.ok(
            "PUT",
            EH,
            f"/v1/episodes/{self.e}/lead-professional",
            {
                "name": "Erin Early",
                "agency_id": self.agency[EH],
                "email": "erin@council.example",
                "family_agreed": True,
            },
        )
        self.consent_e = self.share_with_taf(self.e, self.x, taf=(SA,), refused=(PO,))
        self.decision_po = self.ok("GET", EH, "/v1/sharing-decisions", params={"person_id": self.x})["items"][
            0
        ]["id"]
        self.assessment_e = self.assessment(self.e)
        plan_e = self.plan(self.e, SA)
        self.outcome_e, self.action_a = plan_e["outcomes"][0]["id"], plan_e["actions"][0]["id"]

        # Episode E2: school B on the TAF, with consent; B owns its plan's action.
        self.e2 = self.episode(taf=(SB,))
        self.y = self.ok("GET", EH, f"/v1/episodes/{self.e2}")["person_ids"][0]
        self.assessment_e2 = self.assessment(self.e2)
        plan_e2 = self.plan(self.e2, SB)
        self.outcome_e2, self.action_b = plan_e2["outcomes"][0]["id"], plan_e2["actions"][0]["id"]
        self.member_e2 = self.ok("POST", EH, f"/v1/episodes/{self.e2}/taf-members", throwaway_member())["id"]

        # The decoy: shared like E, for callers who must be refused a change.
        self.decoy = self.episode(taf=(SA,), refused=(PO,))
        self.decoy_assessment = self.assessment(self.decoy)
        self.decoy_member = self.ok("POST", EH, f"/v1/episodes/{self.decoy}/taf-members", throwaway_member())[
            "id"
        ]

        # A closed episode, shared like E.
        self.closed = self.episode(taf=(SA,))
        self.ok("POST", EH, f"/v1/episodes/{self.closed}/close", {"reason": "needs_met", "summary": "Done."})

        # The person index, consent and admin decoys.
        self.build_person_and_consent_decoys()
        self.decoy_client = self.admin_client()
        self.decoy_practitioner = self.school_a_practitioner()
        self.rule_body = self.first_review_rule()
        self.await_feed_and_deliveries({SA: self.ref_taf, SB: self.ref_b["id"]})

        # The design holds before the matrix starts: each school sees its own episode only.
        for client, episode_id in ((SA, self.e), (SB, self.e2)):
            eventually(
                lambda c=client, e=episode_id: (
                    self.send("GET", c, Call(f"/v1/episodes/{e}")).status_code == 200
                ),
                f"{client} to see its episode",
                timeout=10,
            )


# --- call builders -----------------------------------------------------------------------------


def other_school(caller: str) -> str:
    """The 'other agency' of an object: school A's, unless school A is asking (then school B's)."""
    return SB if caller == SA else SA


def fresh_assessment(suffix: str, body: Any = None, *, submitted: bool) -> Builder:
    def build(w: World, caller: str, fresh: bool) -> Call:
        aid = w.assessment(w.episode(), submitted=submitted) if fresh else w.decoy_assessment
        return Call(f"/v1/assessments/{aid}{suffix}", json=body)

    return build


REVIEWERS = ["Erin Early", "Ms Head"]


def withdraw_other(w: World, caller: str, fresh: bool) -> Call:
    owner = other_school(caller)
    rid = w.referral(owner)["id"] if fresh else w.decoy_ref[owner]
    return Call(f"/v1/referrals/{rid}/withdraw", json={"reason": "Sent in error"})


def withdraw_own(w: World, caller: str, fresh: bool) -> Call:
    return Call(f"/v1/referrals/{w.referral(caller)['id']}/withdraw", json={"reason": "Sent in error"})


def decide(w: World, caller: str, fresh: bool) -> Call:
    rid = w.referral(SA)["id"] if fresh else w.decoy_ref[SA]
    return Call(f"/v1/referrals/{rid}/decision", json=NFA)


def assign_referral(w: World, caller: str, fresh: bool) -> Call:
    rid = w.referral(SA)["id"] if fresh else w.decoy_ref[SA]
    return Call(f"/v1/referrals/{rid}/assignment", json={"practitioner_id": "p-screener"})


def delete_other_subscription(w: World, caller: str, fresh: bool) -> Call:
    return Call(f"/v1/subscriptions/{w.decoy_sub[other_school(caller)]}")


TOM = next(p.id for p in DEMO_PRACTITIONERS if p.name == "Tom Teacher")


def new_practitioner(w: World, caller: str, fresh: bool) -> Call:
    # agency_admin: a role every agency type may hold.
    body = {
        "name": "Matrix Person",
        "email": f"m-{uuid.uuid4().hex[:10]}@matrix.example",
        "roles": ["agency_admin"],
    }
    return Call("/v1/practitioners", json=body)


def school_a_practitioner(suffix: str, body: Any = None) -> Builder:
    """A practitioner of school A: a new one for a caller expected to succeed, else the decoy."""

    def build(w: World, caller: str, fresh: bool) -> Call:
        pid = w.school_a_practitioner() if fresh else w.decoy_practitioner
        return Call(f"/v1/practitioners/{pid}{suffix}", json=body)

    return build


def journey_check(w: World, caller: str, resp: httpx.Response) -> str | None:
    kinds = {i["kind"] for i in resp.json()["items"]}
    shown = "episode_opened" in kinds
    if shown != (caller in SEES_E):  # the assessments part follows episode visibility
        return f"the journey {'shows' if shown else 'hides'} episode E to {caller}: {sorted(kinds)}"
    return None


def new_episode_body(w: World, origin: str = "self_referral") -> dict[str, Any]:
    return episode_body(
        w.known_person(), origin=origin, level_of_need="universal_plus", social_worker=STEP_DOWN_SOCIAL_WORKER
    )


# --- the expectation table ---------------------------------------------------------------------
#
# For each route: the objects it is called on and what each client holding the route's scope
# gets. The first target of each route is also the object of the scope-refused cells, so it
# never depends on the caller owning something.

E_WRITERS = (EH, SA)  # see E and hold episodes:write (the MASH reads only)
E2_WRITERS = (EH, SB)
# docs/assessments.md "Who may do what" (services/assessments/policy.py): early help runs the
# case; a TAF partner that can see the episode is refused with 403 naming the rule
# (NOT_PERMITTED). These demo clients are system calls: early help's acts as an early help
# manager, the others as agency practitioners (shared/roles.py SYSTEM_ROLES).
EH_RUNS_E = {EH: 200, SA: NOT_PERMITTED}
EH_RUNS_E2 = {EH: 200, SB: NOT_PERMITTED}

# ---- case notes (issue 20): built through the API as the matrix needs them ----
NOTE = {"kind": "visit", "occurred_at": now_iso(), "text": "Home visit; all well."}


def e_contact(w: Any) -> str:
    body = {"contact_at": now_iso(), "method": "phone", "notes": "Spoke to mum."}
    contact = w.ok("POST", EH, f"/v1/episodes/{w.e}/contacts", body)
    return f"/v1/episodes/{w.e}/contacts/{contact['id']}"


def e_note(w: Any, *, restricted: bool = False) -> str:
    author = EH if restricted else SA
    note = w.ok("POST", author, f"/v1/episodes/{w.e}/notes", {**NOTE, "restricted": restricted})
    return f"/v1/episodes/{w.e}/notes/{note['id']}"


def _amend(w: Any, path: str) -> Call:
    return Call(
        path, json={"text": "Amended by the matrix", "reason": "matrix"}, headers={"If-Match": w.etag(path)}
    )


def amend_e_note(w: Any, caller: str, fresh: bool) -> Call:
    return _amend(w, e_note(w))


def amend_e_note_of_eh(w: Any, caller: str, fresh: bool) -> Call:
    # A note written by early help's system: the school may see it but not amend it.
    note = w.ok("POST", EH, f"/v1/episodes/{w.e}/notes", NOTE)
    return _amend(w, f"/v1/episodes/{w.e}/notes/{note['id']}")


# ---- issue 21: the threshold audit (services/referrals/policy.py AUDIT_RULES) ----


def _audit_body() -> dict[str, Any]:
    return {
        "decided_from": (TODAY - timedelta(days=1)).isoformat(),
        "decided_to": (TODAY + timedelta(days=1)).isoformat(),
        "share": 1,
    }


def draw_audit(w: World, caller: str, fresh: bool) -> Call:
    """A draw over today's decisions, one of them new (a decision is sampled once)."""
    if fresh:
        w.ok("POST", MA, f"/v1/referrals/{w.referral(SA)['id']}/decision", NFA)
    return Call("/v1/threshold-audits", json=_audit_body())


def audit_of(w: World) -> dict[str, Any]:
    """The world's threshold audit (drawn once, by the MASH's system)."""
    if "ta_audit" not in w.__dict__:
        w.ok("POST", MA, f"/v1/referrals/{w.referral(SA)['id']}/decision", NFA)
        w.__dict__["ta_audit"] = w.ok("POST", MA, "/v1/threshold-audits", _audit_body())
    return dict(w.__dict__["ta_audit"])


def audit_item(suffix: str = "", body: Any = None) -> Builder:
    def build(w: World, caller: str, fresh: bool) -> Call:
        audit = audit_of(w)
        return Call(f"/v1/threshold-audits/{audit['id']}/items/{audit['sample'][0]['id']}{suffix}", json=body)

    return build


EXPECTATIONS: dict[tuple[str, str], list[Target]] = {
    # ---- referrals (api.md "Referrals service"; partners read only their own, else 404) ----
    ("POST", "/v1/referrals"): [
        Target(
            "a new request for support",
            everyone(201),
            lambda w, c, f: Call("/v1/referrals", json=referral_body()),
        )
    ],
    ("GET", "/v1/referrals"): [
        Target(
            "filtered to school A's child",
            everyone(200),
            fixed("/v1/referrals", params=lambda w: {"person_id": w.ref_a_child}),
            check=listed(
                lambda w: w.ref_a["id"],
                {*READS_ALL_REFERRALS, SA},
                "/v1/referrals",
                lambda w: {"person_id": w.ref_a_child},
            ),
        )
    ],
    ("GET", "/v1/referrals/{referral_id}"): [
        Target(
            "school A's referral",
            only(200, {*READS_ALL_REFERRALS, SA}),
            fixed(lambda w: f"/v1/referrals/{w.ref_a['id']}"),
        ),
        Target(
            "school B's referral",
            only(200, {*READS_ALL_REFERRALS, SB}),
            fixed(lambda w: f"/v1/referrals/{w.ref_b['id']}"),
        ),
        Target(
            "the caller's own referral",
            everyone(200),
            lambda w, c, f: Call(f"/v1/referrals/{w.own_referral[c]['id']}"),
        ),
    ],
    # docs/referrals.md: the submitting agency, or a caller with triage:write, withdraws;
    # "others that can see it: 403 not-submitter". Early help and social care read every
    # referral, so another agency's is visible to them but not theirs to withdraw.
    ("POST", "/v1/referrals/{referral_id}/withdraw"): [
        Target(
            "another agency's referral awaiting a decision",
            table(404, {MA: 200, EH: want(403, "not-submitter"), SC: want(403, "not-submitter")}),
            withdraw_other,
            fresh=True,
        ),
        Target("its own referral awaiting a decision", everyone(200), withdraw_own, fresh=True),
    ],
    # Only the MASH holds triage:write. api.md / docs/referrals.md: a second decision is 409
    # decision-already-made.
    ("POST", "/v1/referrals/{referral_id}/decision"): [
        Target("a referral awaiting a decision", everyone(200), decide, fresh=True),
        Target(
            "a referral already decided",
            everyone(want(409, "decision-already-made")),
            fixed(lambda w: f"/v1/referrals/{w.ref_taf}/decision", json=NFA),
        ),
    ],
    # The MASH queue (docs/referrals.md): triage:write, held only by the MASH, whose system
    # acts as a MASH manager and so assigns to anyone.
    ("GET", "/v1/mash/queue"): [Target("the queue", everyone(200), fixed("/v1/mash/queue"))],
    ("PUT", "/v1/referrals/{referral_id}/assignment"): [
        Target("a referral awaiting a decision", everyone(200), assign_referral, fresh=True)
    ],
    ("POST", "/v1/referrals/{referral_id}/matches/{person_id}/confirm"): [
        Target("a possible match", everyone(200), resolve_match("confirm"), fresh=True)
    ],
    ("POST", "/v1/referrals/{referral_id}/matches/{person_id}/reject"): [
        Target("a possible match", everyone(200), resolve_match("reject"), fresh=True)
    ],
    # The person index has no object-level rule: people:read is held only by the MASH, early
    # help and social care, who see every person.
    ("GET", "/v1/people"): [
        Target(
            "a search by family name and date of birth",
            everyone(200),
            fixed(
                "/v1/people",
                params=lambda w: {
                    "family_name": w.ref_a["children"][0]["family_name"],
                    "date_of_birth": w.ref_a["children"][0]["date_of_birth"],
                },
            ),
        )
    ],
    ("GET", "/v1/people/{person_id}"): [
        Target("a child", everyone(200), fixed(lambda w: f"/v1/people/{w.x}"))
    ],
    # The journey is 200 for every people:read holder; its assessments part follows episode
    # visibility (services/referrals/journey.py): social care, not on E's TAF, sees no episode.
    ("GET", "/v1/people/{person_id}/journey"): [
        Target(
            "episode E's child",
            everyone(200),
            fixed(lambda w: f"/v1/people/{w.x}/journey"),
            check=journey_check,
        )
    ],
    ("POST", "/v1/people/{person_id}/merge"): [
        Target("two records of a child", everyone(201), merge_people, fresh=True)
    ],
    ("POST", "/v1/people/merges/{merge_id}/undo"): [Target("a merge", everyone(200), undo_merge, fresh=True)],
    ("GET", "/v1/reports/referrals"): [Target("the report", everyone(200), fixed("/v1/reports/referrals"))],
    # Issue 21: the JSNA feed, as the referral report.
    ("GET", "/v1/reports/jsna"): [Target("the feed", everyone(200), fixed("/v1/reports/jsna"))],
    # ---- issue 20: households, relationships, corrections. Reads: every people:read holder;
    # changes: the MASH's and early help's systems (their roles), social care 403.
    ("GET", "/v1/people/{person_id}/relationships"): [
        Target("a child", everyone(200), fixed(lambda w: f"/v1/people/{w.x}/relationships"))
    ],
    ("GET", "/v1/people/{person_id}/household"): [
        Target("a child", everyone(200), fixed(lambda w: f"/v1/people/{w.x}/household"))
    ],
    ("GET", "/v1/people/{person_id}/addresses"): [
        Target("a child", everyone(200), fixed(lambda w: f"/v1/people/{w.x}/addresses"))
    ],
    ("GET", "/v1/people/{person_id}/history"): [
        Target("a child", everyone(200), fixed(lambda w: f"/v1/people/{w.x}/history"))
    ],
    ("PATCH", "/v1/people/{person_id}"): [
        Target("a child's record", table(200, {SC: want(403, "role-required")}), correct_person, fresh=True)
    ],
    ("POST", "/v1/people/{person_id}/relationships"): [
        Target("two people", table(201, {SC: want(403, "role-required")}), relate_people, fresh=True)
    ],
    ("POST", "/v1/people/{person_id}/relationships/{relationship_id}/end"): [
        Target(
            "a current relationship",
            table(200, {SC: want(403, "role-required")}),
            end_relationship,
            fresh=True,
        )
    ],
    # ---- assessments (docs/assessments.md "Visibility"; writes need the same visibility) ----
    # POST /v1/episodes has no object (docs/assessments.md "Who may do what"): a self-referral
    # is an early help manager's route; a step-down is early help's or social care's handing
    # over; partner agencies are refused whatever the origin.
    ("POST", "/v1/episodes"): [
        Target(
            "a new self-referral episode",
            table(NOT_PERMITTED, {EH: 201}),
            lambda w, c, f: Call("/v1/episodes", json=new_episode_body(w)),
        ),
        Target(
            "a new step-down episode",
            table(NOT_PERMITTED, {EH: 201, SC: 201}),
            lambda w, c, f: Call("/v1/episodes", json=new_episode_body(w, "step_down")),
        ),
    ],
    ("GET", "/v1/episodes"): [
        Target(
            "filtered to E's child",
            everyone(200),
            fixed("/v1/episodes", params=lambda w: {"person_id": w.x}),
            check=listed(lambda w: w.e, SEES_E, "/v1/episodes", lambda w: {"person_id": w.x}),
        ),
        Target(
            "filtered to E2's child",
            everyone(200),
            fixed("/v1/episodes", params=lambda w: {"person_id": w.y}),
            check=listed(lambda w: w.e2, SEES_E2, "/v1/episodes", lambda w: {"person_id": w.y}),
        ),
    ],
    # "My" caseload needs a practitioner token; every demo client here is a system call.
    ("GET", "/v1/me/caseload"): [
        Target(
            "the caller's caseload",
            everyone(want(403, "practitioner-required")),
            fixed("/v1/me/caseload"),
        )
    ],
    ("GET", "/v1/episodes/{episode_id}"): [
        Target("episode E", only(200, SEES_E), episode_path()),
        Target("episode E2", only(200, SEES_E2), episode_path(which="e2")),
    ],
    # Issue 20: the family is seen as the episode is, and set by those who run it.
    ("GET", "/v1/episodes/{episode_id}/family"): [
        Target("episode E", only(200, SEES_E), episode_path("/family")),
    ],
    ("PUT", "/v1/episodes/{episode_id}/family-members"): [
        Target(
            "episode E",
            table(404, EH_RUNS_E),
            fixed(
                lambda w: f"/v1/episodes/{w.e}/family-members",
                json=lambda w: {"members": [{"person_id": w.x, "role": "child"}]},
            ),
        ),
    ],
    ("PUT", "/v1/episodes/{episode_id}/lead-professional"): [
        Target(
            "episode E",
            table(404, EH_RUNS_E),
            fixed(
                lambda w: f"/v1/episodes/{w.e}/lead-professional",
                json=lambda w: {
                    "name": "Erin Early",
                    "agency_id": w.agency[EH],
                    "email": "erin@council.example",
                    "family_agreed": True,
                },
            ),
        ),
        Target(
            "episode E2",
            table(404, EH_RUNS_E2),
            fixed(
                lambda w: f"/v1/episodes/{w.e2}/lead-professional",
                json=lambda w: {
                    "name": "Erin Early",
                    "agency_id": w.agency[EH],
                    "email": "erin@council.example",
                    "family_agreed": True,
                },
            ),
        ),
    ],
    ("POST", "/v1/episodes/{episode_id}/taf-members"): [
        Target(
            "episode E",
            table(404, {EH: 201, SA: NOT_PERMITTED}),
            fixed(lambda w: f"/v1/episodes/{w.e}/taf-members", json=lambda w: throwaway_member()),
        ),
        Target(
            "episode E2",
            table(404, {EH: 201, SB: NOT_PERMITTED}),
            fixed(lambda w: f"/v1/episodes/{w.e2}/taf-members", json=lambda w: throwaway_member()),
        ),
    ],
    ("DELETE", "/v1/episodes/{episode_id}/taf-members/{member_id}"): [
        Target(
            "a member of the episode", table(404, {EH: 204, SA: NOT_PERMITTED}), remove_member(EH), fresh=True
        ),
        # The member id belongs to E2: named under E it is no member of E, even for early help
        # (school A, which may not manage E's TAF at all, is refused before the member is looked up).
        Target(
            "E2's member named under episode E",
            table(404, {SA: NOT_PERMITTED}),
            fixed(lambda w: f"/v1/episodes/{w.e}/taf-members/{w.member_e2}"),
        ),
    ],
    ("POST", "/v1/episodes/{episode_id}/contacts"): [
        Target(
            "episode E",
            only(201, E_WRITERS),
            fixed(
                lambda w: f"/v1/episodes/{w.e}/contacts",
                json=lambda w: {"contact_at": now_iso(), "method": "phone", "notes": "Spoke to mum."},
            ),
        ),
        Target(
            "episode E2",
            only(201, E2_WRITERS),
            fixed(
                lambda w: f"/v1/episodes/{w.e2}/contacts",
                json=lambda w: {"contact_at": now_iso(), "method": "phone", "notes": "Spoke to dad."},
            ),
        ),
        # docs/assessments.md: "Closed episodes: any change is 409 episode-closed" - for those
        # who may see it; anyone else still gets 404 (visibility is checked first).
        Target(
            "a closed episode shared like E",
            table(404, {EH: CLOSED, SA: CLOSED}),
            fixed(
                lambda w: f"/v1/episodes/{w.closed}/contacts",
                json=lambda w: {"contact_at": now_iso(), "method": "phone", "notes": "Late."},
            ),
        ),
    ],
    ("POST", "/v1/episodes/{episode_id}/assessments"): [
        Target(
            "an open episode with no assessment",
            only(201, E_WRITERS),
            fresh_episode("/assessments", ASSESSMENT),
            fresh=True,
        ),
        # docs/assessments.md "Reassessment": a new assessment only when none is in progress.
        Target(
            "episode E, its assessment in progress",
            table(404, {EH: want(409, "assessment-in-progress"), SA: want(409, "assessment-in-progress")}),
            fixed(lambda w: f"/v1/episodes/{w.e}/assessments", json=ASSESSMENT),
        ),
    ],
    # The managers' worklist (docs/assessments.md "Who may do what").
    ("GET", "/v1/assessments"): [
        Target(
            "assessments awaiting approval",
            table(NOT_PERMITTED, {EH: 200}),
            fixed("/v1/assessments", params=lambda w: {"status": "submitted"}),
        )
    ],
    ("GET", "/v1/assessments/{assessment_id}"): [
        Target("E's assessment", only(200, SEES_E), fixed(lambda w: f"/v1/assessments/{w.assessment_e}")),
        Target("E2's assessment", only(200, SEES_E2), fixed(lambda w: f"/v1/assessments/{w.assessment_e2}")),
    ],
    ("PATCH", "/v1/assessments/{assessment_id}"): [
        Target("E's draft assessment", only(200, E_WRITERS), patch_assessment("assessment_e")),
        Target("E2's draft assessment", only(200, E2_WRITERS), patch_assessment("assessment_e2")),
    ],
    ("POST", "/v1/assessments/{assessment_id}/submit"): [
        Target(
            "a complete draft assessment",
            only(200, E_WRITERS),
            fresh_assessment("/submit", submitted=False),
            fresh=True,
        )
    ],
    # api.md marks approve/return "(manager)": an early help manager who is not its author
    # (docs/assessments.md "Who may do what"); a TAF partner that can see it is refused.
    ("POST", "/v1/assessments/{assessment_id}/approve"): [
        Target(
            "a submitted assessment",
            table(404, EH_RUNS_E),
            fresh_assessment("/approve", {"approved_by": MANAGER}, submitted=True),
            fresh=True,
        )
    ],
    ("POST", "/v1/assessments/{assessment_id}/return"): [
        Target(
            "a submitted assessment",
            table(404, EH_RUNS_E),
            fresh_assessment(
                "/return", {"reason": "Add the father's views", "returned_by": MANAGER}, submitted=True
            ),
            fresh=True,
        )
    ],
    ("POST", "/v1/assessments/{assessment_id}/extensions"): [
        Target("E's draft assessment", only(201, E_WRITERS), extend(MANAGER, "assessment_e")),
        Target("E2's draft assessment", only(201, E2_WRITERS), extend(MANAGER, "assessment_e2")),
    ],
    ("PUT", "/v1/episodes/{episode_id}/plan"): [
        Target(
            "an open episode",
            table(404, EH_RUNS_E),
            lambda w, c, f: fresh_episode("/plan", school_plan(w.agency[SA]))(w, c, f),
            fresh=True,
        )
    ],
    # ---- contacts read back, case notes, the chronology (issue 20; docs/assessments.md) ----
    ("GET", "/v1/episodes/{episode_id}/contacts"): [
        Target("episode E", only(200, SEES_E), episode_path("/contacts")),
        Target("episode E2", only(200, SEES_E2), episode_path("/contacts", "e2")),
    ],
    ("GET", "/v1/episodes/{episode_id}/contacts/{contact_id}"): [
        Target("a contact on E", only(200, SEES_E), lambda w, c, f: Call(e_contact(w))),
    ],
    ("POST", "/v1/episodes/{episode_id}/notes"): [
        Target("episode E", only(201, E_WRITERS), fixed(lambda w: f"/v1/episodes/{w.e}/notes", json=NOTE)),
        Target(
            "episode E, restricted (early help's only)",
            table(404, {EH: 201, SA: NOT_PERMITTED}),
            fixed(lambda w: f"/v1/episodes/{w.e}/notes", json=lambda w: {**NOTE, "restricted": True}),
        ),
    ],
    ("GET", "/v1/episodes/{episode_id}/notes"): [
        Target("E's notes", only(200, SEES_E), episode_path("/notes")),
    ],
    ("GET", "/v1/episodes/{episode_id}/notes/{note_id}"): [
        Target("school A's note on E", only(200, SEES_E), lambda w, c, f: Call(e_note(w))),
        Target(
            "early help's restricted note on E",
            only(200, {MA, EH}),
            lambda w, c, f: Call(e_note(w, restricted=True)),
        ),
    ],
    ("GET", "/v1/episodes/{episode_id}/notes/{note_id}/history"): [
        Target("school A's note on E", only(200, SEES_E), lambda w, c, f: Call(e_note(w) + "/history")),
    ],
    # The author's agency (a system call's note is its agency's) or an early help manager.
    ("PATCH", "/v1/episodes/{episode_id}/notes/{note_id}"): [
        Target("school A's note on E", table(404, {EH: 200, SA: 200}), amend_e_note, fresh=True),
        Target(
            "early help's note on E", table(404, {EH: 200, SA: NOT_PERMITTED}), amend_e_note_of_eh, fresh=True
        ),
    ],
    ("GET", "/v1/episodes/{episode_id}/chronology"): [
        Target("episode E", only(200, SEES_E), episode_path("/chronology")),
        Target("episode E2", only(200, SEES_E2), episode_path("/chronology", "e2")),
    ],
    ("GET", "/v1/episodes/{episode_id}/plan"): [
        Target("episode E's plan", only(200, SEES_E), episode_path("/plan")),
        Target("episode E2's plan", only(200, SEES_E2), episode_path("/plan", "e2")),
    ],
    ("GET", "/v1/episodes/{episode_id}/plan/versions/{version}"): [
        Target("episode E's plan, version 1", only(200, SEES_E), episode_path("/plan/versions/1")),
        Target("episode E2's plan, version 1", only(200, SEES_E2), episode_path("/plan/versions/1", "e2")),
    ],
    # docs/assessments.md "Actions": only the owner agency; 404 if the caller cannot see the
    # episode, 403 not-action-owner if it can but does not own the action (early help too).
    ("PATCH", "/v1/actions/{action_id}"): [
        Target(
            "school A's action on E",
            table(404, {SA: 200, EH: want(403, "not-action-owner")}),
            patch_action("action_a", "e"),
        ),
        Target(
            "school B's action on E2",
            table(404, {SB: 200, EH: want(403, "not-action-owner")}),
            patch_action("action_b", "e2"),
        ),
    ],
    ("POST", "/v1/episodes/{episode_id}/reviews"): [
        Target("episode E", only(201, E_WRITERS), review(REVIEWERS, "e", "outcome_e")),
        Target("episode E2", only(201, E2_WRITERS), review(REVIEWERS, "e2", "outcome_e2")),
    ],
    ("GET", "/v1/episodes/{episode_id}/reviews"): [
        Target("episode E", only(200, SEES_E), episode_path("/reviews")),
        Target("episode E2", only(200, SEES_E2), episode_path("/reviews", "e2")),
    ],
    # docs/assessments.md "Step-up": 201 once the referrals service confirms, 202 `pending`
    # when it has not yet (the worker keeps trying): both are the designed success.
    ("POST", "/v1/episodes/{episode_id}/step-up"): [
        Target(
            "an open episode",
            table(404, {EH: (201, 202), SA: NOT_PERMITTED}),
            fresh_episode("/step-up", {"reason": "Disclosure of harm at school"}),
            fresh=True,
        )
    ],
    ("GET", "/v1/episodes/{episode_id}/step-ups"): [
        Target("episode E", only(200, SEES_E), episode_path("/step-ups")),
        Target("episode E2", only(200, SEES_E2), episode_path("/step-ups", "e2")),
    ],
    ("POST", "/v1/episodes/{episode_id}/joint-visit"): [
        Target(
            "a step-down episode",
            only(200, E_WRITERS),
            fresh_episode("/joint-visit", {"held_on": TODAY.isoformat()}, step_down=True),
            fresh=True,
        )
    ],
    # Closure needs an early help manager's sign-off; the refusal comes before the state.
    ("POST", "/v1/episodes/{episode_id}/close"): [
        Target(
            "an open episode",
            table(404, EH_RUNS_E),
            fresh_episode("/close", {"reason": "needs_met", "summary": "Needs met."}),
            fresh=True,
        ),
        Target(
            "a closed episode shared like E",
            table(404, {EH: CLOSED, SA: NOT_PERMITTED}),
            fixed(
                lambda w: f"/v1/episodes/{w.closed}/close", json={"reason": "needs_met", "summary": "Again."}
            ),
        ),
    ],
    ("GET", "/v1/reports/episodes"): [Target("the report", everyone(200), fixed("/v1/reports/episodes"))],
    ("GET", "/v1/reports/drift"): [Target("the drift list", everyone(200), fixed("/v1/reports/drift"))],
    # Issue 21: Supporting Families (every reports:read holder is a MASH, early help or admin client).
    ("GET", "/v1/reports/supporting-families"): [
        Target("the families", everyone(200), fixed("/v1/reports/supporting-families"))
    ],
    ("GET", "/v1/reports/supporting-families/claims"): [
        Target("the claims", everyone(200), fixed("/v1/reports/supporting-families/claims"))
    ],
    ("GET", "/v1/reports/supporting-families/summary"): [
        Target("a quarter", everyone(200), fixed("/v1/reports/supporting-families/summary?quarter=2026-Q3"))
    ],
    # ---- consent (docs/consent.md "Who sees what": every consent:read holder sees all) ----
    ("POST", "/v1/consents"): [
        Target(
            "a new consent",
            everyone(201),
            lambda w, c, f: Call("/v1/consents", json=consent_body(str(uuid.uuid4()))),
        )
    ],
    ("GET", "/v1/consents"): [
        Target(
            "E's child",
            everyone(200),
            fixed("/v1/consents", params=lambda w: {"person_id": w.x}),
            check=listed(lambda w: w.consent_e, {MA, EH, SC}, "/v1/consents", lambda w: {"person_id": w.x}),
        )
    ],
    ("GET", "/v1/consents/{consent_id}"): [
        Target("the TAF consent of E's child", everyone(200), fixed(lambda w: f"/v1/consents/{w.consent_e}"))
    ],
    # docs/consent.md: "a second withdrawal is 409 consent-already-withdrawn".
    ("POST", "/v1/consents/{consent_id}/withdraw"): [
        Target("a live consent", everyone(200), withdraw_consent, fresh=True),
        Target(
            "a withdrawn consent",
            everyone(want(409, "consent-already-withdrawn")),
            fixed(lambda w: f"/v1/consents/{w.withdrawn_consent}/withdraw", json={"reason": "Again"}),
        ),
    ],
    ("GET", "/v1/lawful-bases"): [Target("the list", everyone(200), fixed("/v1/lawful-bases"))],
    ("POST", "/v1/sharing-decisions"): [
        Target(
            "a do_not_share decision",
            everyone(201),
            lambda w, c, f: Call(
                "/v1/sharing-decisions", json=do_not_share(str(uuid.uuid4()), w.agency[HO], "Erin Early")
            ),
        )
    ],
    ("GET", "/v1/sharing-decisions"): [
        Target(
            "E's child",
            everyone(200),
            fixed("/v1/sharing-decisions", params=lambda w: {"person_id": w.x}),
            check=listed(
                lambda w: w.decision_po, {MA, EH, SC}, "/v1/sharing-decisions", lambda w: {"person_id": w.x}
            ),
        )
    ],
    ("GET", "/v1/sharing-decisions/{decision_id}"): [
        Target(
            "the police decision on E's child",
            everyone(200),
            fixed(lambda w: f"/v1/sharing-decisions/{w.decision_po}"),
        )
    ],
    # docs/consent.md: service identities only (the gateway's table says consent:read): the
    # consent service refuses every agency client, naming the scope "service".
    ("GET", "/v1/access-checks"): [
        Target(
            "may school A see E's child?",
            everyone(want(403, "insufficient-scope", scope="service")),
            fixed("/v1/access-checks", params=access_check_params),
        )
    ],
    ("GET", "/v1/people/{person_id}/disclosures"): [
        Target("E's child", everyone(200), fixed(lambda w: f"/v1/people/{w.x}/disclosures"))
    ],
    ("GET", "/v1/people/{person_id}/disclosures/export"): [
        Target(
            "E's child",
            everyone(200),
            fixed(lambda w: f"/v1/people/{w.x}/disclosures/export", params={"format": "csv"}),
        )
    ],
    # ---- notifications (docs/notifications.md) ----
    ("GET", "/v1/deadline-rules"): [Target("the rules", everyone(200), fixed("/v1/deadline-rules"))],
    ("PUT", "/v1/deadline-rules/{kind}"): [
        Target(
            "first_review, unchanged",
            everyone(200),
            fixed("/v1/deadline-rules/first_review", json=lambda w: w.rule_body),
        )
    ],
    # "deadlines:read is granted to mash, early_help, social_care and admin clients, and they
    # see all deadlines (no per-agency filtering)".
    ("GET", "/v1/deadlines"): [Target("all deadlines", everyone(200), fixed("/v1/deadlines"))],
    ("GET", "/v1/notifications"): [
        Target(
            "the caller's feed",
            everyone(200),
            fixed("/v1/notifications"),
            check=listed(lambda w: w.notification[SA], {SA}, "/v1/notifications", lambda w: {}),
        )
    ],
    ("POST", "/v1/notifications/{notification_id}/read"): [
        Target(
            "school A's notification",
            only(200, {SA}),
            fixed(lambda w: f"/v1/notifications/{w.notification[SA]}/read"),
        ),
        Target(
            "school B's notification",
            only(200, {SB}),
            fixed(lambda w: f"/v1/notifications/{w.notification[SB]}/read"),
        ),
    ],
    ("POST", "/v1/subscriptions"): [
        Target(
            "a new subscription",
            everyone(201),
            lambda w, c, f: Call(
                "/v1/subscriptions", json={"url": w.sink_url, "event_types": ["referral.linked"]}
            ),
        )
    ],
    ("GET", "/v1/subscriptions"): [
        Target(
            "the agency's subscriptions",
            everyone(200),
            fixed("/v1/subscriptions"),
            check=listed(lambda w: w.sub[SA], {SA}, "/v1/subscriptions", lambda w: {}),
        )
    ],
    # "Subscriptions belong to the caller's agency (others: 404)".
    ("DELETE", "/v1/subscriptions/{subscription_id}"): [
        Target("another agency's subscription", everyone(404), delete_other_subscription),
        Target("its own subscription", everyone(204), delete_own_subscription, fresh=True),
    ],
    ("GET", "/v1/subscriptions/{subscription_id}/deliveries"): [
        Target(
            "school A's subscription",
            only(200, {SA}),
            fixed(lambda w: f"/v1/subscriptions/{w.sub[SA]}/deliveries"),
        ),
        Target(
            "school B's subscription",
            only(200, {SB}),
            fixed(lambda w: f"/v1/subscriptions/{w.sub[SB]}/deliveries"),
        ),
    ],
    ("POST", "/v1/subscriptions/{subscription_id}/deliveries/{delivery_id}/retry"): [
        Target("school A's delivery", only(202, {SA}), retry(SA, SA)),
        Target("school B's delivery", only(202, {SB}), retry(SB, SB)),
        # School B's own subscription in the path does not make school A's delivery its own.
        Target("school A's delivery under school B's subscription", everyone(404), retry(SB, SA)),
    ],
    # ---- the gateway's own admin routes (answered by gateway/admin.py, which refuses a
    # token without `admin` with the same 403 insufficient_scope) ----
    ("POST", "/v1/admin/clients"): [
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
    ],
    ("GET", "/v1/admin/clients"): [Target("the list", everyone(200), fixed("/v1/admin/clients"))],
    # Never a demo client: these calls go to throwaway clients the matrix created.
    ("POST", "/v1/admin/clients/{client_ref}/rotate-secret"): [
        Target("a throwaway client", everyone(200), admin_client("rotate-secret"), fresh=True)
    ],
    ("POST", "/v1/admin/clients/{client_ref}/disable"): [
        Target("a throwaway client", everyone(200), admin_client("disable"), fresh=True)
    ],
    ("GET", "/v1/admin/audit"): [Target("the audit", everyone(200), fixed("/v1/admin/audit"))],
    # ---- code lists (gateway/code_lists_api.py): any valid token ----
    ("GET", "/v1/code-lists"): [Target("the lists", everyone(200), fixed("/v1/code-lists"))],
    ("GET", "/v1/code-lists/{name}"): [Target("the needs", everyone(200), fixed("/v1/code-lists/need"))],
    # ---- the practitioner registry (gateway/practitioners.py): each agency's system manages its
    # own agency's people and teams, the council admin every agency's; another's is 404 ----
    ("POST", "/v1/teams"): [
        Target(
            "a new team", everyone(201), lambda w, c, f: Call("/v1/teams", json={"name": f"Team {name()}"})
        )
    ],
    ("GET", "/v1/teams"): [Target("the list", everyone(200), fixed("/v1/teams"))],
    ("GET", "/v1/teams/{team_id}"): [
        Target("school A's team", only(200, {SA, AD}), fixed(f"/v1/teams/{demo_team_id(SA)}"))
    ],
    ("POST", "/v1/practitioners"): [Target("a new practitioner", everyone(201), new_practitioner)],
    ("GET", "/v1/practitioners"): [Target("the list", everyone(200), fixed("/v1/practitioners"))],
    ("GET", "/v1/practitioners/{practitioner_id}"): [
        Target("a teacher of school A", only(200, {SA, AD}), fixed(f"/v1/practitioners/{TOM}"))
    ],
    ("PATCH", "/v1/practitioners/{practitioner_id}"): [
        Target(
            "a practitioner of school A",
            only(200, {SA, AD}),
            school_a_practitioner("", {"name": "Renamed By Matrix"}),
            fresh=True,
        )
    ],
    ("POST", "/v1/practitioners/{practitioner_id}/disable"): [
        Target(
            "a practitioner of school A", only(200, {SA, AD}), school_a_practitioner("/disable"), fresh=True
        )
    ],
    ("POST", "/v1/practitioners/{practitioner_id}/enable"): [
        Target(
            "a practitioner of school A", only(200, {SA, AD}), school_a_practitioner("/enable"), fresh=True
        )
    ],
    # ---- issue 21: the threshold audit. Only the MASH holds triage:write; its system acts as
    # a MASH manager, so it draws and reads audits, but a second review is a named manager's.
    ("POST", "/v1/threshold-audits"): [Target("today's decisions", everyone(201), draw_audit, fresh=True)],
    ("GET", "/v1/threshold-audits"): [Target("the list", everyone(200), fixed("/v1/threshold-audits"))],
    ("GET", "/v1/threshold-audits/{audit_id}"): [
        Target("an audit", everyone(200), fixed(lambda w: f"/v1/threshold-audits/{audit_of(w)['id']}"))
    ],
    ("GET", "/v1/threshold-audits/{audit_id}/items/{item_id}"): [
        Target("an item", everyone(want(403, "role-required")), audit_item())
    ],
    ("POST", "/v1/threshold-audits/{audit_id}/items/{item_id}/review"): [
        Target(
            "an item",
            everyone(want(403, "role-required")),
            audit_item("/review", {"level_of_need": "universal", "outcome": "no_further_action"}),
        )
    ],
    ("POST", "/v1/threshold-audits/{audit_id}/items/{item_id}/agreement"): [
        Target("an item", everyone(want(403, "role-required")), audit_item("/agreement", {"agrees": True}))
    ],
    ("GET", "/v1/reports/threshold-audit"): [
        Target("the report", everyone(200), fixed("/v1/reports/threshold-audit"))
    ],
    # ---- issue 22: the bulk import. Only the council's admin client holds imports:write, and
    # imports as itself (a system call): every holder succeeds.
    ("POST", "/v1/imports/referrals"): [Target("a batch of one child", everyone(200), import_referrals)],
    ("POST", "/v1/imports/episodes"): [
        Target("a batch of one open episode", everyone(200), import_episodes, fresh=True)
    ],
    ("POST", "/v1/imports/plans"): [Target("a batch of one plan", everyone(200), import_plans, fresh=True)],
    ("POST", "/v1/imports/consents"): [Target("a batch of one consent", everyone(200), import_consents)],
}


# ---- issue 22: the FHIR facade (docs/fhir.md): the /v1 scopes and rules, so the /v1 rows' cells.
# The CapabilityStatement is public (gateway/fhir_metadata.py).
EXPECTATIONS.update(
    {
        ("POST", "/fhir/ServiceRequest"): [
            Target(
                "a new ServiceRequest",
                everyone(201),
                lambda w, c, f: Call("/fhir/ServiceRequest", json=fhir_service_request()),
            )
        ],
        ("GET", "/fhir/ServiceRequest"): [Target("a search by NHS number", everyone(200), FHIR_SEARCH)],
        ("GET", "/fhir/ServiceRequest/{referral_id}"): [
            Target(
                "school A's referral",
                only(200, {*READS_ALL_REFERRALS, SA}),
                fixed(lambda w: f"/fhir/ServiceRequest/{w.ref_a['id']}"),
            ),
            Target(
                "the caller's own referral",
                everyone(200),
                lambda w, c, f: Call(f"/fhir/ServiceRequest/{w.own_referral[c]['id']}"),
            ),
        ],
        ("GET", "/fhir/metadata"): [
            Target("the CapabilityStatement", everyone(200), fixed("/fhir/metadata"))
        ],
    }
)


# ---- issue 22: the FHIR facade's TAF, plan and actions (assessments): the /v1 episode reads'
# cells; a Task search finds nothing (200, empty) for whoever may not see the episode.
EXPECTATIONS.update(
    {
        ("GET", "/fhir/CareTeam/{episode_id}"): [
            Target("episode E's TAF", only(200, SEES_E), fixed(lambda w: f"/fhir/CareTeam/{w.e}")),
            Target("episode E2's TAF", only(200, SEES_E2), fixed(lambda w: f"/fhir/CareTeam/{w.e2}")),
        ],
        ("GET", "/fhir/CarePlan/{episode_id}"): [
            Target("episode E's plan", only(200, SEES_E), fixed(lambda w: f"/fhir/CarePlan/{w.e}")),
            Target("episode E2's plan", only(200, SEES_E2), fixed(lambda w: f"/fhir/CarePlan/{w.e2}")),
        ],
        ("GET", "/fhir/Task/{action_id}"): [
            Target("school A's action on E", only(200, SEES_E), fixed(lambda w: f"/fhir/Task/{w.action_a}")),
            Target(
                "school B's action on E2", only(200, SEES_E2), fixed(lambda w: f"/fhir/Task/{w.action_b}")
            ),
        ],
        ("GET", "/fhir/Task"): [
            Target(
                "the actions of E's plan",
                everyone(200),
                fixed("/fhir/Task", params=lambda w: {"focus": f"CarePlan/{w.e}"}),
            )
        ],
        # Deadlines as Tasks (notifications): GET /v1/deadlines' scope, no per-agency filtering.
        ("GET", "/fhir/Task/deadline-{deadline_id}"): [
            Target("a deadline of E", everyone(200), fixed(lambda w: w.deadline_task(w.e)))
        ],
        # The deadline search: the gateway routes `GET /fhir/Task` here by its query (a deadline's
        # focus, `code` or `business-status`), keyed `path?deadlines` (gateway/routes/notifications.py).
        ("GET", "/fhir/Task?deadlines"): [
            Target(
                "the deadlines of E",
                everyone(200),
                fixed("/fhir/Task", params=lambda w: {"focus": f"CareTeam/{w.e}"}),
            ),
            Target(
                "the overdue front-door decisions",
                everyone(200),
                fixed("/fhir/Task", params={"code": "front_door_decision", "business-status": "overdue"}),
            ),
        ],
    }
)

# Issue 22, consent's part: a Consent and the disclosure log as AuditEvents, with the cells of
# the /v1 reads they stand for (searched by person id: `patient=`).
EXPECTATIONS.update(
    {
        ("GET", "/fhir/Consent"): [
            Target("E's child", everyone(200), fixed("/fhir/Consent", params=lambda w: {"patient": w.x}))
        ],
        ("GET", "/fhir/Consent/{consent_id}"): [
            Target(
                "the TAF consent of E's child", everyone(200), fixed(lambda w: f"/fhir/Consent/{w.consent_e}")
            )
        ],
        ("GET", "/fhir/AuditEvent"): [
            Target("E's child", everyone(200), fixed("/fhir/AuditEvent", params=lambda w: {"patient": w.x}))
        ],
        ("GET", "/fhir/AuditEvent/{disclosure_id}"): [
            Target("no such disclosure", everyone(404), fixed(f"/fhir/AuditEvent/{uuid.UUID(int=22)}"))
        ],
    }
)


# --- the tests ---------------------------------------------------------------------------------

ROUTES = load_routes()
CELLS = [(route, client) for route in ROUTES for client in CLIENTS]


@pytest.fixture(scope="module")
def world(api: Any) -> Any:
    yield from running_world(api, World, ROUTES)


def test_every_route_has_an_expectation() -> None:
    """A new route fails here until its row is written; a removed route leaves a stale row."""
    assert_rows_match_routes(ROUTES, EXPECTATIONS, "EXPECTATIONS", "expectation")
    for route in ROUTES:
        targets = EXPECTATIONS[route.key]
        assert targets, route_id(route)
        holders = {c for c in CLIENTS if holds(c, route.scope)}
        for t in targets:
            dead = set(t.expect.overrides) - holders
            assert not dead, (
                f"{route_id(route)} / {t.name}: {sorted(dead)} lack {route.scope}; the gateway refuses them"
            )


def test_demo_clients_hold_their_default_scopes(world: World) -> None:
    """The premise of the generated 403 cells: each demo client's token carries its type's defaults."""
    for client, agency_type in CLIENTS.items():
        claims = world.claims[client]
        assert claims["agency_type"] == agency_type, client
        assert set(claims["scope"].split()) == set(DEFAULT_SCOPES[agency_type]), client
    assert world.agency[SA] != world.agency[SB], "the two schools must be different agencies"


@pytest.mark.parametrize(("route", "client"), CELLS, ids=[f"{route_id(r)} as {c}" for r, c in CELLS])
def test_authorization_matrix(world: World, route: Route, client: str) -> None:
    targets = EXPECTATIONS.get(route.key)
    if targets is None:
        pytest.fail(f"no expectation for {route_id(route)}: add its row to EXPECTATIONS in {__name__}")
    if not holds(client, route.scope):
        # Function level: the gateway refuses on the route's scope, whatever the object, and
        # never forwards the call (the admin routes are the gateway's own: nothing to forward).
        problem = scope_refusal(world, route, client, targets[0].call(world, client, False))
        assert problem is None, f"{route_id(route)} as {client} (lacks {route.scope}): {problem}"
        return
    failures = target_failures(world, route, client, targets)
    assert not failures, f"{route_id(route)} as {client}:\n  " + "\n  ".join(failures)
