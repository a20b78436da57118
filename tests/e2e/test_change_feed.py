"""`?updated_since=` and the change feed through the real gateway (issue 20, items 4 and 5).

For each list: note the time, change (or create) an object, note the time again; listed with
`updated_since` before the change the object is there, after it it is not. The feed: the MASH
hears of a referral as it arrives (`referral.received`), and a plan's action owner is told
its action was assigned (`action.assigned`), each with an `href` it can follow.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.test_journeys import agency_id, decide, eventually, referral_body

pytestmark = pytest.mark.e2e

ADMIN, SCHOOL, MASH, EH = "demo-admin", "demo-education", "demo-mash", "demo-early-help"


def moment() -> str:
    """Now, as a client sends it (with its offset), between two clearly ordered instants."""
    time.sleep(0.05)
    at = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    return at


def new_referral(api) -> dict[str, Any]:
    # A child of its own (never matched to another referral's, so never linked to a case).
    n = uuid.uuid4().int
    dob = f"{2010 + n % 10}-{1 + n % 12:02d}-{1 + n % 28:02d}"
    body = referral_body(given=f"Cf{uuid.uuid4().hex[:6]}", family=f"Feed{uuid.uuid4().hex[:6]}", dob=dob)
    r = api.post(SCHOOL, "/v1/referrals", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def family(api) -> dict[str, Any]:
    """A referral decided into an episode with a lead professional; the child's person id."""
    ref = new_referral(api)
    rid = ref["id"]
    person = api.get(MASH, f"/v1/referrals/{rid}").json()["children"][0]["person_id"]
    assert decide(api, rid).status_code in (200, 201)
    episode_id = eventually(lambda: api.get(SCHOOL, f"/v1/referrals/{rid}").json().get("episode_id"))
    assert episode_id
    return {"referral_id": rid, "person_id": person, "episode_id": episode_id}


def lead(api, family) -> str:
    r = api.put(
        EH,
        f"/v1/episodes/{family['episode_id']}/lead-professional",
        json={
            "name": "Lee Lead",
            "agency_id": agency_id(api, EH),
            "email": "lee@council.example",
            "family_agreed": True,
        },
    )
    assert r.status_code == 200, r.text
    return family["episode_id"]


def consent(api, family) -> str:
    r = api.post(
        EH,
        "/v1/consents",
        json={
            "person_id": family["person_id"],
            "given_by": {"name": "A Parent", "relationship": "parent"},
            "competence": "parental",
            "purposes": ["early_help_service"],
            "agencies": ["team_around_the_family"],
            "method": "phone",
            "obtained_at": datetime.now(UTC).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def team(api, _family) -> str:
    r = api.post(ADMIN, "/v1/teams", json={"name": f"Team {uuid.uuid4().hex[:8]}"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def withdrawn_referral(api, _family) -> str:
    rid = new_referral(api)["id"]
    time.sleep(0.05)
    r = api.post(SCHOOL, f"/v1/referrals/{rid}/withdraw", json={"reason": "Sent in error"})
    assert r.status_code in (200, 201), r.text
    return rid


def queued_referral(api, _family) -> str:
    return new_referral(api)["id"]


def contact(api, family) -> str:
    body = {"contact_at": datetime.now(UTC).isoformat(), "method": "phone", "notes": "Spoke to mum."}
    r = api.post(EH, f"/v1/episodes/{family['episode_id']}/contacts", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def note(api, family) -> str:
    body = {"kind": "visit", "occurred_at": datetime.now(UTC).isoformat(), "text": "Home visit."}
    r = api.post(EH, f"/v1/episodes/{family['episode_id']}/notes", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def relationship(api, family) -> str:
    rid = new_referral(api)["id"]
    sibling = api.get(MASH, f"/v1/referrals/{rid}").json()["children"][0]["person_id"]
    body = {"related_person_id": sibling, "type": "sibling_of"}
    r = api.post(MASH, f"/v1/people/{family['person_id']}/relationships", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def correction(api, family) -> str:
    path = f"/v1/people/{family['person_id']}"
    etag = api.get(MASH, path).headers["etag"]
    body = {"given_name": f"Cf{uuid.uuid4().hex[:6]}", "reason": "Misspelt on the referral"}
    r = api.patch(MASH, path, json=body, headers={"If-Match": etag})
    assert r.status_code == 200, r.text
    return r.json()["correction"]["id"]


def practitioner(api, _family) -> str:
    body = {
        "name": "Pip Feed",
        "email": f"pip.{uuid.uuid4().hex[:8]}@school.example",
        "roles": ["agency_practitioner"],
    }
    r = api.post(SCHOOL, "/v1/practitioners", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def client(api, _family) -> str:
    r = api.post(
        ADMIN, "/v1/admin/clients", json={"name": f"Feed {uuid.uuid4().hex[:6]}", "agency_type": "housing"}
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


# (list, client, path, params, change -> the id expected, the item's id field)
CASES: list[tuple[str, str, Callable[[dict], str], Callable[[dict], dict], Callable[..., str], str]] = [
    ("referrals", MASH, lambda f: "/v1/referrals", lambda f: {}, withdrawn_referral, "id"),
    ("mash queue", MASH, lambda f: "/v1/mash/queue", lambda f: {}, queued_referral, "id"),
    ("episodes", EH, lambda f: "/v1/episodes", lambda f: {}, lead, "id"),
    ("consents", EH, lambda f: "/v1/consents", lambda f: {"person_id": f["person_id"]}, consent, "id"),
    ("teams", ADMIN, lambda f: "/v1/teams", lambda f: {}, team, "id"),
    ("contacts", EH, lambda f: f"/v1/episodes/{f['episode_id']}/contacts", lambda f: {}, contact, "id"),
    ("notes", EH, lambda f: f"/v1/episodes/{f['episode_id']}/notes", lambda f: {}, note, "id"),
    (
        "chronology",
        EH,
        lambda f: f"/v1/episodes/{f['episode_id']}/chronology",
        lambda f: {},
        note,
        "source.id",
    ),
    (
        "relationships",
        MASH,
        lambda f: f"/v1/people/{f['person_id']}/relationships",
        lambda f: {},
        relationship,
        "id",
    ),
    (
        "person history",
        MASH,
        lambda f: f"/v1/people/{f['person_id']}/history",
        lambda f: {},
        correction,
        "id",
    ),
    ("practitioners", SCHOOL, lambda f: "/v1/practitioners", lambda f: {}, practitioner, "id"),
    ("clients", ADMIN, lambda f: "/v1/admin/clients", lambda f: {}, client, "id"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_updated_since_lists_what_changed_after_the_moment(api, family, case):
    _name, client, path_of, params_of, change, id_field = case
    path, params = path_of(family), params_of(family)
    before = moment()
    changed = change(api, family)
    after = moment()

    def ids(since: str) -> list[str]:
        query = {**params, "updated_since": since}
        if "/people/" not in path:  # the person's lists are whole, not pages
            query["limit"] = 200
        r = api.get(client, path, params=query)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        return [item["source"]["id"] if id_field == "source.id" else item[id_field] for item in items]

    assert changed in ids(before)
    assert changed not in ids(after)


@pytest.mark.parametrize("bad", ["2026-06-01T09:30:00", "1700000000", "yesterday"])
def test_updated_since_needs_a_moment_with_its_offset(api, bad):
    r = api.get(MASH, "/v1/referrals", params={"updated_since": bad})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "updated_since"


def test_the_feed_and_deadlines_change_as_referrals_arrive(api):
    before = moment()
    rid = new_referral(api)["id"]

    def received() -> list[dict[str, Any]]:
        items = api.get(MASH, "/v1/notifications", params={"updated_since": before}).json()["items"]
        return [n for n in items if n["kind"] == "referral.received" and n["referral_id"] == rid]

    [item] = eventually(received)
    assert item["data"]["href"] == f"/v1/referrals/{rid}"
    assert api.get(MASH, item["data"]["href"]).status_code == 200  # a link it can follow
    deadlines = eventually(
        lambda: api.get(MASH, "/v1/deadlines", params={"updated_since": before, "referral_id": rid}).json()[
            "items"
        ]
    )
    assert [d["kind"] for d in deadlines] == ["front_door_decision"]
    later = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    assert (
        api.get(MASH, "/v1/deadlines", params={"updated_since": later, "referral_id": rid}).json()["items"]
        == []
    )


def test_an_action_owner_hears_of_its_action(api, family):
    eid = lead(api, family)
    school_agency = agency_id(api, SCHOOL)
    due = (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
    target = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    plan = api.put(
        EH,
        f"/v1/episodes/{eid}/plan",
        json={
            "outcomes": [
                {
                    "headline": "good_education",
                    "description": "Attends school",
                    "measure": "Attendance %",
                    "baseline": "71%",
                    "target": "95%",
                    "target_on": target,
                }
            ],
            "actions": [
                {
                    "description": "Daily check-in",
                    "owner": {"agency_id": school_agency, "name": "Ms Head"},
                    "due_on": due,
                    "outcome_refs": [0],
                }
            ],
        },
    )
    assert plan.status_code in (200, 201), plan.text
    action_id = plan.json()["actions"][0]["id"]

    def assigned() -> list[dict[str, Any]]:
        items = api.get(SCHOOL, "/v1/notifications").json()["items"]
        return [
            n for n in items if n["kind"] == "action.assigned" and n["data"].get("action_id") == action_id
        ]

    [item] = eventually(assigned)
    assert item["data"]["href"] == f"/v1/episodes/{eid}/plan" and item["data"]["due_on"] == due
    deadlines = eventually(
        lambda: [
            d
            for d in api.get(EH, "/v1/deadlines", params={"episode_id": eid}).json()["items"]
            if d["kind"] == "action_due"
        ]
    )
    assert deadlines[0]["subject_id"] == action_id and deadlines[0]["assignee_agency_id"] == school_agency
