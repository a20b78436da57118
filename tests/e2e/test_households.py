"""Households, relationships, corrections and the episode's family end to end (issue 20,
item 2): the real processes, tokens from the gateway, the demo clients.

The MASH's referral names a mother; her relationship and household show in the person
index; a school on the TAF sees nothing of the family without consent and names and dates
of birth with it; a school's correction is refused, the MASH's leaves history.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.e2e.test_journeys import agency_id, decide, eventually, referral_body
from tests.e2e.test_referrals import unique_name

pytestmark = pytest.mark.e2e

SCHOOL, MASH, EH = "demo-education", "demo-mash", "demo-early-help"


def test_a_family_through_the_gateway(api):
    family = unique_name()
    body = referral_body(given="Amira", family=family, dob="2017-03-14")
    # An address of this family's own: other tests' families live at "1 Oak Street".
    body["address"] = {**body["address"], "line1": f"1 {family} Street"}
    created = api.post(MASH, "/v1/referrals", json=body)
    assert created.status_code == 201, created.text
    ref = created.json()
    amira, samira = ref["children"][0]["person_id"], ref["adults"][0]["person_id"]

    # The mother is a person in the index, related to the child, living with her.
    assert api.get(MASH, f"/v1/people/{samira}").json()["kind"] == "adult"
    rels = api.get(MASH, f"/v1/people/{amira}/relationships")
    assert rels.status_code == 200, rels.text
    assert [(r["person_id"], r["type"]) for r in rels.json()["items"]] == [(samira, "mother_of")]
    home = api.get(MASH, f"/v1/people/{amira}/household").json()
    assert home["address"]["line1"] == f"1 {family} Street"
    assert [m["person_id"] for m in home["members"]] == [samira]
    assert api.get(MASH, f"/v1/people/{amira}/addresses").json()["items"][0]["current"] is True
    # A school holds no people:read: the gateway refuses before the service is asked.
    assert api.get(SCHOOL, f"/v1/people/{amira}/household").status_code == 403

    # Corrections: the school is refused; the MASH's is kept with who, what and why.
    etag = api.get(MASH, f"/v1/people/{amira}").headers["etag"]
    fix = {"given_name": "Amirah", "reason": "Spelling confirmed by the GP"}
    refused = api.patch(SCHOOL, f"/v1/people/{amira}", json=fix, headers={"If-Match": etag})
    assert refused.status_code == 403
    fixed = api.patch(MASH, f"/v1/people/{amira}", json=fix, headers={"If-Match": etag})
    assert fixed.status_code == 200, fixed.text
    [entry] = api.get(MASH, f"/v1/people/{amira}/history").json()["items"]
    assert entry["changes"] == {"given_name": {"from": "Amira", "to": "Amirah"}}
    assert entry["reason"] == "Spelling confirmed by the GP" and entry["corrected_by_agency_id"] == agency_id(
        api, MASH
    )

    # The MASH decides TAF: the episode's family is the child and her mother.
    assert decide(api, ref["id"]).status_code in (200, 201)
    episode_id = eventually(lambda: api.get(MASH, f"/v1/referrals/{ref['id']}").json().get("episode_id"))
    assert episode_id
    episode = api.get(EH, f"/v1/episodes/{episode_id}").json()
    assert episode["person_ids"] == [amira]
    assert {(m["person_id"], m["role"], m["relationship"]) for m in episode["family_members"]} == {
        (amira, "child", None),
        (samira, "adult", "mother"),
    }

    # The school joins the TAF: without consent it sees nothing of the family.
    taf = api.post(
        EH,
        f"/v1/episodes/{episode_id}/taf-members",
        json={
            "agency_id": agency_id(api, SCHOOL),
            "agency_type": "education",
            "name": "Ms Head",
            "role": "DSL",
        },
    )
    assert taf.status_code == 201, taf.text
    denied = api.get(SCHOOL, f"/v1/episodes/{episode_id}/family")
    assert denied.status_code == 404 and family not in denied.text
    consent = api.post(
        EH,
        "/v1/consents",
        json={
            "person_id": amira,
            "given_by": {"name": f"Samira {family}", "relationship": "parent"},
            "competence": "parental",
            "purposes": ["early_help_service", "information_sharing"],
            "agencies": ["team_around_the_family"],
            "method": "verbal",
            "obtained_at": datetime.now(UTC).isoformat(),
        },
    )
    assert consent.status_code == 201, consent.text
    seen = eventually(
        lambda: (r := api.get(SCHOOL, f"/v1/episodes/{episode_id}/family")).status_code == 200 and r,
        timeout=10,
    )
    assert seen, "the school never saw the family with consent"
    members = {m["person_id"]: m for m in seen.json()["members"]}
    assert members[amira]["given_name"] == "Amirah" and members[amira]["date_of_birth"] == "2017-03-14"
    assert members[samira]["given_name"] == "Samira" and members[samira]["family_name"] == family
    # Early help's manager names the father too.
    father = api.post(
        MASH,
        "/v1/referrals",
        json=referral_body(
            given="Amira",
            family=family,
            dob="2017-03-14",
            adults=[{"given_name": "Omar", "family_name": family, "relationship": "father"}],
        ),
    ).json()["adults"][0]["person_id"]
    put = api.put(
        EH,
        f"/v1/episodes/{episode_id}/family-members",
        json={
            "members": [
                {"person_id": amira, "role": "child"},
                {"person_id": samira, "role": "adult", "relationship": "mother"},
                {"person_id": father, "role": "adult", "relationship": "father"},
            ]
        },
    )
    assert put.status_code == 200, put.text
    assert len(api.get(SCHOOL, f"/v1/episodes/{episode_id}/family").json()["members"]) == 3
    # The school may not change the family.
    mine = {"members": [{"person_id": amira, "role": "child"}]}
    assert api.put(SCHOOL, f"/v1/episodes/{episode_id}/family-members", json=mine).status_code == 403
