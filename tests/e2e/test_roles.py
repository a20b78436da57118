"""People in roles, end to end through the gateway (issue 18).

Each test is one of the calls the issue found succeeding that must not, now refused with the
designed status (403 where the caller may know the object exists, 404 where it may not), and
the positive path beside it, so a refusal cannot pass by refusing everything. Practitioners
are the demo practitioners `make run` seeds (gateway/seed.py), reached through the OAuth 2.0
token exchange (RFC 8693) with their agency system's client credentials.
"""

from __future__ import annotations

import random
import string
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from jose import jwt

from gateway.seed import DEMO_PRACTITIONERS

pytestmark = pytest.mark.e2e

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
PRACTITIONER_TYPE = "urn:early-help:params:oauth:token-type:practitioner"
SCHOOL, SCHOOL_B, POLICE, VOLUNTARY = "demo-education", "demo-education-2", "demo-police", "demo-voluntary"
MASH, EH, ADMIN = "demo-mash", "demo-early-help", "demo-admin"
SOON = (datetime.now(UTC).date() + timedelta(days=40)).isoformat()


def practitioner(name: str) -> dict[str, Any]:
    """A demo practitioner by name (gateway.seed.DEMO_PRACTITIONERS)."""
    for p in DEMO_PRACTITIONERS:
        if p.name == name:
            return p._asdict()
    raise KeyError(name)


def exchange(api: Any, client: str, subject: str) -> httpx.Response:
    return api.http.post(
        "/oauth/token",
        data={"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": PRACTITIONER_TYPE},
        auth=(client, f"{client}-secret"),
    )


class Person:
    """Calls through the gateway as one practitioner (or as the agency's system)."""

    def __init__(self, api: Any, client: str, name: str | None = None) -> None:
        self.api, self.client = api, client
        if name is None:
            self.token = api.token(client)
            self.id = None
        else:
            resp = exchange(api, client, practitioner(name)["id"])
            assert resp.status_code == 200, resp.text
            self.token = resp.json()["access_token"]
            self.id = practitioner(name)["id"]
        self.agency_id = jwt.get_unverified_claims(self.token)["agency_id"]

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        return self.api.http.request(method, path, headers=headers, **kw)


def eventually(fn: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def random_name() -> str:
    """Letters only, so no two tests' families look alike to the person matcher."""
    return "".join(random.choices(string.ascii_lowercase, k=10)).capitalize()


def random_dob() -> str:
    return (date(2010, 1, 1) + timedelta(days=random.randrange(4000))).isoformat()


def referral_body(family: str, dob: str | None = None, nhs: str | None = None) -> dict[str, Any]:
    child: dict[str, Any] = {
        "given_name": random_name(),
        "family_name": family,
        "date_of_birth": dob or random_dob(),
    }
    if nhs:
        child["nhs_number"] = nhs
    return {
        "referral_type": "request_for_support",
        "referrer": {"name": "Jo Clarke", "role": "DSL", "email": "dsl@oakfield.example"},
        "children": [child],
        "adults": [],
        "address": {"line1": "1 Oak Street", "postcode": "S60 1AE"},
        "needs": ["school_attendance"],
        "summary": "Attendance 71%.",
        "consent": {
            "obtained": True,
            "given_by": "Mother",
            "obtained_at": datetime.now(UTC).isoformat(),
            "method": "phone",
        },
    }


DECISION = {
    "level_of_need": "partnership_plus",
    "outcome": "team_around_the_family",
    "rag": "amber",
    "rationale": "Several needs: multi-agency early help with a lead professional.",
    "decided_by": {"name": "Maya Manager", "role": "MASH team manager"},
}
ASSESSMENT = {
    "family_members": [{"role": "child", "views": "Likes school", "strengths": ["reading"], "needs": ["x"]}],
    "baseline": {"school_attendance_percent": 71},
    "analysis": "Attendance falls when mum is unwell.",
    "priorities": ["attendance"],
}


def consent(person_id: str) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "given_by": {"name": "A Parent", "relationship": "parent"},
        "competence": "parental",
        "purposes": ["early_help_service", "information_sharing"],
        "agencies": ["team_around_the_family"],
        "method": "verbal",
        "obtained_at": datetime.now(UTC).isoformat(),
    }


def open_case(api: Any) -> dict[str, Any]:
    """School refers, MASH decides TAF, early help names the school on the TAF, family consents."""
    school, mash, eh = Person(api, SCHOOL, "Tom Teacher"), Person(api, MASH, "Maya Manager"), Person(api, EH)
    family = random_name()
    ref = school.call("POST", "/v1/referrals", json=referral_body(family))
    assert ref.status_code == 201, ref.text
    rid = ref.json()["id"]
    # A partner is not told the person index's ids (docs/referrals.md): the MASH reads them.
    child = mash.call("GET", f"/v1/referrals/{rid}").json()["children"][0]["person_id"]
    decided = mash.call("POST", f"/v1/referrals/{rid}/decision", json=DECISION)
    assert decided.status_code in (200, 201), decided.text
    episode_id = eventually(lambda: mash.call("GET", f"/v1/referrals/{rid}").json().get("episode_id"))
    assert episode_id
    added = eh.call(
        "POST",
        f"/v1/episodes/{episode_id}/taf-members",
        json={
            "agency_id": school.agency_id,
            "agency_type": "education",
            "name": "Tom Teacher",
            "role": "DSL",
            "practitioner_id": school.id,
            "family_agreed": True,
        },
    )
    assert added.status_code == 201, added.text
    given = eh.call("POST", "/v1/consents", json=consent(child))
    assert given.status_code == 201, given.text
    assert eventually(lambda: school.call("GET", f"/v1/episodes/{episode_id}").status_code == 200)
    return {"referral_id": rid, "child": child, "episode_id": episode_id, "family": family}


def problem_type(resp: httpx.Response) -> str:
    return str(resp.json().get("type", "")).rsplit("/", 1)[-1]


# --- the token exchange -------------------------------------------------------------------------


def test_token_exchange_names_the_practitioner_and_the_acting_client(api):
    tom = practitioner("Tom Teacher")
    resp = exchange(api, SCHOOL, tom["id"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert resp.headers["cache-control"] == "no-store"
    claims = jwt.get_unverified_claims(body["access_token"])
    assert claims["sub"] == tom["id"] and claims["act"] == {"sub": SCHOOL}
    assert claims["roles"].split() == ["agency_practitioner"]
    # Another agency's practitioner cannot be named by this client.
    assert exchange(api, SCHOOL, practitioner("Pat Officer")["id"]).json()["error"] == "invalid_grant"


# --- the calls the issue found succeeding -----------------------------------------------------


def test_partners_cannot_open_an_episode_and_no_one_opens_one_for_an_unknown_person(api):
    case = open_case(api)
    body = {"origin": "self_referral", "person_ids": [case["child"]], "level_of_need": "partnership_plus"}
    for client, name in ((SCHOOL, "Tom Teacher"), (POLICE, "Pat Officer"), (VOLUNTARY, None)):
        resp = Person(api, client, name).call("POST", "/v1/episodes", json=body)
        assert resp.status_code == 403, (client, resp.text)
    manager = Person(api, EH, "Eddie Manager")
    unknown = {**body, "person_ids": [str(uuid.uuid4())]}
    resp = manager.call("POST", "/v1/episodes", json=unknown)
    assert resp.status_code == 422, resp.text
    assert any("person_ids" in str(e.get("field", e)) for e in resp.json()["errors"])
    # An early help practitioner (not a manager) has no self-referral route either.
    assert Person(api, EH, "Ellie Practitioner").call("POST", "/v1/episodes", json=body).status_code == 403
    opened = manager.call("POST", "/v1/episodes", json=body)
    assert opened.status_code == 201, opened.text


def test_a_school_on_the_taf_cannot_name_the_police_and_late_members_need_the_familys_agreement(api):
    case = open_case(api)
    eid = case["episode_id"]
    school, police, eh = (
        Person(api, SCHOOL, "Tom Teacher"),
        Person(api, POLICE, "Pat Officer"),
        Person(api, EH),
    )
    member = {"agency_id": police.agency_id, "agency_type": "police", "name": "Pat Officer", "role": "PCSO"}
    refused = school.call("POST", f"/v1/episodes/{eid}/taf-members", json=member)
    assert refused.status_code == 403, refused.text
    # Early help adds the police after the family's consent, without the family agreeing.
    added = eh.call("POST", f"/v1/episodes/{eid}/taf-members", json={**member, "family_agreed": False})
    assert added.status_code == 201, added.text
    assert added.json()["family_agreed"] is False
    aid = eh.call("POST", f"/v1/episodes/{eid}/assessments", json=ASSESSMENT).json()["id"]
    assert police.call("GET", f"/v1/episodes/{eid}").status_code == 404
    assert police.call("GET", f"/v1/assessments/{aid}").status_code == 404
    # With the family's agreement recorded (a new membership), the consent covers them.
    member_id = added.json()["id"]
    assert eh.call("DELETE", f"/v1/episodes/{eid}/taf-members/{member_id}").status_code in (200, 204)
    agreed = eh.call("POST", f"/v1/episodes/{eid}/taf-members", json={**member, "family_agreed": True})
    assert agreed.status_code == 201, agreed.text
    assert eventually(lambda: police.call("GET", f"/v1/episodes/{eid}").status_code == 200, timeout=10)


def test_a_school_on_the_taf_cannot_run_the_case(api):
    case = open_case(api)
    eid = case["episode_id"]
    school, eh = Person(api, SCHOOL, "Tom Teacher"), Person(api, EH)
    lead = {
        "name": "Tom Teacher",
        "agency_id": school.agency_id,
        "email": "tom@oakfield.example",
        "family_agreed": False,
    }
    assert school.call("PUT", f"/v1/episodes/{eid}/lead-professional", json=lead).status_code == 403
    # Early help is refused too while the family has not agreed.
    no_agreement = eh.call("PUT", f"/v1/episodes/{eid}/lead-professional", json=lead)
    assert no_agreement.status_code == 422 and "family_agreed" in no_agreement.text
    plan = {
        "outcomes": [
            {
                "headline": "good_education",
                "description": "Attends school",
                "measure": "attendance %",
                "baseline": "71",
                "target": "95",
                "target_on": SOON,
            }
        ],
        "actions": [
            {
                "description": "Daily check-in",
                "owner": {"agency_id": school.agency_id, "name": "Tom Teacher"},
                "due_on": SOON,
                "outcome_refs": [0],
            }
        ],
    }
    assert school.call("PUT", f"/v1/episodes/{eid}/plan", json=plan).status_code == 403
    assert school.call("POST", f"/v1/episodes/{eid}/step-up", json={"reason": "Worse."}).status_code == 403
    close = {"reason": "needs_met", "outcomes_achieved": [], "summary": "Attending."}
    assert school.call("POST", f"/v1/episodes/{eid}/close", json=close).status_code == 403
    # The school's own assessment: it cannot approve it.
    started = school.call("POST", f"/v1/episodes/{eid}/assessments", json=ASSESSMENT)
    if started.status_code == 201:
        aid = started.json()["id"]
        assert school.call("POST", f"/v1/assessments/{aid}/submit").status_code == 200
        approve = {"approved_by": {"name": "Tom Teacher", "role": "DSL"}}
        assert school.call("POST", f"/v1/assessments/{aid}/approve", json=approve).status_code == 403
    else:
        assert started.status_code == 403, started.text
    # None of it happened.
    episode = eh.call("GET", f"/v1/episodes/{eid}").json()
    assert episode["status"] == "open" and episode.get("lead_professional") is None
    assert eh.call("GET", f"/v1/episodes/{eid}/plan").status_code == 404


def test_an_assessment_is_approved_by_a_manager_who_did_not_write_it(api):
    case = open_case(api)
    eid = case["episode_id"]
    eddie, erin = Person(api, EH, "Eddie Manager"), Person(api, EH, "Erin Manager")
    ellie = Person(api, EH, "Ellie Practitioner")
    aid = eddie.call("POST", f"/v1/episodes/{eid}/assessments", json=ASSESSMENT).json()["id"]
    assert eddie.call("POST", f"/v1/assessments/{aid}/submit").status_code == 200
    # The managers' worklist shows it.
    awaiting = erin.call("GET", "/v1/assessments", params={"status": "submitted"})
    assert awaiting.status_code == 200 and aid in {a["id"] for a in awaiting.json()["items"]}
    assert ellie.call("GET", "/v1/assessments", params={"status": "submitted"}).status_code == 403
    approve = {"approved_by": {"name": "A Manager", "role": "Early help team manager"}}
    assert eddie.call("POST", f"/v1/assessments/{aid}/approve", json=approve).status_code == 403
    assert ellie.call("POST", f"/v1/assessments/{aid}/approve", json=approve).status_code == 403
    done = erin.call("POST", f"/v1/assessments/{aid}/approve", json=approve)
    assert done.status_code == 200 and done.json()["status"] == "approved", done.text


def nhs_number() -> str:
    """A random NHS number with a valid modulus 11 check digit."""
    while True:
        digits = [int(d) for d in f"{uuid.uuid4().int % 10**9:09d}"]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def test_a_second_agencys_referral_learns_nothing_of_the_first(api):
    nhs = nhs_number()
    family = random_name()
    first_name = f"Zed{uuid.uuid4().hex[:6]}"
    first_body = referral_body(family, dob="2016-05-06", nhs=nhs)
    first_body["children"][0]["given_name"] = first_name
    first_body["address"] = {"line1": "9 Elm Road", "postcode": "S60 9ZZ"}
    first = Person(api, SCHOOL, "Tom Teacher").call("POST", "/v1/referrals", json=first_body)
    assert first.status_code == 201, first.text
    first_id = first.json()["id"]
    police = Person(api, POLICE, "Pat Officer")
    second_body = referral_body(family, dob="2016-05-06", nhs=nhs)
    second_body["children"][0]["given_name"] = "Amy"  # the first spelled her name differently
    second = police.call("POST", "/v1/referrals", json=second_body)
    assert second.status_code == 201, second.text
    readback = police.call("GET", f"/v1/referrals/{second.json()['id']}")
    listed = police.call("GET", "/v1/referrals")
    for resp in (second, readback, listed):
        assert resp.status_code in (200, 201)
        text = resp.text
        assert first_id not in text and first_name not in text and "S60 9ZZ" not in text
    # MASH sees the match.
    mash_view = Person(api, MASH, "Sam Screener").call("GET", f"/v1/referrals/{second.json()['id']}")
    assert mash_view.status_code == 200


def test_personal_data_is_not_cached_and_a_missing_token_is_no_error(api):
    case = open_case(api)
    mash = Person(api, MASH, "Sam Screener")
    for path in (f"/v1/referrals/{case['referral_id']}", f"/v1/episodes/{case['episode_id']}"):
        resp = mash.call("GET", path)
        assert resp.status_code == 200 and resp.headers["cache-control"] == "no-store", path
    bare = api.http.get("/v1/referrals")
    assert bare.status_code == 401 and "error=" not in bare.headers["www-authenticate"]


def test_who_looked_at_this_childs_record(api):
    case = open_case(api)
    tom = Person(api, SCHOOL, "Tom Teacher")
    assert tom.call("GET", f"/v1/episodes/{case['episode_id']}").status_code == 200
    eh = Person(api, EH)

    def disclosed_to_tom() -> bool:
        resp = eh.call("GET", f"/v1/people/{case['child']}/disclosures")
        return any(d.get("practitioner_id") == tom.id for d in resp.json()["items"])

    assert eventually(disclosed_to_tom)
    audit = Person(api, ADMIN).call("GET", "/v1/admin/audit", params={"practitioner_id": tom.id})
    assert audit.status_code == 200, audit.text
    rows = audit.json()["items"]
    assert any(r["route"] == "/v1/episodes/{episode_id}" and r["practitioner_id"] == tom.id for r in rows)
