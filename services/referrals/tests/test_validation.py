"""Every bad Request for Support is a 422 problem naming the field (and the rule, for consent)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.referrals.tests.conftest import child, rfs
from shared.clock import london_today

VALIDATION = "https://early-help.example/problems/validation-error"


def tomorrow() -> str:
    return (london_today() + timedelta(days=1)).isoformat()


def _years_ago_plus(years: int, days: int) -> str:
    today = london_today()
    try:
        then = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        then = today.replace(year=today.year - years, day=28)
    return (then + timedelta(days=days)).isoformat()


def with_child(**fields):
    return rfs(children=[{**rfs()["children"][0], **fields}])


# Cases that depend on today's date are built when the test runs, not when it is collected:
# a run that crosses midnight would otherwise send "tomorrow" on the day it names.
DATED = {
    "date of birth in the future": lambda: with_child(date_of_birth=tomorrow()),
    "older than 25": lambda: with_child(date_of_birth=_years_ago_plus(26, 0)),
    "both born and unborn": lambda: with_child(unborn_expected_on=tomorrow()),
}


CASES = {
    "date of birth in the future": (None, "children.0.date_of_birth"),
    "older than 25": (None, "children.0.date_of_birth"),
    "NHS number fails modulus 11": (with_child(nhs_number="9434765918"), "children.0.nhs_number"),
    "NHS number not 10 digits": (with_child(nhs_number="12345"), "children.0.nhs_number"),
    "malformed postcode": (
        rfs(address={"line1": "1 Oak Street", "postcode": "NOT A POSTCODE"}),
        "address.postcode",
    ),
    "postcode with impossible letters": (
        rfs(address={"line1": "1 Oak Street", "postcode": "QV1 1AA"}),
        "address.postcode",
    ),
    "unknown need code": (rfs(needs=["school_attendance", "being_a_teenager"]), "needs.1"),
    "no needs": (rfs(needs=[]), "needs"),
    "empty children list": (rfs(children=[]), "children"),
    "over-long summary": (rfs(summary="x" * 5001), "summary"),
    "over-long child name": (with_child(given_name="A" * 101), "children.0.given_name"),
    "over-long referrer role": (rfs(referrer={"name": "Jo", "role": "r" * 121}), "referrer.role"),
    "unknown top-level field": (rfs(favourite_colour="blue"), "favourite_colour"),
    "unknown nested field": (with_child(shoe_size=3), "children.0.shoe_size"),
    "born child without a date of birth": (rfs(children=[child("Amira", "Ahmed")]), "children.0"),
    "both born and unborn": (None, "children.0"),
    "unknown referral type": (rfs(referral_type="gossip"), "referral_type"),
    "bad referrer email": (
        rfs(referrer={"name": "Jo", "role": "DSL", "email": "not-an-email"}),
        "referrer.email",
    ),
    "bad UPN": (with_child(upn="12345"), "children.0.upn"),
    "consent without a time zone": (
        rfs(
            consent={
                "obtained": True,
                "given_by": "Samira",
                "obtained_at": "2026-11-02T10:00:00",
                "method": "phone",
            }
        ),
        "consent.obtained_at",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_each_bad_input_is_a_422_naming_the_field(svc, case):
    body, field = CASES[case]
    body = DATED[case]() if case in DATED else body
    resp = await svc.client.post("/v1/referrals", json=body, headers=svc.as_("school_a"))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    problem = resp.json()
    assert problem["type"] == VALIDATION
    assert field in [e["field"] for e in problem["errors"]], problem["errors"]
    assert "Traceback" not in resp.text


@pytest.mark.parametrize(
    "consent",
    [
        None,
        {
            "obtained": False,
            "given_by": "Samira Ahmed",
            "obtained_at": "2026-11-02T10:00:00Z",
            "method": "phone",
        },
    ],
)
async def test_consent_is_required_unless_significant_harm_is_suspected(svc, consent):
    body = rfs(consent=consent)
    resp = await svc.client.post("/v1/referrals", json=body, headers=svc.as_("school_a"))
    assert resp.status_code == 422
    problem = resp.json()
    assert problem["type"] == "https://early-help.example/problems/consent-required"
    assert problem["title"] == "Consent required"
    assert problem["errors"][0]["field"] == "consent"
    # Significant harm suspected: the same request needs no consent and is urgent.
    ok = await svc.client.post(
        "/v1/referrals", json={**body, "significant_harm_suspected": True}, headers=svc.as_("school_a")
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["urgent"] is True
    concern = await svc.client.post(
        "/v1/referrals", json={**body, "referral_type": "safeguarding_concern"}, headers=svc.as_("police")
    )
    assert concern.status_code == 201, concern.text
    assert concern.json()["significant_harm_suspected"] is True


async def test_consent_obtained_in_the_future_is_refused(svc):
    body = rfs(
        consent={
            "obtained": True,
            "given_by": "Samira",
            "obtained_at": "2099-01-01T10:00:00Z",
            "method": "phone",
        }
    )
    resp = await svc.client.post("/v1/referrals", json=body, headers=svc.as_("school_a"))
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "consent.obtained_at"


async def test_a_refused_request_stores_nothing(svc):
    await svc.client.post("/v1/referrals", json=rfs(needs=["nope"]), headers=svc.as_("mash"))
    listed = await svc.client.get("/v1/referrals", headers=svc.as_("mash"))
    assert listed.json()["items"] == []
    assert await svc.outbox() == []


@pytest.mark.parametrize(
    "make_fields",
    [
        lambda: {"date_of_birth": london_today().isoformat()},  # born today
        lambda: {"date_of_birth": _years_ago_plus(26, 1)},  # 25, the 26th birthday tomorrow
        lambda: {
            "date_of_birth": None,
            "unborn_expected_on": (london_today() + timedelta(days=60)).isoformat(),
        },
    ],
    ids=["newborn", "aged 25", "unborn"],
)
async def test_ages_0_to_25_and_unborn_children_are_accepted(svc, make_fields):
    child_fields = make_fields()  # today's, when the test runs
    resp = await svc.client.post(
        "/v1/referrals", json=with_child(**child_fields), headers=svc.as_("school_a")
    )
    assert resp.status_code == 201, resp.text
    got = resp.json()["children"][0]
    assert got["date_of_birth"] == child_fields["date_of_birth"]
    assert got["unborn_expected_on"] == child_fields.get("unborn_expected_on")


async def test_names_are_stored_clean_and_bidi_controls_are_refused(svc):
    """Issue 23 item 4: a name is NFC without invisible characters, so it matches its plain
    spelling; a right-to-left override (which displays as another name) is refused."""
    spoof = rfs(children=[child("Amira", "Ahm\u202eded", "2017-03-02")])
    resp = await svc.client.post("/v1/referrals", json=spoof, headers=svc.as_("school_a"))
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "children.0.family_name"
    assert "bidirectional" in resp.json()["errors"][0]["message"]

    first = await svc.client.post(
        "/v1/referrals",
        json=rfs(children=[child("Zoe\u0301", "Pa\u200brk", "2016-05-06")]),
        headers=svc.as_("school_a"),
    )
    assert first.status_code == 201, first.text
    stored = first.json()["children"][0]
    assert (stored["given_name"], stored["family_name"]) == ("Zo\u00e9", "Park")
    second = await svc.client.post(
        "/v1/referrals",
        json=rfs(children=[child("Zo\u00e9", "Park", "2016-05-06")]),
        headers=svc.as_("school_b"),
    )
    assert second.status_code == 201, second.text
    people = []
    for r in (first, second):
        read = await svc.client.get(f"/v1/referrals/{r.json()['id']}", headers=svc.as_("mash"))
        people.append(read.json()["children"][0]["person_id"])
    assert people[0] == people[1]  # one person, not two
