"""What the two authorization matrices share (`test_authz_matrix.py`, every route as every demo
client; `test_role_matrix.py`, every route as practitioners in roles and relationships).

Here: how a cell's expectation is written (`Want`, `Expect`, `everyone`/`only`/`table`), the
objects a route is called on (`Target`, `Call`), request bodies, the webhook sink, the world's
HTTP helpers and the objects both worlds build (`MatrixWorld`), generic call builders, and
how a cell is asked and judged (`scope_refusal`, `target_failures`). Each matrix keeps its own
callers, world and policy table.

A *caller* is whatever a matrix asks as: a demo client id (`"demo-mash"`) in the client
matrix, a persona (or a client id, for setup) in the role matrix. The world turns it into a
bearer token (`MatrixWorld.bearer`).
"""

from __future__ import annotations

import http.server
import json
import random
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from gateway.clients import DEFAULT_SCOPES
from gateway.routes import Route

# --- the demo clients both matrices use -------------------------------------------------------

SA, SB = "demo-education", "demo-education-2"  # school A, school B (two agencies)
PO = "demo-police"
MA, EH, SC, AD = "demo-mash", "demo-early-help", "demo-social-care", "demo-admin"

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
CLOSED = want(409, "episode-closed")


@dataclass(frozen=True)
class Expect:
    """`overrides` name callers explicitly; every other caller holding the scope gets `default`."""

    default: Want
    overrides: dict[Any, Want] = field(default_factory=dict)

    def of(self, caller: Any) -> Want:
        return self.overrides.get(caller, self.default)


def everyone(status: Any) -> Expect:
    """Every caller that holds the route's scope."""
    return Expect(want(status))


def only(status: Any, callers: Iterable[Any], otherwise: Any = 404) -> Expect:
    return Expect(want(otherwise), {c: want(status) for c in callers})


def table(default: Any, overrides: dict[Any, Any]) -> Expect:
    return Expect(want(default), {c: want(s) for c, s in overrides.items()})


@dataclass
class Call:
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] | None = None


Builder = Callable[[Any, Any, bool], Call]  # (world, caller, fresh) -> the request
Check = Callable[[Any, Any, httpx.Response], "str | None"]


@dataclass
class Target:
    """One object (or object state) a route is called on, and what each caller gets."""

    name: str
    expect: Expect
    call: Builder
    # True: a caller expected to succeed gets a newly built object (the call changes it);
    # everyone else gets the shared decoy `call(world, caller, False)` returns.
    fresh: bool = False
    check: Check | None = None  # more than the status: what a list shows to this caller


# --- request bodies ---------------------------------------------------------------------------


def name() -> str:
    return "".join(random.choices(string.ascii_uppercase, k=10)).capitalize()


def now_iso() -> str:
    return (datetime.now(UTC) - timedelta(minutes=1)).isoformat()


def referral_body(
    *,
    given: str | None = None,
    family: str | None = None,
    dob: str | None = None,
    postcode: str = "S60 1AE",
    adults: bool = True,
) -> dict[str, Any]:
    family = family or name()
    dob = dob or (date(2012, 1, 1) + timedelta(days=random.randrange(3000))).isoformat()
    return {
        "referral_type": "request_for_support",
        "referrer": {
            "name": "Jo Clarke",
            "role": "Designated safeguarding lead",
            "email": "dsl@oakfield.example",
        },
        "children": [{"given_name": given or name(), "family_name": family, "date_of_birth": dob}],
        "adults": [{"given_name": name(), "family_name": family, "relationship": "mother"}] if adults else [],
        "address": {"line1": "1 Oak Street", "postcode": postcode},
        "needs": ["school_attendance", "parental_mental_health"],
        "summary": "Attendance 71%; mother has depression.",
        "consent": {"obtained": True, "given_by": "Mother", "obtained_at": now_iso(), "method": "phone"},
    }


def episode_body(
    person_id: str, *, origin: str, level_of_need: str, social_worker: dict[str, str]
) -> dict[str, Any]:
    """`POST /v1/episodes`; a step-down also names the panel's date and the social worker."""
    body: dict[str, Any] = {"origin": origin, "person_ids": [person_id], "level_of_need": level_of_need}
    if origin == "step_down":
        body.update(stepdown_panel_on=TODAY.isoformat(), social_worker=social_worker)
    return body


def decisions(decided_by: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(no further action, team around the family): MASH decisions signed by `decided_by`."""
    nfa = {
        "level_of_need": "universal",
        "outcome": "no_further_action",
        "rag": "green",
        "rationale": "Universal services meet the need.",
        "decided_by": {"name": decided_by, "role": "MASH team manager"},
    }
    taf = {
        **nfa,
        "level_of_need": "partnership_plus",
        "outcome": "team_around_the_family",
        "rag": "amber",
        "rationale": "Several needs: multi-agency early help with a lead professional.",
    }
    return nfa, taf


ASSESSMENT = {
    "family_members": [
        {"role": "child", "views": "Likes school", "strengths": ["reading"], "needs": ["attendance"]}
    ],
    "baseline": {"school_attendance_percent": 71, "exclusions": 0},
    "analysis": "Attendance falls when mum is unwell.",
    "priorities": ["attendance"],
}


def plan_body(owner: dict[str, Any]) -> dict[str, Any]:
    """One outcome and one action, owned by `owner` (`agency_id`, `name`...)."""
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
                "owner": owner,
                "due_on": SOON,
                "outcome_refs": [0],
            }
        ],
    }


def taf_member(agency_id: str, agency_type: str) -> dict[str, Any]:
    return {"agency_id": agency_id, "agency_type": agency_type, "name": "A. Member", "role": "Key worker"}


def throwaway_member() -> dict[str, Any]:
    # An agency that is no demo agency: adding or removing it changes no cell's visibility.
    return taf_member(f"matrix-{uuid.uuid4().hex[:12]}", "voluntary")


def consent_body(person_id: str, agencies: list[str] | None = None) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "given_by": {"name": "A Parent", "relationship": "parent"},
        "competence": "parental",
        "purposes": ["early_help_service", "information_sharing"],
        "agencies": agencies or ["team_around_the_family"],
        "method": "verbal",
        "obtained_at": now_iso(),
    }


def do_not_share(person_id: str, agency_id: str, decided_by: str) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "agency_id": agency_id,
        "purpose": "information_sharing",
        "decision": "do_not_share",
        "justification": "Not necessary or proportionate for this agency's role.",
        "decided_by": decided_by,
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


# --- the world: every object a matrix needs, built through the API -------------------------------


def eventually(fn: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class MatrixWorld:
    """The HTTP helpers and the objects both matrices build; a matrix's `World` adds its own
    callers (`bearer`), objects (`build`) and the relationships its policy is about."""

    def __init__(
        self,
        http_client: httpx.Client,
        sink_url: str,
        service_urls: dict[str, str],
        agency_types: dict[str, str],
    ) -> None:
        self.http = http_client
        self.sink_url = sink_url
        self.service_urls = service_urls  # straight to each service, for its /metrics
        self.agency_types = agency_types  # demo client -> agency type
        # System tokens of our own (not the session's cached ones): fresh for this module.
        self.system: dict[str, str] = {}
        for client in agency_types:
            resp = http_client.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client, f"{client}-secret")
            )
            assert resp.status_code == 200, resp.text
            self.system[client] = resp.json()["access_token"]

    # -- HTTP --

    def bearer(self, who: Any) -> str:
        """The access token `who` calls with."""
        return self.system[who]

    def send(self, method: str, who: Any, call: Call) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.bearer(who)}", **(call.headers or {})}
        return self.http.request(method, call.path, json=call.json, params=call.params, headers=headers)

    def ok(self, method: str, who: Any, path: str, json: Any = None, **kw: Any) -> Any:
        """A setup call that must succeed."""
        resp = self.send(method, who, Call(path, json=json, **kw))
        assert 200 <= resp.status_code < 300, (
            f"setup {method} {path} as {who}: {resp.status_code} {resp.text}"
        )
        return resp.json() if resp.content else None

    def refusals_at(self, service: str) -> float:
        """How many 403s the service itself has answered on public routes (its own metrics).

        A scope-refused call that the gateway decides never reaches the service, so this
        does not move; every service also checks scopes, which would otherwise hide a gateway
        that forwarded it."""
        text = httpx.get(f"{self.service_urls[service]}/metrics", timeout=10).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("http_requests_total{") and 'status="403"' in line and 'route="/v1/' in line
        )

    def ids(self, who: Any, path: str, params: dict[str, Any] | None = None) -> set[str]:
        """Every id a list shows this caller, following the cursor (at the default page size:
        not every list takes `limit`, and an unknown query parameter is a 422)."""
        seen: set[str] = set()
        params = dict(params or {})
        for _ in range(50):
            body = self.ok("GET", who, path, params=params)
            seen |= {item["id"] for item in body["items"]}
            if not body.get("next_cursor"):
                break
            params["cursor"] = body["next_cursor"]
        return seen

    def etag(self, path: str) -> str:
        resp = self.send("GET", EH, Call(path))
        assert resp.status_code == 200, resp.text
        return str(resp.headers["etag"])

    def action_etag(self, episode_id: str, action_id: str) -> str:
        plan = self.ok("GET", EH, f"/v1/episodes/{episode_id}/plan")
        return str(next(a["etag"] for a in plan["actions"] if a["id"] == action_id))

    # -- building blocks --

    def referral(self, who: Any, **kw: Any) -> dict[str, Any]:
        return dict(self.ok("POST", who, "/v1/referrals", referral_body(**kw)))

    def extension(self, assessment_id: str, approved_by: dict[str, str]) -> dict[str, Any]:
        """A day's extension of the assessment's due date."""
        due = date.fromisoformat(self.ok("GET", EH, f"/v1/assessments/{assessment_id}")["due_on"])
        return {
            "new_due_on": (due + timedelta(days=1)).isoformat(),
            "reason": "Family away",
            "approved_by": approved_by,
        }

    def subscription(self, who: Any, event_types: list[str] | None = None) -> str:
        body = {"url": self.sink_url, "event_types": event_types or ["referral.linked"]}
        return str(self.ok("POST", who, "/v1/subscriptions", body)["id"])

    def admin_client(self) -> str:
        body = {
            "name": "Matrix throwaway",
            "agency_type": "voluntary",
            "client_id": f"matrix-{uuid.uuid4().hex[:12]}",
        }
        return str(self.ok("POST", AD, "/v1/admin/clients", body)["client_id"])

    def possible_match(self) -> tuple[str, str]:
        raise NotImplementedError

    def two_people(self) -> tuple[str, str]:
        raise NotImplementedError

    def merge(self) -> str:
        dup, into = self.two_people()
        return str(
            self.ok("POST", MA, f"/v1/people/{dup}/merge", {"into_person_id": into, "reason": "duplicate"})[
                "id"
            ]
        )

    def consent(self) -> str:
        raise NotImplementedError

    # -- the objects both matrices build --

    def build_subscriptions(self) -> None:
        """Webhook subscriptions of each school, made before their referrals are decided, so a
        delivery exists for each; and decoys for the cells that must not touch the real ones."""
        self.sub = {c: self.subscription(c, ["referral.decided"]) for c in (SA, SB)}
        self.decoy_sub = {c: self.subscription(c) for c in (SA, SB)}

    def build_person_and_consent_decoys(self) -> None:
        self.decoy_match = self.possible_match()
        self.decoy_people = self.two_people()
        self.decoy_merge = self.merge()
        self.decoy_consent = self.consent()
        self.withdrawn_consent = self.consent()
        self.ok(
            "POST", EH, f"/v1/consents/{self.withdrawn_consent}/withdraw", {"reason": "Changed their mind"}
        )

    def first_review_rule(self) -> dict[str, Any]:
        """The first-review deadline rule's settings, as a PUT body."""
        rule = next(
            r for r in self.ok("GET", AD, "/v1/deadline-rules")["items"] if r["kind"] == "first_review"
        )
        return {
            k: rule[k]
            for k in ("amount", "unit", "reminder_lead_hours", "escalation_delay_hours", "escalation_target")
        }

    def deadline_task(self, episode_id: str) -> str:
        """`/fhir/Task/deadline-<id>`: a deadline of the episode as a FHIR Task (issue 22);
        the deadlines come by events, so wait for one."""
        cache: dict[str, str] = self.__dict__.setdefault("_deadline_tasks", {})
        if episode_id not in cache:
            found = eventually(
                lambda: self.ok("GET", MA, "/v1/deadlines", params={"episode_id": episode_id})["items"],
                "a deadline of the episode",
            )
            cache[episode_id] = f"/fhir/Task/deadline-{found[0]['id']}"
        return cache[episode_id]

    def await_feed_and_deliveries(self, decided: dict[str, str]) -> None:
        """Each school's feed item (the MASH decision on its referral `decided[school]`) and
        webhook delivery."""

        def feed_item(client: str) -> str | None:
            items = self.ok("GET", client, "/v1/notifications", params={"limit": 200})["items"]
            return next((n["id"] for n in items if n.get("referral_id") == decided[client]), None)

        def delivery(client: str) -> str | None:
            items = self.ok("GET", client, f"/v1/subscriptions/{self.sub[client]}/deliveries")["items"]
            return items[0]["id"] if items else None

        self.notification = {c: eventually(lambda c=c: feed_item(c), f"{c}'s notification") for c in (SA, SB)}
        self.delivery = {c: eventually(lambda c=c: delivery(c), f"{c}'s delivery") for c in (SA, SB)}

    def build(self) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        """Subscriptions to the receiver that is about to stop would fail for the rest of the session."""
        for client, agency_type in self.agency_types.items():
            if "webhooks:manage" not in DEFAULT_SCOPES[agency_type]:
                continue
            for sub in self.ok("GET", client, "/v1/subscriptions")["items"]:
                if sub["url"].startswith(self.sink_url):
                    self.send("DELETE", client, Call(f"/v1/subscriptions/{sub['id']}"))


def running_world(api: Any, make: Callable[..., MatrixWorld], routes: list[Route]) -> Iterator[Any]:
    """The body of a matrix's module-scoped `world` fixture: built once, cleaned up after."""
    sink = WebhookSink()
    sink.start()
    services = {r.service for r in routes if r.service != "gateway"}
    w = make(api.http, sink.url, {s: api.stack.url(s) for s in services})
    try:
        w.build()
        yield w
    finally:
        try:
            w.cleanup()
        finally:
            sink.stop()


# --- call builders -----------------------------------------------------------------------------


def fixed(path: str | Callable[[Any], str], **kw: Any) -> Builder:
    """The same request for every caller; `path` and keyword values may be functions of the world."""

    def build(w: Any, caller: Any, fresh: bool) -> Call:
        return Call(
            path(w) if callable(path) else path, **{k: v(w) if callable(v) else v for k, v in kw.items()}
        )

    return build


def episode_path(suffix: str = "", which: str = "e") -> Builder:
    return fixed(lambda w: f"/v1/episodes/{getattr(w, which)}{suffix}")


def fresh_episode(suffix: str, body: Any = None, *, step_down: bool = False) -> Builder:
    """A new episode shared like E for a caller expected to succeed; the decoy otherwise.
    `body` may be a function of the world."""

    def build(w: Any, caller: Any, fresh: bool) -> Call:
        episode_id = w.episode(step_down=step_down) if fresh else w.decoy
        return Call(f"/v1/episodes/{episode_id}{suffix}", json=body(w) if callable(body) else body)

    return build


def listed(
    obj: Callable[[Any], str], visible: Iterable[Any], path: str, params: Callable[[Any], dict]
) -> Check:
    """The list shows `obj` to exactly the `visible` callers."""
    seen_by = frozenset(visible)

    def check(w: Any, caller: Any, _resp: httpx.Response) -> str | None:
        shown = obj(w) in w.ids(caller, path, params(w))
        if shown != (caller in seen_by):
            return f"the list {'shows' if shown else 'does not show'} {obj(w)} to {caller}"
        return None

    return check


def patch_assessment(which: str = "assessment_e") -> Builder:
    """A PATCH of the world's assessment named `which`, with its current ETag."""

    def build(w: Any, caller: Any, fresh: bool) -> Call:
        path = f"/v1/assessments/{getattr(w, which)}"
        return Call(path, json={"analysis": f"Updated by {caller}."}, headers={"If-Match": w.etag(path)})

    return build


def extend(approved_by: dict[str, str], which: str = "assessment_e") -> Builder:
    def build(w: Any, caller: Any, fresh: bool) -> Call:
        aid = getattr(w, which)
        return Call(f"/v1/assessments/{aid}/extensions", json=w.extension(aid, approved_by))

    return build


def patch_action(action: str, episode: str = "e") -> Builder:
    """A PATCH of the world's plan action named `action` (of episode `episode`), with its ETag."""

    def build(w: Any, caller: Any, fresh: bool) -> Call:
        etag = w.action_etag(getattr(w, episode), getattr(w, action))
        return Call(
            f"/v1/actions/{getattr(w, action)}",
            json={"status": "in_progress", "progress_notes": f"Checked by {caller}"},
            headers={"If-Match": etag},
        )

    return build


def review(attendees: list[str], episode: str = "e", outcome: str = "outcome_e") -> Builder:
    def build(w: Any, caller: Any, fresh: bool) -> Call:
        body = {
            "held_on": TODAY.isoformat(),
            "next_review_on": (TODAY + timedelta(weeks=6)).isoformat(),
            "attendees": attendees,
            "outcome_progress": [{"outcome_id": getattr(w, outcome), "score": 5}],
        }
        return Call(f"/v1/episodes/{getattr(w, episode)}/reviews", json=body)

    return build


def remove_member(by: Any, member_body: Callable[[], dict[str, Any]] = throwaway_member) -> Builder:
    """A TAF member of E: a new throwaway one, added by `by`, for a caller expected to succeed;
    else the decoy episode's."""

    def build(w: Any, caller: Any, fresh: bool) -> Call:
        if fresh:
            member = w.ok("POST", by, f"/v1/episodes/{w.e}/taf-members", member_body())["id"]
            return Call(f"/v1/episodes/{w.e}/taf-members/{member}")
        return Call(f"/v1/episodes/{w.decoy}/taf-members/{w.decoy_member}")

    return build


def resolve_match(verb: str) -> Builder:
    def build(w: Any, caller: Any, fresh: bool) -> Call:
        rid, person = w.possible_match() if fresh else w.decoy_match
        return Call(f"/v1/referrals/{rid}/matches/{person}/{verb}")

    return build


def merge_people(w: Any, caller: Any, fresh: bool) -> Call:
    dup, into = w.two_people() if fresh else w.decoy_people
    return Call(f"/v1/people/{dup}/merge", json={"into_person_id": into, "reason": "The same child"})


def undo_merge(w: Any, caller: Any, fresh: bool) -> Call:
    return Call(f"/v1/people/merges/{w.merge() if fresh else w.decoy_merge}/undo")


# Issue 20: corrections and relationships in the person index (MASH and early help roles).


def correct_person(w: Any, caller: Any, fresh: bool) -> Call:
    person = (w.two_people() if fresh else w.decoy_people)[0]
    name = "".join(random.choices(string.ascii_lowercase, k=8)).capitalize()
    return Call(
        f"/v1/people/{person}", json={"given_name": name, "reason": "Spelling"}, headers={"If-Match": "*"}
    )


def relate_people(w: Any, caller: Any, fresh: bool) -> Call:
    a, b = w.two_people() if fresh else w.decoy_people
    return Call(f"/v1/people/{a}/relationships", json={"related_person_id": b, "type": "sibling_of"})


def end_relationship(w: Any, caller: Any, fresh: bool) -> Call:
    if fresh or getattr(w, "decoy_relationship", None) is None:
        a, b = w.two_people() if fresh else w.decoy_people
        rel = w.ok(
            "POST", MA, f"/v1/people/{a}/relationships", {"related_person_id": b, "type": "partner_of"}
        )
        if fresh:
            return Call(f"/v1/people/{a}/relationships/{rel['id']}/end", json={})
        w.decoy_relationship = (a, rel["id"])
    a, rid = w.decoy_relationship
    return Call(f"/v1/people/{a}/relationships/{rid}/end", json={})


def withdraw_consent(w: Any, caller: Any, fresh: bool) -> Call:
    cid = w.consent() if fresh else w.decoy_consent
    return Call(f"/v1/consents/{cid}/withdraw", json={"reason": "The family withdrew"})


def delete_own_subscription(w: Any, caller: Any, fresh: bool) -> Call:
    return Call(f"/v1/subscriptions/{w.subscription(caller)}")


def retry(sub_of: str, delivery_of: str) -> Builder:
    return fixed(lambda w: f"/v1/subscriptions/{w.sub[sub_of]}/deliveries/{w.delivery[delivery_of]}/retry")


def admin_client(verb: str) -> Builder:
    def build(w: Any, caller: Any, fresh: bool) -> Call:
        return Call(f"/v1/admin/clients/{w.admin_client() if fresh else w.decoy_client}/{verb}")

    return build


def access_check_params(w: Any) -> dict[str, str]:
    return {"person_id": w.x, "agency_id": w.agency[SA], "purpose": "information_sharing"}


# --- asking a cell ------------------------------------------------------------------------------


def route_id(route: Route) -> str:
    return " ".join(route.key)


def assert_rows_match_routes(
    routes: list[Route], rows: Iterable[tuple[str, str]], table: str, what: str
) -> None:
    """Every route has a row in the matrix's `table` (a new route fails until it is written)
    and every row a route (a removed route leaves a stale row)."""
    keys = {r.key for r in routes}  # (method, path), `path?rule` for a query-routed route
    missing = sorted(keys - set(rows))
    stale = sorted(set(rows) - keys)
    assert not missing, f"routes with no {what} in {table}: {missing}"
    assert not stale, f"{table} rows for routes that no longer exist: {stale}"


def problem_type(resp: httpx.Response) -> str:
    """The problem's `type`; the FHIR facade's OperationOutcome carries it as its issue's
    `details` coding (shared/fhir.py)."""
    body = resp.json()
    if body.get("resourceType") == "OperationOutcome":
        codings = body["issue"][0].get("details", {}).get("coding", [])
        return next((f"{c['system']}/{c['code']}" for c in codings), "")
    return str(body.get("type", ""))


def mismatch(wanted: Want, resp: httpx.Response) -> str | None:
    if resp.status_code not in wanted.codes:
        return f"expected {wanted}, got {resp.status_code}: {resp.text[:300]}"
    if wanted.problem:
        kind = problem_type(resp)
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


def scope_refusal(w: MatrixWorld, route: Route, caller: Any, call: Call) -> str | None:
    """A caller lacking the route's scope: the gateway refuses it (403 naming the scope in a
    Bearer insufficient_scope challenge), whatever the object, and never forwards the call (the
    gateway's own routes have nothing to forward). What is wrong, or None."""
    upstream = route.service if route.service != "gateway" else None
    before = w.refusals_at(upstream) if upstream else 0.0
    resp = w.send(route.method, caller, call)
    problem = mismatch(want(403, "insufficient-scope", scope=route.scope), resp)
    challenge = resp.headers.get("www-authenticate", "")
    if problem is None and not challenge.startswith('Bearer error="insufficient_scope"'):
        problem = f"expected a Bearer insufficient_scope challenge, got {challenge!r}"
    if problem is None and upstream and w.refusals_at(upstream) != before:
        problem = f"the {upstream} service refused it: the gateway forwarded a call lacking {route.scope}"
    return problem


def target_failures(w: MatrixWorld, route: Route, caller: Any, targets: Iterable[Target]) -> list[str]:
    """Each target called as `caller` (a fresh object where it is expected to succeed and the
    call changes it), judged by its expectation and check."""
    failures = []
    for t in targets:
        wanted = t.expect.of(caller)
        call = t.call(w, caller, t.fresh and wanted.success)
        resp = w.send(route.method, caller, call)
        problem = mismatch(wanted, resp)
        if problem is None and t.check is not None:
            problem = t.check(w, caller, resp)
        if problem:
            failures.append(f"{t.name} ({call.path}): {problem}")
    return failures


# --- the FHIR facade (issue 22, docs/fhir.md) ---------------------------------------------------

FHIR_EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "fhir" / "ServiceRequest-create.json"
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"


def fhir_service_request() -> dict[str, Any]:
    """The documented ServiceRequest example, for a child no other call names."""
    doc: dict[str, Any] = json.loads(FHIR_EXAMPLE.read_text())
    patient = doc["contained"][0]
    del patient["identifier"]
    patient["name"][0]["family"] = name()
    return doc


# A search by an NHS number: a searchset Bundle of what the caller may see (tests/e2e/test_fhir.py
# shows whose referrals are found).
FHIR_SEARCH = fixed("/fhir/ServiceRequest", params={"patient.identifier": f"{NHS_NUMBER_SYSTEM}|4010232137"})


# ---- issue 22: the bulk import (docs/import.md); only the council's admin client may call ----


def import_referrals(w: Any, caller: Any, fresh: bool) -> Call:
    """A batch of one new child (a new source id each call)."""
    child = {"source_id": f"m-{uuid.uuid4().hex}", "given_name": name(), "family_name": name()}
    return Call("/v1/imports/referrals", json={"children": [{**child, "date_of_birth": "2016-05-04"}]})


def import_episodes(w: Any, caller: Any, fresh: bool) -> Call:
    """A batch of one open episode, for a child the referrals service knows when `fresh`."""
    person = w.known_person() if fresh else str(uuid.uuid4())
    episode = {"source_id": f"m-{uuid.uuid4().hex}", "person_ids": [person], "opened_at": now_iso()}
    return Call("/v1/imports/episodes", json={"episodes": [episode]})


def import_plans(w: Any, caller: Any, fresh: bool) -> Call:
    """A batch of one plan, for an open episode without one when `fresh`."""
    episode = w.episode() if fresh else str(uuid.uuid4())
    plan = plan_body({"agency_id": "matrix-agency", "name": "A. Owner"})
    outcome = {"source_id": "o1", **plan["outcomes"][0]}
    action = {k: v for k, v in plan["actions"][0].items() if k != "outcome_refs"}
    row = {
        "source_id": f"m-{uuid.uuid4().hex}",
        "episode_id": episode,
        "agreed_at": datetime.now(UTC).isoformat(),  # after the episode opened, not ahead of the service
        "outcomes": [outcome],
        "actions": [{"source_id": "a1", **action, "outcomes": ["o1"]}],
    }
    return Call("/v1/imports/plans", json={"plans": [row]})


def import_consents(w: Any, caller: Any, fresh: bool) -> Call:
    """A batch of one consent of a new person (a new source id each call)."""
    row = {"source_id": f"m-{uuid.uuid4().hex}", **consent_body(str(uuid.uuid4()))}
    return Call("/v1/imports/consents", json={"consents": [row]})
