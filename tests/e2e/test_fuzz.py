"""Property-based tests of the whole public API, generated from the merged OpenAPI document.

Schemathesis reads `{gateway}/openapi.json` and, for every published operation, sends cases
through the real gateway with a real token: positive cases (valid by the schema) and negative
ones (invalid by the schema). Each response must be:

- never a 5xx;
- valid against the response schema the operation documents for its status;
- for invalid input, a 4xx (schemathesis's `negative_data_rejection`, any 4xx accepted);
- for every 4xx, `application/problem+json` (RFC 9457) with the same `status` as the response.

Tokens: each operation's `x-required-scope` picks a demo client that holds it (demo-mash, else
demo-early-help, else demo-admin; see `gateway/clients.py: DEFAULT_SCOPES`). The consent access
check only answers service identities, so it is fuzzed as `svc-assessments`. Operations whose
path names an object are run a second time with the ids of real objects made for the fuzzing,
so the handlers are reached past the 404.

Bounded: `EH_FUZZ_EXAMPLES` cases per operation and mode (default 15) and a time budget per
operation (`EH_FUZZ_SECONDS` in all, default 90 s, shared out evenly). Generation is
derandomized so a run is repeatable; set `EH_FUZZ_SEED` to explore other cases.

Safety: webhook subscription URLs are always rewritten to a closed loopback port (the worker
delivers to whatever a subscription names), the demo and service clients are never disabled
or rotated, and the deadline rules are restored afterwards.
"""

from __future__ import annotations

import json
import os
import random
import re
import string
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from jose import jwt
from schemathesis import checks as st_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi import checks as oas_checks

from gateway.clients import DEFAULT_SCOPES
from gateway.routes import load_routes

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("EH_FUZZ_EXAMPLES", "15"))
BUDGET_SECONDS = float(os.environ.get("EH_FUZZ_SECONDS", "90"))
SEED = os.environ.get("EH_FUZZ_SEED")
# Webhooks are delivered by the worker; a fuzzed URL must never leave this machine.
SAFE_WEBHOOK_URL = "http://127.0.0.1:9/fuzz-hook"
# Demo clients in order of preference for an operation's scope.
DEMO_CLIENTS = {"demo-mash": "mash", "demo-early-help": "early_help", "demo-admin": "admin"}
SERVICE_ONLY = {("GET", "/v1/access-checks"): "svc-assessments"}
PUBLIC = {
    ("POST", "/oauth/token"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/oauth-authorization-server"),
}
# Reads first, then changes, then what ends an object's life (close, withdraw, disable, merge,
# delete), so the operations on the real objects meet them while they are still open.
TERMINAL = ("/close", "/withdraw", "/disable", "/merge", "/undo", "/step-up", "/approve", "/return")


def _order(op: tuple[str, str]) -> tuple[int, str, str]:
    method, path = op
    if method == "DELETE" or path.endswith(TERMINAL):
        return (2, path, method)
    return (0 if method == "GET" else 1, path, method)


OPERATIONS = sorted({(r.method, r.path) for r in load_routes()} | PUBLIC, key=_order)
# Findings already reported and not yet fixed: (path prefix, regex on the failure) -> why.
# A run that meets only these is an expected failure; anything else fails the test. Empty:
# the last one (a number read as Unix time for a date or date-time) is refused since
# shared.validation's Iso* types, and tests/unit/test_dates_are_text.py keeps every input on them.
KNOWN_ISSUES: dict[tuple[str, str], str] = {}
SOON = (date.today() + timedelta(days=60)).isoformat()
CONSENT = {"obtained": True, "given_by": "Parent", "obtained_at": "2026-01-05T10:00:00Z", "method": "phone"}


def client_for(scope: str | None) -> str | None:
    if scope is None:
        return None
    if scope == "":  # any valid token (the code lists)
        return next(iter(DEMO_CLIENTS))
    for client, agency_type in DEMO_CLIENTS.items():
        if scope in DEFAULT_SCOPES[agency_type]:
            return client
    raise AssertionError(f"no demo client holds the scope {scope!r}")


@dataclass
class Finding:
    operation: str
    mode: str
    status: int | None
    message: str


@dataclass
class Fuzz:
    """Everything the per-operation tests share: the schema, tokens and real object ids."""

    gateway: str
    schema: Any
    api: Any
    ids: dict[str, str]
    protected_clients: set[str]
    session: requests.Session = field(default_factory=requests.Session)
    calls: int = 0
    statuses: dict[str, Counter[int]] = field(default_factory=dict)

    def headers(self, method: str, path: str, scope: str | None) -> dict[str, str]:
        client = SERVICE_ONLY.get((method, path)) or client_for(scope)
        return self.api.as_(client) if client else {}


def problem_json_for_4xx(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every client error is RFC 9457 problem+json whose `status` matches the response.

    Except the token endpoint, which answers in OAuth 2.0's own error format (RFC 6749 5.2), and
    the FHIR facade, whose errors are FHIR OperationOutcomes naming the problem (docs/fhir.md)."""
    if not 400 <= response.status_code < 500 or case.path == "/oauth/token":
        return None
    ctype = response.headers.get("content-type", [""])
    ctype = (ctype[0] if isinstance(ctype, list) else ctype).split(";")[0].strip()
    if case.path.startswith("/fhir/"):
        assert ctype == "application/fhir+json", f"{response.status_code} answered as {ctype!r}"
        body = json.loads(response.content)
        assert body.get("resourceType") == "OperationOutcome", "FHIR error without an OperationOutcome"
        assert body.get("issue") and body["issue"][0].get("code"), "OperationOutcome without an issue code"
        return None
    assert ctype == "application/problem+json", f"{response.status_code} answered as {ctype!r}"
    body = json.loads(response.content)
    assert body.get("status") == response.status_code, f"problem status {body.get('status')}"
    assert body.get("type") and body.get("title"), "problem without type or title"
    return None


CHECKS = [
    st_checks.not_a_server_error,
    oas_checks.response_schema_conformance,
    oas_checks.negative_data_rejection,
    problem_json_for_4xx,
]


def sanitize(case: Any, protected_clients: set[str]) -> bool:
    """Make a case safe to send; False: do not send it at all."""
    if case.path == "/v1/subscriptions" and case.method.upper() == "POST" and isinstance(case.body, dict):
        # Any object body may be stored as a subscription: its URL must stay on this machine.
        # (A body that is not an object is refused before anything is stored.) A negative case
        # whose fault is the URL (missing, not text, too long, not http) would become valid once
        # the URL is replaced - and then be "accepted invalid data": it is not sent.
        url = case.body.get("url")
        if not (isinstance(url, str) and len(url) <= 2000 and url.startswith(("http://", "https://"))):
            return False
        case.body["url"] = SAFE_WEBHOOK_URL
    ref = (case.path_parameters or {}).get("client_ref")
    if ref is None:
        return True
    # Never disable or rotate a client the stack needs (only the one made for the fuzzing).
    return str(ref) not in protected_clients and not str(ref).startswith(("demo-", "svc-"))


def sent(response: Any) -> str:
    """What was sent, to reproduce a finding by hand."""
    request = response.request
    body = request.body if isinstance(request.body, bytes | str | None) else b"<stream>"
    if isinstance(body, str):
        body = body.encode()
    return f"\n  sent: {request.method} {request.url}\n  body: {(body or b'')[:400]!r}"


class OutOfTime(Exception):
    """Raised inside a run to stop generating once its time is up (no shrinking phase)."""


def run_cases(
    fz: Fuzz,
    operation: Any,
    mode: GenerationMode,
    headers: dict[str, str],
    stop_at: float,
    path_parameters: dict[str, Any] | None = None,
) -> list[Finding]:
    findings: list[Finding] = []
    strategy = operation.as_strategy(mode, path_parameters=path_parameters)
    label = operation.label + (" (real ids)" if path_parameters else "")

    def one(case: Any) -> None:
        if time.monotonic() > stop_at:
            raise OutOfTime
        if not sanitize(case, fz.protected_clients):
            return
        fz.calls += 1
        response = case.call(base_url=fz.gateway, session=fz.session, headers=headers, timeout=30)
        fz.statuses.setdefault(f"{label} [{mode.value}]", Counter())[response.status_code] += 1
        try:
            case.validate_response(
                response,
                checks=CHECKS,
                headers=headers,
                transport_kwargs={"base_url": fz.gateway, "headers": headers},
            )
        except FailureGroup as group:
            for failure in group.exceptions:
                message = f"{failure.title}: {failure.message}"[:600]
                findings.append(Finding(label, mode.value, response.status_code, message + sent(response)))
        except (AssertionError, ValueError) as exc:
            message = f"{exc}; body {response.content[:300]!r}"
            findings.append(Finding(label, mode.value, response.status_code, message + sent(response)))

    test = given(strategy)(one)
    test = settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )(test)
    if SEED is not None:
        test = seed(int(SEED))(test)
    try:
        test()
    except OutOfTime:
        pass  # this run's share of the budget is spent: what was sent is checked
    except Unsatisfiable:
        # Nothing to negate (no parameters, no body): there are no negative cases to send.
        assert mode.is_negative, f"{label}: no positive case could be generated"
    return findings


# --- fixtures -------------------------------------------------------------------------------


def _ok(resp: Any, *codes: int) -> dict[str, Any]:
    assert resp.status_code in (codes or (200, 201)), resp.text
    return resp.json() if resp.content else {}


def _eventually(fn: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def referral_body(given: str, family: str, postcode: str, dob: str) -> dict[str, Any]:
    return {
        "referral_type": "request_for_support",
        "referrer": {"name": "Fuzz Referrer", "role": "DSL", "email": "dsl@fuzz.example"},
        "children": [{"given_name": given, "family_name": family, "date_of_birth": dob}],
        "adults": [{"given_name": "Pat", "family_name": family, "relationship": "mother"}],
        "address": {"line1": f"1 {family} Street", "town": "Anytown", "postcode": postcode},
        "needs": ["school_attendance"],
        "summary": "Made for the property-based tests.",
        "consent": CONSENT,
    }


def make_objects(api: Any) -> dict[str, str]:
    """One of each kind of object, made through the API, for the operations' path ids."""
    mash, eh, admin, school = "demo-mash", "demo-early-help", "demo-admin", "demo-education"
    first, second = (
        random.choice(string.ascii_uppercase) + "".join(random.choices(string.ascii_lowercase, k=9))
        for _ in range(2)
    )
    referral = _ok(
        api.post(school, "/v1/referrals", json=referral_body("Fuzz", first, "S60 1AE", "2016-01-02")), 201
    )
    # A partner is not told the person index's ids (docs/referrals.md): the MASH reads them.
    as_mash = _ok(api.get(mash, f"/v1/referrals/{referral['id']}"), 200)
    ids = {"referral_id": referral["id"], "person_id": as_mash["children"][0]["person_id"]}
    # A second referral, decided, opens an episode through the events.
    decided = _ok(
        api.post(school, "/v1/referrals", json=referral_body("Otto", second, "M1 1AE", "2013-07-09")), 201
    )
    _ok(
        api.post(
            mash,
            f"/v1/referrals/{decided['id']}/decision",
            json={
                "level_of_need": "partnership_plus",
                "outcome": "team_around_the_family",
                "rag": "amber",
                "rationale": "fuzz",
                "decided_by": {"name": "Dee Cision", "role": "MASH team manager"},
            },
        )
    )
    episode_id = _eventually(lambda: api.get(mash, f"/v1/referrals/{decided['id']}").json().get("episode_id"))
    assert episode_id, "the decided referral opened no episode"
    ids["episode_id"] = episode_id
    eh_agency = jwt.get_unverified_claims(api.token(eh))["agency_id"]
    member = _ok(
        api.post(
            eh,
            f"/v1/episodes/{episode_id}/taf-members",
            json={
                "agency_id": eh_agency,
                "agency_type": "early_help",
                "name": "Fuzz Member",
                "role": "worker",
            },
        ),
        201,
    )
    ids["member_id"] = member["id"]
    assessment = _ok(
        api.post(
            eh,
            f"/v1/episodes/{episode_id}/assessments",
            json={"family_members": [{"role": "child", "needs": ["attendance"]}], "analysis": "fuzz"},
        ),
        201,
    )
    ids["assessment_id"] = assessment["id"]
    plan = _ok(
        api.put(
            eh,
            f"/v1/episodes/{episode_id}/plan",
            json={
                "outcomes": [
                    {
                        "headline": "good_education",
                        "description": "attends",
                        "measure": "attendance %",
                        "baseline": "71",
                        "target": "95",
                        "target_on": SOON,
                    }
                ],
                "actions": [
                    {
                        "description": "Daily check-in",
                        "owner": {"agency_id": eh_agency, "name": "Fuzz Member"},
                        "due_on": SOON,
                        "outcome_refs": [0],
                    }
                ],
            },
        )
    )
    ids["action_id"] = plan["actions"][0]["id"]
    ids["version"] = str(plan.get("version", 1))
    consent = _ok(
        api.post(
            eh,
            "/v1/consents",
            json={
                "person_id": ids["person_id"],
                "given_by": {"name": "Fuzz Parent", "relationship": "parent"},
                "competence": "parental",
                "purposes": ["information_sharing"],
                "agencies": ["team_around_the_family"],
                "method": "verbal",
                "obtained_at": datetime.now(UTC).isoformat(),
            },
        ),
        201,
    )
    ids["consent_id"] = consent["id"]
    decision = _ok(
        api.post(
            mash,
            "/v1/sharing-decisions",
            json={
                "person_id": ids["person_id"],
                "agency_id": eh_agency,
                "purpose": "information_sharing",
                "decision": "do_not_share",
                "justification": "fuzz",
                "decided_by": "Fuzz Decider",
            },
        ),
        201,
    )
    ids["decision_id"] = decision["id"]
    subscription = _ok(
        api.post(
            mash, "/v1/subscriptions", json={"url": SAFE_WEBHOOK_URL, "event_types": ["referral.linked"]}
        ),
        201,
    )
    ids["subscription_id"] = subscription["id"]
    created = _ok(
        api.post(admin, "/v1/admin/clients", json={"name": "Fuzz client", "agency_type": "voluntary"}), 201
    )
    ids["client_ref"] = created.get("client_id") or created["client"]["client_id"]
    notes = _eventually(lambda: api.get(school, "/v1/notifications").json()["items"], timeout=10)
    if notes:
        ids["notification_id"] = notes[0]["id"]
    rules = api.get(admin, "/v1/deadline-rules").json()
    items = rules["items"] if isinstance(rules, dict) else rules
    if items:
        ids["kind"] = items[0]["kind"]
    return ids


@pytest.fixture(scope="module")
def fuzz(stack: Any, api: Any) -> Any:
    # Invalid input must be refused with a client error, whichever (412, 413 and 428 included).
    config = SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": ["4xx"]}}}
    )
    schema = schemathesis.openapi.from_url(f"{stack.gateway_url}/openapi.json", config=config)
    clients = api.get("demo-admin", "/v1/admin/clients", params={"limit": 200}).json()
    rows = clients["items"] if isinstance(clients, dict) else clients
    protected = {str(c.get(k)) for c in rows for k in ("id", "client_id") if c.get(k)}
    protected |= {"demo-mash", "demo-early-help", "demo-admin", "demo-education", "demo-police"}
    rules_before = api.get("demo-admin", "/v1/deadline-rules").json()
    fz = Fuzz(stack.gateway_url, schema, api, make_objects(api), protected)
    yield fz
    fz.session.close()
    # Put back any deadline rule the fuzzing changed (the other end-to-end tests rely on them).
    for rule in rules_before["items"] if isinstance(rules_before, dict) else rules_before:
        body = {
            k: rule[k]
            for k in ("amount", "unit", "reminder_lead_hours", "escalation_delay_hours", "escalation_target")
            if k in rule
        }
        restored = api.put("demo-admin", f"/v1/deadline-rules/{rule['kind']}", json=body)
        assert restored.status_code == 200, restored.text


# --- tests ----------------------------------------------------------------------------------


def test_every_published_operation_is_fuzzed(fuzz):
    published = {(op.method.upper(), op.path) for op in (r.ok() for r in fuzz.schema.get_all_operations())}
    assert published == set(OPERATIONS), {
        "published but not fuzzed": sorted(published - set(OPERATIONS)),
        "in the route table but not published": sorted(set(OPERATIONS) - published),
    }


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation(fuzz, method, path):
    operation = fuzz.schema[path][method]
    scope = operation.definition.raw.get("x-required-scope") if hasattr(operation, "definition") else None
    headers = fuzz.headers(method, path, scope)
    budget = BUDGET_SECONDS / len(OPERATIONS)
    started = time.monotonic()
    findings: list[Finding] = []
    names = [p.name for p in operation.path_parameters]
    real = {n: fuzz.ids[n] for n in names if n in fuzz.ids}
    plans: list[tuple[GenerationMode, dict[str, Any] | None]]
    if names and len(real) == len(names):
        # Random ids only ever meet 404: valid cases go to the real objects, invalid ones both ways.
        plans = [
            (GenerationMode.POSITIVE, real),
            (GenerationMode.NEGATIVE, real),
            (GenerationMode.NEGATIVE, None),
        ]
    else:
        plans = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
    for i, (mode, path_parameters) in enumerate(plans):
        # Each run gets its share of what is left, so one slow run cannot starve the rest.
        stop_at = time.monotonic() + (budget - (time.monotonic() - started)) / (len(plans) - i)
        findings += run_cases(fuzz, operation, mode, headers, stop_at, path_parameters)
    report = "\n\n".join(f"[{f.mode}] {f.operation} -> {f.status}\n{f.message}" for f in findings)
    known = {
        why
        for f in findings
        for (prefix, pattern), why in KNOWN_ISSUES.items()
        if path.startswith(prefix) and re.search(pattern, f.message)
    }
    unknown = [
        f
        for f in findings
        if not any(
            path.startswith(prefix) and re.search(pattern, f.message) for prefix, pattern in KNOWN_ISSUES
        )
    ]
    if findings and not unknown:
        pytest.xfail("known: " + "; ".join(sorted(known)))
    assert not unknown, report


EDGE_DATES = [
    ("/v1/reports/referrals", name, value)
    for name in ("from", "to")
    for value in ("0001-01-01", "9999-12-31")
] + [
    ("/v1/reports/episodes", name, value)
    for name in ("opened_from", "opened_to")
    for value in ("0001-01-01", "9999-12-31")
]


@pytest.mark.parametrize(
    ("path", "name", "value"), EDGE_DATES, ids=[f"{p}?{n}={v}" for p, n, v in EDGE_DATES]
)
def test_the_first_and_last_dates_are_never_a_server_error(api, path, name, value):
    """Valid by the schema, at the edges of the calendar: answered (200) or refused (4xx), never 5xx."""
    resp = api.get("demo-mash", path, params={name: value})
    assert resp.status_code < 500, (resp.status_code, resp.text[:300])


def _numbers_for_dates(fuzz: Any) -> list[tuple[str, str, str, dict[str, Any], str]]:
    """(client, method, path, request options, the field the problem must name): a number
    where a date or date-time goes, in bodies and in query strings, across the services."""
    child = referral_body("Numa", "Numberson", "S60 1AE", "2016-01-02")
    child["children"][0]["date_of_birth"] = 1451692800  # 2016-01-02 as Unix seconds
    consent_at = referral_body("Numa", "Numberson", "S60 1AE", "2016-01-02")
    consent_at["consent"] = {**CONSENT, "obtained_at": 0}
    return [
        ("demo-education", "POST", "/v1/referrals", {"json": child}, "children.0.date_of_birth"),
        ("demo-education", "POST", "/v1/referrals", {"json": consent_at}, "consent.obtained_at"),
        (
            "demo-mash",
            "POST",
            "/v1/sharing-decisions",
            {
                "json": {
                    "person_id": fuzz.ids["person_id"],
                    "agency_id": "any-agency",
                    "purpose": "information_sharing",
                    "decision": "do_not_share",
                    "justification": "numbers",
                    "decided_by": "Num Ber",
                    "decided_at": 1700000000,
                }
            },
            "decided_at",
        ),
        ("demo-mash", "GET", "/v1/reports/referrals", {"params": {"from": "0.0"}}, "from"),
        ("demo-mash", "GET", "/v1/reports/episodes", {"params": {"opened_to": "20260131"}}, "opened_to"),
        (
            "demo-mash",
            "GET",
            "/v1/people",
            {"params": {"family_name": "X", "date_of_birth": "0"}},
            "date_of_birth",
        ),
        ("demo-admin", "GET", "/v1/admin/audit", {"params": {"from": "1700000000"}}, "from"),
    ]


def test_a_number_is_never_taken_for_a_date(fuzz, api):
    """pydantic's lax mode would read these as Unix time (1970-01-01 and on); each is a 422
    problem naming the field, and nothing is stored."""
    for client, method, path, options, named in _numbers_for_dates(fuzz):
        resp = (api.get if method == "GET" else api.post)(client, path, **options)
        assert resp.status_code == 422, (path, named, resp.status_code, resp.text[:300])
        assert resp.headers["content-type"].startswith("application/problem+json")
        fields = [e["field"] for e in resp.json()["errors"]]
        assert named in fields, (path, fields)
        assert "not a number" in resp.text, resp.text[:300]
    # Neither refused referral reached the person index.
    found = api.get("demo-mash", "/v1/people", params={"family_name": "Numberson", "postcode": "S60 1AE"})
    assert found.status_code == 200, found.text[:300]
    assert found.json()["items"] == []
