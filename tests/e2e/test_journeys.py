"""Families from scenarios.md, through the real gateway and all four real services.

Events travel through the real outboxes and relays, so effects in another service are
awaited (bounded polling), never assumed.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest
from jose import jwt

pytestmark = pytest.mark.e2e
SOON = (date.today() + timedelta(days=60)).isoformat()


def eventually(fn, timeout: float = 15.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def agency_id(api, client_id: str) -> str:
    return jwt.get_unverified_claims(api.token(client_id))["agency_id"]


def referral_body(given="Amira", family="Ahmed", dob="2017-03-14", postcode="LS1 4AP", **over):
    body = {
        "referral_type": "request_for_support",
        "referrer": {
            "name": "Ms Head",
            "role": "Designated safeguarding lead",
            "email": "dsl@oakfield.example",
        },
        "children": [{"given_name": given, "family_name": family, "date_of_birth": dob, "gender": "female"}],
        "adults": [{"given_name": "Samira", "family_name": family, "relationship": "mother"}],
        "address": {"line1": "1 Oak Street", "town": "Anytown", "postcode": postcode},
        "needs": ["school_attendance", "parental_mental_health"],
        "summary": "Attendance 71%; mother has depression; father works nights.",
        "significant_harm_suspected": False,
        "consent": {
            "obtained": True,
            "given_by": "Samira (mother)",
            "obtained_at": datetime.now(UTC).isoformat(),
            "method": "phone",
        },
    }
    body.update(over)
    return body


def decide(api, rid: str, outcome="team_around_the_family", level="partnership_plus"):
    return api.post(
        "demo-mash",
        f"/v1/referrals/{rid}/decision",
        json={
            "level_of_need": level,
            "outcome": outcome,
            "rag": "amber",
            "rationale": "Several needs; multi-agency early help with a lead professional.",
            "decided_by": {"name": "Dee Cision", "role": "MASH team manager"},
        },
    )


def test_ahmed_family_the_ordinary_path(api):
    school, eh = "demo-education", "demo-early-help"
    created = api.post(
        school, "/v1/referrals", json=referral_body(), headers={"Idempotency-Key": f"ahmed-{time.time_ns()}"}
    )
    assert created.status_code == 201, created.text
    ref = created.json()
    assert ref["status"] == "received" and ref["source_code"] == "2A"
    # A partner is not told the person index's ids (docs/referrals.md): the MASH reads it.
    assert ref["children"][0]["person_id"] is None
    rid = ref["id"]
    amira = api.get("demo-mash", f"/v1/referrals/{rid}").json()["children"][0]["person_id"]
    assert created.headers["location"].endswith(rid)

    # The front-door deadline exists in notifications, from the referral.received event.
    assert eventually(lambda: api.get("demo-mash", f"/v1/deadlines?referral_id={rid}").json().get("items"))

    # Another school cannot see it: 404, not 403.
    assert api.get("demo-education-2", f"/v1/referrals/{rid}").status_code == 404
    assert decide(api, rid).status_code in (200, 201)
    assert decide(api, rid).status_code == 409

    # The episode opens in assessments through the outbox, and the referral learns its id.
    episode_id = eventually(lambda: api.get(school, f"/v1/referrals/{rid}").json().get("episode_id"))
    assert episode_id
    # The referrer hears the outcome in its feed.
    assert eventually(
        lambda: any(
            n.get("referral_id") == rid or rid in str(n)
            for n in api.get(school, "/v1/notifications").json()["items"]
        )
    )

    lead = api.put(
        eh,
        f"/v1/episodes/{episode_id}/lead-professional",
        json={
            "name": "Erin Early",
            "agency_id": agency_id(api, eh),
            "email": "erin@council.example",
            "family_agreed": True,
        },
    )
    assert lead.status_code == 200, lead.text
    school_agency = agency_id(api, school)
    taf = api.post(
        eh,
        f"/v1/episodes/{episode_id}/taf-members",
        json={"agency_id": school_agency, "agency_type": "education", "name": "Ms Head", "role": "DSL"},
    )
    assert taf.status_code == 201, taf.text
    # The school is on the TAF but no information-sharing consent is recorded yet: 404.
    assert api.get(school, f"/v1/episodes/{episode_id}").status_code == 404
    consent = api.post(
        eh,
        "/v1/consents",
        json={
            "person_id": amira,
            "given_by": {"name": "Samira Ahmed", "relationship": "parent"},
            "competence": "parental",
            "purposes": ["early_help_service", "information_sharing"],
            "agencies": ["team_around_the_family"],
            "method": "verbal",
            "obtained_at": datetime.now(UTC).isoformat(),
        },
    )
    assert consent.status_code == 201, consent.text
    assert eventually(lambda: api.get(school, f"/v1/episodes/{episode_id}").status_code == 200, timeout=5)

    contact = api.post(
        eh,
        f"/v1/episodes/{episode_id}/contacts",
        json={"contact_at": datetime.now(UTC).isoformat(), "method": "phone", "notes": "Spoke to mum."},
    )
    assert contact.status_code == 201, contact.text
    assessment = api.post(
        eh,
        f"/v1/episodes/{episode_id}/assessments",
        json={
            "family_members": [
                {"role": "child", "views": "likes school", "strengths": ["reading"], "needs": ["attendance"]}
            ],
            "baseline": {"school_attendance_percent": 71, "exclusions": 0},
            "analysis": "Attendance falls when mum is unwell.",
            "priorities": ["attendance"],
        },
    ).json()
    aid = assessment["id"]
    assert api.post(eh, f"/v1/assessments/{aid}/submit").status_code == 200
    approved = api.post(
        eh,
        f"/v1/assessments/{aid}/approve",
        json={"approved_by": {"name": "Mo Manager", "role": "team manager"}},
    )
    assert approved.json()["status"] == "approved", approved.text

    plan = api.put(
        eh,
        f"/v1/episodes/{episode_id}/plan",
        json={
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
                    "owner": {"agency_id": school_agency, "name": "Ms Head"},
                    "due_on": SOON,
                    "outcome_refs": [0],
                }
            ],
        },
    )
    assert plan.status_code in (200, 201), plan.text
    plan = plan.json()
    outcome_id, action = plan["outcomes"][0]["id"], plan["actions"][0]

    # The school updates its own action; the police cannot.
    current = api.get(school, f"/v1/episodes/{episode_id}/plan")
    assert current.status_code == 200, current.text
    etag = next(a for a in current.json()["actions"] if a["id"] == action["id"])["etag"]
    upd = api.patch(
        school, f"/v1/actions/{action['id']}", json={"status": "in_progress"}, headers={"If-Match": etag}
    )
    assert upd.status_code == 200, upd.text
    stale = api.patch(
        school, f"/v1/actions/{action['id']}", json={"status": "completed"}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412
    assert (
        api.patch(
            "demo-police",
            f"/v1/actions/{action['id']}",
            json={"status": "completed"},
            headers={"If-Match": upd.headers["etag"]},
        ).status_code
        == 404
    )
    assert (
        api.patch(
            eh,
            f"/v1/actions/{action['id']}",
            json={"status": "completed"},
            headers={"If-Match": upd.headers["etag"]},
        ).status_code
        == 403
    )

    for held, score in ((date.today(), 3), (date.today(), 6)):
        review = api.post(
            eh,
            f"/v1/episodes/{episode_id}/reviews",
            json={
                "held_on": held.isoformat(),
                "next_review_on": (held + timedelta(weeks=6)).isoformat(),
                "attendees": ["Erin", "Ms Head", "Samira"],
                "outcome_progress": [{"outcome_id": outcome_id, "score": score}],
            },
        )
        assert review.status_code == 201, review.text
    closed = api.post(
        eh,
        f"/v1/episodes/{episode_id}/close",
        json={"reason": "needs_met", "outcomes_achieved": [outcome_id], "summary": "Attendance 95%."},
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert (
        api.post(
            eh,
            f"/v1/episodes/{episode_id}/contacts",
            json={"contact_at": datetime.now(UTC).isoformat(), "method": "phone", "notes": "late"},
        ).status_code
        == 409
    )

    # The journey joins both services, in time order.
    journey = api.get("demo-mash", f"/v1/people/{amira}/journey").json()
    kinds = [i["kind"] for i in journey["items"]]
    assert {"referral_received", "referral_decided", "episode_opened", "episode_closed"} <= set(kinds), kinds
    assert kinds.count("review_held") == 2
    assert [i["at"] for i in journey["items"]] == sorted(i["at"] for i in journey["items"])
    assert not journey.get("incomplete")

    # The school's reads are in the disclosure log; the council can export it.
    disclosures = eventually(
        lambda: [
            d
            for d in api.get(eh, f"/v1/people/{amira}/disclosures").json()["items"]
            if d["agency_id"] == school_agency
        ],
        timeout=15,
    )
    assert disclosures, "the school's reads were not logged"
    # A MASH read is logged too, on the basis of its screening function; early help's are not.
    assert api.get("demo-mash", f"/v1/episodes/{episode_id}").status_code == 200
    mash_agency = agency_id(api, "demo-mash")
    mash_reads = eventually(
        lambda: [
            d
            for d in api.get(eh, f"/v1/people/{amira}/disclosures").json()["items"]
            if d["agency_id"] == mash_agency
        ],
        timeout=15,
    )
    assert mash_reads and all(d["basis"] == "mash_screening" for d in mash_reads)
    eh_agency = agency_id(api, eh)
    assert not [
        d
        for d in api.get(eh, f"/v1/people/{amira}/disclosures").json()["items"]
        if d["agency_id"] == eh_agency
    ]
    csv = api.get(eh, f"/v1/people/{amira}/disclosures/export?format=csv")
    assert csv.status_code == 200 and school_agency in csv.text


def test_patel_family_consent_withdrawn_cuts_police_access(api):
    eh, police = "demo-early-help", "demo-police"
    ref = api.post(
        "demo-health",
        "/v1/referrals",
        json=referral_body(given="Ravi", family="Patel", dob="2015-08-01", postcode="M1 1AE"),
    ).json()
    assert decide(api, ref["id"]).status_code in (200, 201)
    episode_id = eventually(
        lambda: api.get("demo-mash", f"/v1/referrals/{ref['id']}").json().get("episode_id")
    )
    ravi = api.get("demo-mash", f"/v1/referrals/{ref['id']}").json()["children"][0]["person_id"]
    police_agency = agency_id(api, police)
    assert (
        api.post(
            eh,
            f"/v1/episodes/{episode_id}/taf-members",
            json={
                "agency_id": police_agency,
                "agency_type": "police",
                "name": "PC Vale",
                "role": "neighbourhood",
            },
        ).status_code
        == 201
    )
    consent = api.post(
        eh,
        "/v1/consents",
        json={
            "person_id": ravi,
            "given_by": {"name": "Mr Patel", "relationship": "parent"},
            "competence": "parental",
            "purposes": ["information_sharing"],
            "agencies": ["team_around_the_family"],
            "method": "verbal",
            "obtained_at": datetime.now(UTC).isoformat(),
        },
    ).json()
    assert eventually(lambda: api.get(police, f"/v1/episodes/{episode_id}").status_code == 200, timeout=5)
    reads = 1 + sum(api.get(police, f"/v1/episodes/{episode_id}").status_code == 200 for _ in range(2))
    assert reads == 3

    def police_disclosures():
        items = api.get(eh, f"/v1/people/{ravi}/disclosures").json()["items"]
        return [d for d in items if d["agency_id"] == police_agency]

    assert len(eventually(lambda: len(police_disclosures()) >= reads and police_disclosures())) == reads
    withdrawn = api.post(
        eh, f"/v1/consents/{consent['id']}/withdraw", json={"reason": "Father withdrew at review"}
    )
    assert withdrawn.status_code in (200, 201), withdrawn.text
    # Within 2 seconds the police read is refused, and a refused read is not a disclosure.
    withdrawn_at = time.monotonic()
    while (status := api.get(police, f"/v1/episodes/{episode_id}").status_code) == 200:
        reads += 1  # still served from the short access cache: a real disclosure
        assert time.monotonic() - withdrawn_at < 2.0
        time.sleep(0.1)
    assert status == 404
    assert api.get(police, f"/v1/episodes/{episode_id}").status_code == 404
    time.sleep(1.5)  # give any (wrongly) reported disclosure time to arrive
    assert len(eventually(lambda: len(police_disclosures()) >= reads and police_disclosures())) == reads
    time.sleep(0.5)
    assert len(police_disclosures()) == reads
    # The lead professional's agency (or MASH) is alerted; the episode shows the withdrawal.
    assert eventually(lambda: api.get(eh, f"/v1/episodes/{episode_id}").json().get("consent_withdrawn_at"))
