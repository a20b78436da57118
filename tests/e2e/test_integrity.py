"""Concurrency and integrity through the real gateway and services.

- Optimistic concurrency: many PATCHes sent at once with the same `If-Match` - exactly one
  wins (200), every other one is refused with 412, and the stored object is the winner's.
- Idempotency: ten concurrent retries of one create with one `Idempotency-Key` - exactly one
  record exists afterwards, and every answer is that record's 201 (first or replayed) or a
  409 "in progress" problem.
- Hostile bodies, to one create of each service: over the size limit (with a Content-Length,
  and chunked without one), 10,000 levels of nested arrays (the whole body, or one field),
  100,000-item arrays under the size limit - each refused with a 4xx problem+json, never a
  5xx, and nothing is stored.
- A NUL character in free text (valid JSON, refused by PostgreSQL's text type) is never a 5xx.

Requests are released together with a barrier, one HTTP client per thread, so they really
overlap at the gateway and in the service.
"""

from __future__ import annotations

import json
import random
import string
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from jose import jwt

pytestmark = pytest.mark.e2e

EH, MASH, POLICE = "demo-early-help", "demo-mash", "demo-police"
CONCURRENCY = 10
ROUNDS = 3
MAX_BODY_BYTES = 1_000_000  # shared.settings.max_body_bytes, the gateway's and the services' default
SOON = (date.today() + timedelta(days=60)).isoformat()


def unique_name() -> str:
    return "".join(random.choices(string.ascii_uppercase, k=10)).capitalize()


def referral_body(family: str) -> dict[str, Any]:
    return {
        "referral_type": "request_for_support",
        "referrer": {"name": "PC Vale", "role": "Neighbourhood officer", "email": "vale@police.example"},
        "children": [{"given_name": "Lena", "family_name": family, "date_of_birth": "2014-06-30"}],
        "adults": [{"given_name": "Ana", "family_name": family, "relationship": "mother"}],
        "address": {"line1": f"7 {family} Road", "town": "Anytown", "postcode": "LS2 7EW"},
        "needs": ["domestic_abuse"],
        "summary": "Integrity test referral.",
        "consent": {
            "obtained": True,
            "given_by": "Ana",
            "obtained_at": "2026-01-05T10:00:00Z",
            "method": "phone",
        },
    }


def together(n: int, send: Any) -> list[httpx.Response]:
    """Run `send(client, i)` in n threads released at once; one HTTP client per thread."""
    barrier = threading.Barrier(n)

    def run(i: int) -> httpx.Response:
        with httpx.Client(timeout=30) as client:
            barrier.wait(timeout=30)
            return send(client, i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def is_problem(resp: httpx.Response, status: int | None = None) -> bool:
    if resp.headers.get("content-type", "").split(";")[0] != "application/problem+json":
        return False
    body = resp.json()
    return body.get("status") == resp.status_code and (status is None or resp.status_code == status)


def eventually(fn: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def visible_referral_ids(api: Any, client: str) -> set[str]:
    ids: set[str] = set()
    params: dict[str, Any] = {"limit": 200}
    while True:
        page = api.get(client, "/v1/referrals", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        ids |= {r["id"] for r in body["items"]}
        if not body.get("next_cursor"):
            return ids
        params["cursor"] = body["next_cursor"]


@pytest.fixture(scope="module")
def episode(api: Any) -> dict[str, str]:
    """An open episode with a draft assessment and a plan whose action the early help team owns."""
    school = "demo-education"
    ref = api.post(school, "/v1/referrals", json=referral_body(unique_name()))
    assert ref.status_code == 201, ref.text
    rid = ref.json()["id"]
    decided = api.post(
        MASH,
        f"/v1/referrals/{rid}/decision",
        json={
            "level_of_need": "partnership_plus",
            "outcome": "team_around_the_family",
            "rag": "amber",
            "rationale": "integrity tests",
            "decided_by": {"name": "Dee Cision", "role": "MASH team manager"},
        },
    )
    assert decided.status_code in (200, 201), decided.text
    episode_id = eventually(lambda: api.get(MASH, f"/v1/referrals/{rid}").json().get("episode_id"))
    assert episode_id, "no episode opened"
    eh_agency = jwt.get_unverified_claims(api.token(EH))["agency_id"]
    assessment = api.post(
        EH,
        f"/v1/episodes/{episode_id}/assessments",
        json={"family_members": [{"role": "child", "needs": ["attendance"]}], "analysis": "first draft"},
    )
    assert assessment.status_code == 201, assessment.text
    plan = api.put(
        EH,
        f"/v1/episodes/{episode_id}/plan",
        json={
            "outcomes": [
                {
                    "headline": "good_education",
                    "description": "Lena attends school",
                    "measure": "attendance %",
                    "baseline": "70",
                    "target": "95",
                    "target_on": SOON,
                }
            ],
            "actions": [
                {
                    "description": "Weekly family session",
                    "owner": {"agency_id": eh_agency, "name": "Erin Early"},
                    "due_on": SOON,
                    "outcome_refs": [0],
                }
            ],
        },
    )
    assert plan.status_code in (200, 201), plan.text
    return {
        "episode_id": episode_id,
        "assessment_id": assessment.json()["id"],
        "action_id": plan.json()["actions"][0]["id"],
    }


# --- optimistic concurrency -----------------------------------------------------------------


def current_etag(api: Any, path: str, episode_id: str, action_id: str | None = None) -> tuple[str, dict]:
    if action_id is None:
        resp = api.get(EH, path)
        assert resp.status_code == 200, resp.text
        return resp.headers["etag"], resp.json()
    plan = api.get(EH, f"/v1/episodes/{episode_id}/plan")
    assert plan.status_code == 200, plan.text
    action = next(a for a in plan.json()["actions"] if a["id"] == action_id)
    return action["etag"], action


@pytest.mark.parametrize("target", ["assessment", "action"])
def test_concurrent_patches_with_one_if_match_exactly_one_wins(api, stack, episode, target):
    if target == "assessment":
        path, action_id, field = f"/v1/assessments/{episode['assessment_id']}", None, "analysis"
    else:
        path, action_id, field = f"/v1/actions/{episode['action_id']}", episode["action_id"], "progress_notes"
    auth = api.as_(EH)
    # A race is not lost every time: run it a few times, each from the current version.
    for round_ in range(ROUNDS):
        etag, _ = current_etag(api, path, episode["episode_id"], action_id)
        responses = together(
            CONCURRENCY,
            lambda client, i, etag=etag, round_=round_: client.patch(
                f"{stack.gateway_url}{path}",
                json={field: f"round {round_} writer {i}"},
                headers={**auth, "If-Match": etag},
            ),
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [412] * (CONCURRENCY - 1), (
            f"round {round_}: {statuses}",
            [(r.status_code, r.headers.get("etag")) for r in responses],
        )
        assert all(is_problem(r, 412) for r in responses if r.status_code == 412)
        winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
        new_etag, stored = current_etag(api, path, episode["episode_id"], action_id)
        assert new_etag != etag and new_etag == responses[winner].headers["etag"]
        assert stored[field] == f"round {round_} writer {winner}"
        # The old tag stays refused.
        stale = api.patch(EH, path, json={field: "late"}, headers={"If-Match": etag})
        assert stale.status_code == 412 and is_problem(stale, 412)


# --- idempotency ----------------------------------------------------------------------------


def test_concurrent_retries_of_one_idempotent_create_make_one_referral(api, stack):
    before = visible_referral_ids(api, POLICE)
    body = referral_body(unique_name())
    key = f"integrity-{time.time_ns()}"
    auth = api.as_(POLICE)
    responses = together(
        CONCURRENCY,
        lambda client, i: client.post(
            f"{stack.gateway_url}/v1/referrals", json=body, headers={**auth, "Idempotency-Key": key}
        ),
    )
    created = [r for r in responses if r.status_code == 201]
    in_progress = [r for r in responses if r.status_code == 409]
    assert len(created) + len(in_progress) == CONCURRENCY, [(r.status_code, r.text[:200]) for r in responses]
    assert created, "no request created the referral"
    assert all(is_problem(r, 409) for r in in_progress), [r.text for r in in_progress]
    assert len({json.dumps(r.json(), sort_keys=True) for r in created}) == 1, "201 bodies differ"
    rid = created[0].json()["id"]
    # A later retry replays the same 201.
    again = api.post(POLICE, "/v1/referrals", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.json()["id"] == rid, again.text
    assert visible_referral_ids(api, POLICE) - before == {rid}


# --- hostile bodies -------------------------------------------------------------------------

ENDPOINTS = [
    # (client, method, path) - one create per service, each parsing JSON itself.
    (POLICE, "POST", "/v1/referrals"),
    (EH, "POST", "/v1/consents"),
    (EH, "POST", "/v1/episodes"),
    (MASH, "POST", "/v1/subscriptions"),
    (MASH, "POST", "/v1/sharing-decisions"),
]


def base_body(path: str) -> tuple[dict[str, Any], str]:
    """A valid-looking body for the endpoint, and the name of one of its array fields."""
    person = "00000000-0000-4000-8000-00000000abcd"
    if path == "/v1/consents":
        return {
            "person_id": person,
            "given_by": {"name": "Ana", "relationship": "parent"},
            "competence": "parental",
            "purposes": ["information_sharing"],
            "agencies": ["team_around_the_family"],
            "method": "verbal",
            "obtained_at": "2026-01-05T10:00:00Z",
        }, "agencies"
    if path == "/v1/episodes":
        return {"origin": "self_referral", "person_ids": [person]}, "person_ids"
    if path == "/v1/subscriptions":
        return {"url": "http://127.0.0.1:9/hook", "event_types": ["referral.decided"]}, "event_types"
    if path == "/v1/sharing-decisions":
        return {
            "person_id": person,
            "agency_id": "agency-1",
            "purpose": "information_sharing",
            "decision": "do_not_share",
            "justification": "x",
            "decided_by": "y",
            "extra": [],
        }, "extra"
    return referral_body(unique_name()), "needs"


def oversized(path: str) -> bytes:
    body, field = base_body(path)
    body[field] = ["x" * 1000] * (MAX_BODY_BYTES // 1000 + 1)
    return json.dumps(body).encode()


def deeply_nested(path: str, depth: int = 10_000) -> bytes:
    return ("[" * depth + "]" * depth).encode()


def nested_in_field(path: str, depth: int = 10_000) -> bytes:
    body, field = base_body(path)
    text = json.dumps({k: v for k, v in body.items() if k != field})
    return (text[:-1] + f', "{field}": ' + "[" * depth + "]" * depth + "}").encode()


def huge_array(path: str, items: int = 100_000) -> bytes:
    # Short items, so the body stays under the size limit and reaches the validator.
    body, field = base_body(path)
    body[field] = ["x"] * items
    content = json.dumps(body).encode()
    assert len(content) < MAX_BODY_BYTES
    return content


def huge_array_of_objects(path: str, items: int = 100_000) -> bytes:
    body, field = base_body(path)
    body[field] = [{}] * items
    content = json.dumps(body).encode()
    assert len(content) < MAX_BODY_BYTES
    return content


BODIES = {
    "over the limit": oversized,
    "10,000 nested arrays": deeply_nested,
    "10,000 nested arrays in a field": nested_in_field,
    "100,000 strings in an array": huge_array,
    "100,000 objects in an array": huge_array_of_objects,
}


@pytest.fixture(scope="module")
def police_before(api: Any) -> set[str]:
    return visible_referral_ids(api, POLICE)


@pytest.mark.parametrize("kind", list(BODIES))
@pytest.mark.parametrize(("client", "method", "path"), ENDPOINTS, ids=[p for _, _, p in ENDPOINTS])
def test_hostile_bodies_are_refused_cleanly(api, client, method, path, kind, police_before):
    content = BODIES[kind](path)
    resp = api.http.request(
        method, path, content=content, headers={**api.as_(client), "content-type": "application/json"}
    )
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:300])
    assert is_problem(resp), (resp.status_code, resp.headers.get("content-type"), resp.text[:300])
    if kind == "over the limit":
        assert resp.status_code == 413


def test_over_the_limit_without_content_length_is_413(api, police_before):
    content = oversized("/v1/referrals")

    def chunks():  # a generator body goes out chunked, with no Content-Length to trust
        for i in range(0, len(content), 64 * 1024):
            yield content[i : i + 64 * 1024]

    resp = api.http.post(
        "/v1/referrals", content=chunks(), headers={**api.as_(POLICE), "content-type": "application/json"}
    )
    assert resp.status_code == 413 and is_problem(resp, 413), (resp.status_code, resp.text[:300])


NUL_TEXT = {
    # (client, method, path, body with a NUL character in a free-text field)
    "referral summary": (
        "demo-health",  # not the police: their referrals are counted by the test below
        "POST",
        "/v1/referrals",
        lambda: {**referral_body(unique_name()), "summary": "a\u0000b"},
    ),
    "consent given_by": (
        EH,
        "POST",
        "/v1/consents",
        lambda: {**base_body("/v1/consents")[0], "given_by": {"name": "A\u0000na", "relationship": "parent"}},
    ),
    "deadline rule escalation target": (
        "demo-admin",
        "PUT",
        "/v1/deadline-rules/assessment_start",
        lambda: {
            "amount": 10,
            "unit": "working_days",
            "reminder_lead_hours": 48,
            "escalation_delay_hours": 24,
            "escalation_target": "a\u0000@b.cd",
        },
    ),
}


@pytest.mark.parametrize("case", list(NUL_TEXT))
def test_a_nul_character_in_text_is_never_a_server_error(api, case):
    """JSON allows "\u0000" in a string; PostgreSQL text does not. Refuse it (4xx) or store it - never 500."""
    client, method, path, body = NUL_TEXT[case]
    if method == "PUT":
        before = api.get(client, "/v1/deadline-rules").json()["items"]
        rule = next(r for r in before if r["kind"] == path.rsplit("/", 1)[1])
    resp = api.http.request(method, path, json=body(), headers=api.as_(client))
    try:
        assert resp.status_code < 500, (resp.status_code, resp.text[:300])
        if resp.status_code >= 400:
            assert is_problem(resp), resp.text[:300]
    finally:
        if method == "PUT" and resp.status_code < 300:
            keys = ("amount", "unit", "reminder_lead_hours", "escalation_delay_hours", "escalation_target")
            api.put(client, path, json={k: rule[k] for k in keys})


def test_nothing_was_stored_by_refused_bodies(api, police_before):
    # Runs after the hostile-body tests (file order): the police see no new referral.
    assert visible_referral_ids(api, POLICE) == police_before
