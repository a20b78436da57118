"""Issue 20, households and relationships in the person index (`households.py`): adults are
people, an intake relates them to the children, practitioners add and end relationships, a
referral's address starts an address history, and a household is who lives there now."""

from __future__ import annotations

from typing import Any

import pytest

from services.referrals.households import relationship_type
from services.referrals.tests.conftest import NAMES, child, rfs


def family(**extra: Any) -> dict[str, Any]:
    """Amira and her brother Noah, their mother Samira and their adult sister Lena."""
    return rfs(
        children=[child("Amira", "Ahmed", "2017-03-02"), child("Noah", "Ahmed", "2019-05-06")],
        adults=[
            {"given_name": "Samira", "family_name": "Ahmed", "relationship": "Mother"},
            {"given_name": "Lena", "family_name": "Ahmed", "relationship": "half-sister"},
            {"given_name": "Dave", "family_name": "Stone", "relationship": "Mum's partner"},
        ],
        **extra,
    )


async def rels(svc: Any, person_id: str, caller: str = "mash") -> list[dict[str, Any]]:
    resp = await svc.client.get(f"/v1/people/{person_id}/relationships", headers=svc.as_(caller))
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mother", "mother_of"),
        ("Mum", "mother_of"),
        ("Birth Father", "father_of"),
        ("foster carer", "carer_of"),
        ("Special guardian", "guardian_of"),
        ("half-brother", "sibling_of"),
        ("Mum's partner", None),
        ("aunt", None),
        ("", None),
    ],
)
def test_relationship_text_maps_only_where_it_clearly_names_one(text, expected):
    assert relationship_type(text) == expected


async def test_an_intake_makes_adults_people_and_relates_them_to_the_children(svc):
    ref = await svc.create("school_a", family())
    amira, noah = (c["person_id"] for c in ref["children"])
    samira, lena, dave = (a["person_id"] for a in ref["adults"])
    for adult in (samira, lena, dave):
        person = (await svc.client.get(f"/v1/people/{adult}", headers=svc.as_("mash"))).json()
        assert person["kind"] == "adult" and person["date_of_birth"] is None
    got = {(r["person_id"], r["type"], r["related_person_id"]) for r in await rels(svc, amira)}
    assert got == {(samira, "mother_of", amira), (lena, "sibling_of", amira)}
    of_samira = await rels(svc, samira)
    assert {(r["type"], r["related_person_id"]) for r in of_samira} == {
        ("mother_of", amira),
        ("mother_of", noah),
    }
    assert all(r["current"] and r["referral_id"] == ref["id"] and r["to_on"] is None for r in of_samira)
    assert await rels(svc, dave) == []  # "Mum's partner" maps to nothing: a practitioner adds it
    # The referral's adults read as they always did.
    assert ref["adults"][0]["relationship"] == "Mother" and ref["adults"][0]["given_name"] == "Samira"


async def test_a_second_referral_does_not_duplicate_relationships(svc):
    first = await svc.create("school_a", family())
    await svc.create("school_b", family())
    amira = first["children"][0]["person_id"]
    types = sorted(r["type"] for r in await rels(svc, amira))
    assert types == ["mother_of", "sibling_of"]


async def test_practitioners_add_and_end_relationships(svc):
    ref = await svc.create("school_a", family())
    samira, _, dave = (a["person_id"] for a in ref["adults"])
    body = {"related_person_id": samira, "type": "partner_of", "from_on": "2020-01-01"}
    eh = svc.as_("early_help", practitioner_id="eh-1", roles="early_help_practitioner")
    made = await svc.client.post(f"/v1/people/{dave}/relationships", json=body, headers=eh)
    assert made.status_code == 201, made.text
    rel = made.json()
    assert rel["person_id"] == dave and rel["related_person_id"] == samira and rel["current"]
    assert rel["created_by_agency_id"] == "agency-early-help"
    # partner_of reads both ways: the same again from Samira's side is a conflict.
    again = await svc.client.post(
        f"/v1/people/{samira}/relationships",
        json={"related_person_id": dave, "type": "partner_of"},
        headers=svc.as_("mash"),
    )
    assert again.status_code == 409 and again.json()["type"].endswith("/relationship-exists")
    assert [r["id"] for r in await rels(svc, samira) if r["type"] == "partner_of"] == [rel["id"]]
    ended = await svc.client.post(
        f"/v1/people/{samira}/relationships/{rel['id']}/end",
        json={"to_on": "2026-09-30", "reason": "Separated"},
        headers=svc.as_("mash"),
    )
    assert ended.status_code == 200, ended.text
    out = ended.json()
    assert out["to_on"] == "2026-09-30" and not out["current"] and out["end_reason"] == "Separated"
    twice = await svc.client.post(
        f"/v1/people/{samira}/relationships/{rel['id']}/end", json={}, headers=svc.as_("mash")
    )
    assert twice.status_code == 409 and twice.json()["type"].endswith("/relationship-already-ended")
    # Ended, kept.
    assert [r["current"] for r in await rels(svc, dave)] == [False]


async def test_relationship_changes_are_for_mash_and_early_help_roles(svc):
    ref = await svc.create("school_a", family())
    samira, _, dave = (a["person_id"] for a in ref["adults"])
    body = {"related_person_id": samira, "type": "partner_of"}
    for headers in (
        svc.as_("social_care"),
        svc.as_("mash", practitioner_id="m-9", roles="agency_admin"),
        svc.as_("early_help", practitioner_id="e-9", roles="agency_admin"),
    ):
        refused = await svc.client.post(f"/v1/people/{dave}/relationships", json=body, headers=headers)
        assert refused.status_code == 403 and refused.json()["type"].endswith("/role-required")
    # A partner without people:read is refused by scope.
    school = await svc.client.post(f"/v1/people/{dave}/relationships", json=body, headers=svc.as_("school_a"))
    assert school.status_code == 403
    rel_id = (await rels(svc, samira))[0]["id"]
    refused = await svc.client.post(
        f"/v1/people/{samira}/relationships/{rel_id}/end", json={}, headers=svc.as_("social_care")
    )
    assert refused.status_code == 403
    # Social care reads them (people:read), and the read is a disclosure.
    assert (
        await svc.client.get(f"/v1/people/{samira}/relationships", headers=svc.as_("social_care"))
    ).status_code == 200
    await svc.runtime.deliver_once()
    assert ("relationships", samira) in {
        (d["resource_type"], d["resource_id"]) for d in svc.consent.disclosures
    }


async def test_relationship_requests_are_checked(svc):
    ref = await svc.create("school_a", family())
    amira = ref["children"][0]["person_id"]
    samira = ref["adults"][0]["person_id"]
    post = svc.client.post
    mash = svc.as_("mash")
    url = f"/v1/people/{samira}/relationships"
    cases = [
        ({"related_person_id": samira, "type": "mother_of"}, "related_person_id"),
        ({"related_person_id": "nobody", "type": "mother_of"}, "related_person_id"),
        ({"related_person_id": amira, "type": "aunt_of"}, "type"),
        (
            {"related_person_id": amira, "type": "carer_of", "from_on": "2026-02-01", "to_on": "2026-01-01"},
            None,
        ),
        ({"related_person_id": amira, "type": "carer_of", "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        resp = await post(url, json=body, headers=mash)
        assert resp.status_code == 422, (body, resp.text)
        if field:
            assert field in str(resp.json()["errors"]), resp.text
    missing = await post(
        "/v1/people/nobody/relationships", json={"related_person_id": amira, "type": "carer_of"}, headers=mash
    )
    assert missing.status_code == 404
    other = (await rels(svc, amira))[0]["id"]
    noah_ref = await svc.create("school_b", rfs(children=[child(*NAMES[2], "2015-01-01")], adults=[]))
    stranger = noah_ref["children"][0]["person_id"]
    resp = await post(f"/v1/people/{stranger}/relationships/{other}/end", json={}, headers=mash)
    assert resp.status_code == 404


async def test_the_referrals_address_starts_each_persons_address_history_and_household(svc):
    ref = await svc.create("school_a", family())
    amira, noah = (c["person_id"] for c in ref["children"])
    samira = ref["adults"][0]["person_id"]
    addresses = (await svc.client.get(f"/v1/people/{amira}/addresses", headers=svc.as_("mash"))).json()[
        "items"
    ]
    assert len(addresses) == 1
    assert addresses[0]["line1"] == "1 Oak Street" and addresses[0]["postcode"] == "S60 1AE"
    assert (
        addresses[0]["current"] and addresses[0]["to_on"] is None and addresses[0]["referral_id"] == ref["id"]
    )
    home = (await svc.client.get(f"/v1/people/{amira}/household", headers=svc.as_("mash"))).json()
    assert home["person_id"] == amira and home["address"]["line1"] == "1 Oak Street"
    members = {m["person_id"]: m for m in home["members"]}
    assert amira not in members and {noah, samira} <= set(members)
    assert members[noah]["given_name"] == "Noah" and members[noah]["date_of_birth"] == "2019-05-06"

    # Amira and her mother move (a later referral from another address): the old address
    # ends, the new one starts; Noah (not named) still lives at the old one.
    moved = rfs(
        children=[child("Amira", "Ahmed", "2017-03-02")],
        adults=[{"given_name": "Samira", "family_name": "Ahmed", "relationship": "mother"}],
        address={"line1": "9 Elm Road", "postcode": "S60 1AE"},
    )
    await svc.create("school_a", moved)
    history = (await svc.client.get(f"/v1/people/{amira}/addresses", headers=svc.as_("mash"))).json()["items"]
    assert [(a["line1"], a["current"]) for a in history] == [("9 Elm Road", True), ("1 Oak Street", False)]
    assert history[1]["to_on"] is not None
    now_home = (await svc.client.get(f"/v1/people/{amira}/household", headers=svc.as_("mash"))).json()
    assert {m["person_id"] for m in now_home["members"]} == {samira}
    noah_home = (await svc.client.get(f"/v1/people/{noah}/household", headers=svc.as_("mash"))).json()
    assert amira not in {m["person_id"] for m in noah_home["members"]}


async def test_reads_follow_merges(svc):
    first = await svc.create("school_a", family())
    amira = first["children"][0]["person_id"]
    # The same child from a new address, different enough to be a possible match only.
    second = await svc.create(
        "school_b",
        rfs(
            children=[child("Amira", "Ahmed", "2017-03-02")],
            adults=[{"given_name": "Omar", "family_name": "Ahmed", "relationship": "father"}],
            address={"line1": "2 New Road", "postcode": "S61 2BB"},
        ),
    )
    dup = second["children"][0]["person_id"]
    assert dup != amira
    omar = second["adults"][0]["person_id"]
    merged = await svc.client.post(
        f"/v1/people/{dup}/merge", json={"into_person_id": amira}, headers=svc.as_("mash")
    )
    assert merged.status_code == 201
    got = {(r["person_id"], r["type"], r["related_person_id"]) for r in await rels(svc, dup)}
    assert (omar, "father_of", amira) in got and all(dup not in t for t in got)
    addresses = (await svc.client.get(f"/v1/people/{dup}/addresses", headers=svc.as_("mash"))).json()["items"]
    assert {a["line1"] for a in addresses} == {"1 Oak Street", "2 New Road"}


async def test_a_person_stored_before_addresses_were_kept_lives_with_no_one_known(svc):
    """Migration 0005 keeps no address for people stored before it: an empty household."""
    from sqlalchemy import delete

    from services.referrals.models import PersonAddress

    ref = await svc.create("school_a", family())
    amira = ref["children"][0]["person_id"]
    async with svc.runtime.db.session() as s:
        await s.execute(delete(PersonAddress))
    home = (await svc.client.get(f"/v1/people/{amira}/household", headers=svc.as_("mash"))).json()
    assert home == {"person_id": amira, "address": None, "members": []}
    listed = await svc.client.get(f"/v1/people/{amira}/addresses", headers=svc.as_("mash"))
    assert listed.json() == {"items": []}
    missing = await svc.client.get("/v1/people/nobody/household", headers=svc.as_("mash"))
    assert missing.status_code == 404
