"""One front door: matching people, linking repeat requests, confirming and merging duplicates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from services.referrals.models import PersonMerge
from services.referrals.tests.conftest import NHS, child, london, rfs
from shared.clock import london_today

BROWN_HOME = {"line1": "4 Ash Close", "postcode": "S65 1AA"}


def brown(given: str, family: str, **extra):
    return rfs(
        children=[child(given, family, "2012-04-10", **extra)],
        adults=[],
        address=BROWN_HOME,
        needs=["anti_social_behaviour"],
        summary="Concern about Jayden.",
    )


async def test_brown_family_one_child_three_doors_one_case(svc):
    svc.now = london(2026, 11, 2, 9, 0)  # Monday
    school = await svc.create("school_a", brown("Jayden", "Brown"))
    svc.now = london(2026, 11, 3, 9, 0)
    police = await svc.create("police", brown("Jaden", "Browne"))
    svc.now = london(2026, 11, 4, 9, 0)
    gp = await svc.create("health", brown("Jayden", "Brown", nhs_number=NHS[0]))

    jayden = school["children"][0]["person_id"]
    assert school["status"] == "received"
    for later in (police, gp):
        assert later["children"][0]["person_id"] == jayden
        assert later["children"][0]["match"] == "certain"
        assert later["status"] == "linked" and later["linked_referral_id"] == school["id"]
    # The GP's NHS number now sits on the one person in the index.
    person = (await svc.client.get(f"/v1/people/{jayden}", headers=svc.as_("mash"))).json()
    assert person["nhs_number"] == NHS[0]
    # The MASH triages him once: the later requests are not awaiting a decision.
    waiting = (await svc.client.get("/v1/referrals?status=received", headers=svc.as_("mash"))).json()["items"]
    assert [r["id"] for r in waiting] == [school["id"]]
    assert (await svc.decide(police["id"])).status_code == 409
    linked = await svc.outbox("referral.linked")
    assert [e["data"]["referral_id"] for e in linked] == [police["id"], gp["id"]]
    assert all(e["data"]["linked_referral_id"] == school["id"] for e in linked)
    assert [e["data"]["referral_id"] for e in await svc.outbox("referral.received")] == [school["id"]]
    # Everything about him, whoever sent it.
    mine = (await svc.client.get(f"/v1/referrals?person_id={jayden}", headers=svc.as_("mash"))).json()[
        "items"
    ]
    assert {r["id"] for r in mine} == {school["id"], police["id"], gp["id"]}


async def test_nhs_number_alone_is_certain_and_a_different_one_is_never_a_match(svc):
    first = await svc.create(body=rfs(children=[child("Amira", "Ahmed", "2017-03-02", nhs_number=NHS[1])]))
    moved = rfs(
        children=[child("Amyra", "Ahmad", "2017-03-02", nhs_number=NHS[1])],
        address={"line1": "New flat", "postcode": "M1 1AE"},
    )
    second = await svc.create("health", moved)
    assert second["children"][0]["person_id"] == first["children"][0]["person_id"]
    other = rfs(children=[child("Amira", "Ahmed", "2017-03-02", nhs_number=NHS[2])])
    third = await svc.create("police", other)
    assert third["children"][0]["person_id"] != first["children"][0]["person_id"]
    assert third["matches"] == []


async def test_a_new_request_for_a_child_with_an_open_episode_joins_it(svc):
    first = await svc.create()
    amira = first["children"][0]["person_id"]
    assert (await svc.decide(first["id"])).status_code == 200
    await svc.event(
        "episode.opened",
        {
            "episode_id": "ep-1",
            "reference": "EH-2026-000001",
            "referral_id": first["id"],
            "person_ids": [amira],
            "origin": "referral",
            "level_of_need": "partnership_plus",
            "opened_at": "2026-11-03T10:00:00Z",
        },
    )
    got = (await svc.client.get(f"/v1/referrals/{first['id']}", headers=svc.as_("school_a"))).json()
    assert got["episode_id"] == "ep-1"

    again = await svc.create("police", rfs(needs=["anti_social_behaviour"]))
    assert again["status"] == "linked" and again["open_episode_id"] == "ep-1"
    [linked] = await svc.outbox("referral.linked")
    assert linked["data"]["linked_episode_id"] == "ep-1"

    # A safeguarding concern is never parked on the episode: it stays with the MASH, urgent.
    concern = await svc.create("police", rfs(referral_type="safeguarding_concern", consent=None))
    assert concern["status"] == "received" and concern["urgent"] is True
    assert concern["open_episode_id"] == "ep-1"

    await svc.event(
        "episode.closed", {"episode_id": "ep-1", "reason": "needs_met", "closed_at": "2026-12-01T10:00:00Z"}
    )
    await svc.decide(concern["id"], "specialist", "social_care_assessment")
    # The request parked on the episode went back to the MASH when it closed (requeue.py),
    # so a new one now joins that undecided referral, not the closed episode.
    assert (await svc.client.get(f"/v1/referrals/{again['id']}", headers=svc.as_("mash"))).json()[
        "status"
    ] == "received"
    after = await svc.create("school_a")
    assert after["open_episode_id"] is None and after["linked_referral_id"] == again["id"]


async def test_a_close_that_overtakes_its_open_still_leaves_the_episode_closed(svc):
    first = await svc.create()
    amira = first["children"][0]["person_id"]
    await svc.event(
        "episode.closed", {"episode_id": "ep-9", "reason": "needs_met", "closed_at": "2026-12-01T10:00:00Z"}
    )
    await svc.event(
        "episode.opened",
        {
            "episode_id": "ep-9",
            "person_ids": [amira],
            "origin": "step_down",
            "opened_at": "2026-11-01T10:00:00Z",
        },
    )
    await svc.client.post(
        f"/v1/referrals/{first['id']}/withdraw", json={"reason": "dup"}, headers=svc.as_("school_a")
    )
    assert (await svc.create())["status"] == "received"


async def test_possible_match_confirmed_by_the_mash_merges_and_links(svc):
    first = await svc.create()
    amira = first["children"][0]["person_id"]
    # The family moved: same names and date of birth, another postcode -> possible, not certain.
    moved = rfs(address={"line1": "2 New Road", "postcode": "S61 2BB"}, adults=[])
    second = await svc.create("school_b", moved)
    assert second["status"] == "received"
    new_person = second["children"][0]["person_id"]
    assert new_person != amira and second["children"][0]["match"] == "new"
    [match] = second["matches"]
    assert match["person_id"] == amira and match["for_person_id"] == new_person
    assert 0.75 <= match["score"] < 1 and match["status"] == "possible"
    assert "date_exact" in match["reasons"]
    # The MASH sees the other record's details; the referrer sees neither the match nor the
    # index's ids, in its create response or on a read.
    assert match["given_name"] == "Amira" and match["postcode"] == "S601AE"
    own_create = await svc.create("school_b", moved, seen_by=None)
    own_read = (await svc.client.get(f"/v1/referrals/{own_create['id']}", headers=svc.as_("school_b"))).json()
    for own in (own_create, own_read):
        assert own["matches"] == [] and own["linked_referral_id"] is None
        assert own["children"][0]["person_id"] is None and own["children"][0]["match"] is None
        assert amira not in str(own) and first["id"] not in str(own)

    school_b = await svc.client.post(
        f"/v1/referrals/{second['id']}/matches/{amira}/confirm", headers=svc.as_("school_b")
    )
    assert school_b.status_code == 403
    confirmed = await svc.client.post(
        f"/v1/referrals/{second['id']}/matches/{amira}/confirm", headers=svc.as_("mash")
    )
    assert confirmed.status_code == 200, confirmed.text
    out = confirmed.json()
    assert out["children"][0]["person_id"] == amira
    assert out["matches"][0]["status"] == "confirmed"
    # Amira already had an undecided referral: this one now joins it.
    assert out["status"] == "linked" and out["linked_referral_id"] == first["id"]
    merged = (await svc.client.get(f"/v1/people/{new_person}", headers=svc.as_("mash"))).json()
    assert merged["merged_into_id"] == amira
    twice = await svc.client.post(
        f"/v1/referrals/{second['id']}/matches/{amira}/confirm", headers=svc.as_("mash")
    )
    assert twice.status_code == 409
    assert twice.json()["type"].endswith("/match-already-resolved")


async def test_a_rejected_match_stays_apart(svc):
    first = await svc.create()
    second = await svc.create("school_b", rfs(address={"line1": "2 New Road", "postcode": "S61 2BB"}))
    amira = first["children"][0]["person_id"]
    rejected = await svc.client.post(
        f"/v1/referrals/{second['id']}/matches/{amira}/reject", headers=svc.as_("mash")
    )
    assert rejected.status_code == 200
    out = rejected.json()
    assert out["children"][0]["person_id"] != amira and out["status"] == "received"
    assert [m["status"] for m in out["matches"] if m["person_id"] == amira] == ["rejected"]
    unknown = await svc.client.post(
        f"/v1/referrals/{second['id']}/matches/nobody/reject", headers=svc.as_("mash")
    )
    assert unknown.status_code == 404


async def test_merges_are_recorded_and_reversible(svc):
    a = await svc.create("school_a", rfs(children=[child("Leo", "Hart", "2016-01-01")]))
    b = await svc.create(
        "police",
        rfs(children=[child("Leon", "Hartley", "2016-01-01")], address={"line1": "x", "postcode": "S1 2HE"}),
    )
    leo, leon = a["children"][0]["person_id"], b["children"][0]["person_id"]
    assert leo != leon
    headers = svc.as_("mash")
    merged = await svc.client.post(
        f"/v1/people/{leon}/merge", json={"into_person_id": leo, "reason": "Same boy"}, headers=headers
    )
    assert merged.status_code == 201, merged.text
    merge = merged.json()
    assert merge["merged_person_id"] == leon and merge["into_person_id"] == leo and merge["undone_at"] is None
    # Both referrals now name the survivor.
    mine = (await svc.client.get(f"/v1/referrals?person_id={leo}", headers=headers)).json()["items"]
    assert {r["id"] for r in mine} == {a["id"], b["id"]}
    got_b = (await svc.client.get(f"/v1/referrals/{b['id']}", headers=headers)).json()
    assert got_b["children"][0]["person_id"] == leo
    # Refusals: merge again, merge into a merged record, into itself, an adult into a child.
    again = await svc.client.post(f"/v1/people/{leon}/merge", json={"into_person_id": leo}, headers=headers)
    assert again.status_code == 409
    into_merged = await svc.client.post(
        f"/v1/people/{leo}/merge", json={"into_person_id": leon}, headers=headers
    )
    assert into_merged.status_code == 409
    itself = await svc.client.post(f"/v1/people/{leo}/merge", json={"into_person_id": leo}, headers=headers)
    assert itself.status_code == 422
    mother = a["adults"][0]["person_id"]
    mixed = await svc.client.post(f"/v1/people/{mother}/merge", json={"into_person_id": leo}, headers=headers)
    assert mixed.status_code == 422
    partner = await svc.client.post(
        f"/v1/people/{leon}/merge", json={"into_person_id": leo}, headers=svc.as_("school_a")
    )
    assert partner.status_code == 403

    undone = await svc.client.post(f"/v1/people/merges/{merge['id']}/undo", headers=headers)
    assert undone.status_code == 200 and undone.json()["undone_at"] is not None
    got_b = (await svc.client.get(f"/v1/referrals/{b['id']}", headers=headers)).json()
    assert got_b["children"][0]["person_id"] == leon
    mine = (await svc.client.get(f"/v1/referrals?person_id={leo}", headers=headers)).json()["items"]
    assert [r["id"] for r in mine] == [a["id"]]
    assert (await svc.client.get(f"/v1/people/{leon}", headers=headers)).json()["merged_into_id"] is None
    assert (
        await svc.client.post(f"/v1/people/merges/{merge['id']}/undo", headers=headers)
    ).status_code == 409


async def test_merges_undo_last_first(svc):
    ids = []
    for i, (given, pc) in enumerate([("Mia", "S1 2HE"), ("Mya", "S2 3HE"), ("Maya", "S3 4HE")]):
        out = await svc.create(
            "school_a",
            rfs(children=[child(given, "Lund", f"2015-0{i + 1}-01")], address={"line1": "x", "postcode": pc}),
        )
        ids.append((out["id"], out["children"][0]["person_id"]))
    (ra, a), (rb, b), (rc, c) = ids
    headers = svc.as_("mash")
    first = (
        await svc.client.post(f"/v1/people/{a}/merge", json={"into_person_id": b}, headers=headers)
    ).json()
    second = (
        await svc.client.post(f"/v1/people/{b}/merge", json={"into_person_id": c}, headers=headers)
    ).json()
    names = (await svc.client.get(f"/v1/referrals?person_id={c}", headers=headers)).json()["items"]
    assert {r["id"] for r in names} == {ra, rb, rc}
    refused = await svc.client.post(f"/v1/people/merges/{first['id']}/undo", headers=headers)
    assert refused.status_code == 409 and "undo that merge first" in refused.json()["detail"]
    assert (
        await svc.client.post(f"/v1/people/merges/{second['id']}/undo", headers=headers)
    ).status_code == 200
    # B's links (and A's, merged into B before) went back to B.
    assert {
        r["id"]
        for r in (await svc.client.get(f"/v1/referrals?person_id={b}", headers=headers)).json()["items"]
    } == {ra, rb}
    assert (
        await svc.client.post(f"/v1/people/merges/{first['id']}/undo", headers=headers)
    ).status_code == 200
    for rid, pid in ids:
        items = (await svc.client.get(f"/v1/referrals?person_id={pid}", headers=headers)).json()["items"]
        assert [r["id"] for r in items] == [rid]


async def test_undoing_a_confirmed_match_reopens_it(svc):
    first = await svc.create()
    amira = first["children"][0]["person_id"]
    await svc.client.post(
        f"/v1/referrals/{first['id']}/withdraw", json={"reason": "sent twice"}, headers=svc.as_("school_a")
    )
    second = await svc.create("school_b", rfs(address={"line1": "2 New Road", "postcode": "S61 2BB"}))
    out = (
        await svc.client.post(
            f"/v1/referrals/{second['id']}/matches/{amira}/confirm", headers=svc.as_("mash")
        )
    ).json()
    assert out["status"] == "received"  # the earlier one was withdrawn: nothing to join
    merge = (
        await svc.client.get(f"/v1/people/{second['children'][0]['person_id']}", headers=svc.as_("mash"))
    ).json()
    assert merge["merged_into_id"] == amira
    async with svc.runtime.db.session(write=False) as s:
        merge_id = (await s.execute(select(PersonMerge.id))).scalar_one()
    await svc.client.post(f"/v1/people/merges/{merge_id}/undo", headers=svc.as_("mash"))
    again = (await svc.client.get(f"/v1/referrals/{second['id']}", headers=svc.as_("mash"))).json()
    assert again["matches"][0]["status"] == "possible"
    assert again["children"][0]["person_id"] == second["children"][0]["person_id"]


async def test_twins_are_offered_not_merged(svc):
    both = rfs(children=[child("Amira", "Ahmed", "2017-03-02"), child("Aisha", "Ahmed", "2017-03-02")])
    first = await svc.create(body=both)
    assert first["matches"] == []  # two children of one request are never each other's duplicate
    amira, aisha = (c["person_id"] for c in first["children"])
    assert amira != aisha
    later = await svc.create("health", rfs(children=[child("Aisha", "Ahmed", "2017-03-02")]))
    assert later["children"][0]["person_id"] == aisha and later["children"][0]["match"] == "certain"
    assert [m["person_id"] for m in later["matches"]] == [amira]  # offered, not merged


async def test_adults_match_exactly_by_name_and_postcode(svc):
    first = await svc.create()
    second = await svc.create("health", rfs(children=[child("Yusuf", "Ahmed", "2014-09-09")]))
    assert second["adults"][0]["person_id"] == first["adults"][0]["person_id"]
    assert second["children"][0]["person_id"] != first["children"][0]["person_id"]


async def test_an_unborn_child_is_matched_on_the_expected_date(svc):
    due = london_today() + timedelta(days=90)
    body = rfs(
        children=[child(None, "Okafor", unborn_expected_on=due.isoformat())],
        adults=[],
        address={"line1": "9 Elm Road", "postcode": "BH15 2RU"},
        referral_type="safeguarding_concern",
        consent=None,
    )
    first = await svc.create("police", body)
    body["children"][0]["unborn_expected_on"] = (due + timedelta(days=10)).isoformat()
    second = await svc.create("health", body)
    assert second["children"][0]["person_id"] == first["children"][0]["person_id"]


@pytest.mark.parametrize(
    ("query", "expect"),
    [
        ({"nhs_number": NHS[3]}, "certain"),
        ({"family_name": "Whitfield", "date_of_birth": "2013-07-07", "given_name": "Tom"}, "possible"),
        (
            {
                "family_name": "Whitfeld",
                "date_of_birth": "2013-07-07",
                "postcode": "s60 1ae",
                "given_name": "Tom",
            },
            "certain",
        ),
    ],
)
async def test_people_search_ranks_with_a_score(svc, query, expect):
    await svc.create(body=rfs(children=[child("Tom", "Whitfield", "2013-07-07", nhs_number=NHS[3])]))
    await svc.create(
        body=rfs(
            children=[child("Tess", "Whitfield", "2013-07-07")], address={"line1": "y", "postcode": "S1 2HE"}
        )
    )
    resp = await svc.client.get("/v1/people", params=query, headers=svc.as_("mash"))
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    assert items[0]["given_name"] == "Tom" and items[0]["match"] == expect
    assert items == sorted(items, key=lambda i: (i["match"] != "certain", -i["score"]))


async def test_people_search_needs_enough_to_search_on_and_people_read(svc):
    thin = await svc.client.get("/v1/people", params={"family_name": "Smith"}, headers=svc.as_("mash"))
    assert thin.status_code == 422
    bad = await svc.client.get("/v1/people", params={"nhs_number": "9434765918"}, headers=svc.as_("mash"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "nhs_number"
    school = await svc.client.get("/v1/people", params={"nhs_number": NHS[0]}, headers=svc.as_("school_a"))
    assert school.status_code == 403
    assert (await svc.client.get("/v1/people/nobody", headers=svc.as_("mash"))).status_code == 404


async def test_a_read_gives_the_people_and_matches_the_intake_answered_with(svc):
    """A read loads the referral, its people and its matches in one query (the join repeats
    people per match): the answer is the one the intake gave, in the same order."""
    family = {
        "children": [
            child("Amira", "Ahmed", "2017-03-02"),
            child("Bilal", "Ahmed", "2019-06-14"),
            child("Zara", "Ahmed", "2021-01-20"),
        ]
    }
    await svc.create(body=rfs(**family))
    moved = rfs(address={"line1": "2 New Road", "postcode": "S61 2BB"}, **family)
    # The intake's own answers: to the MASH (matches and ids shown) and to a school (neither).
    second = await svc.create("mash", moved, seen_by=None)
    own = await svc.create("school_b", moved, seen_by=None)
    assert len(second["matches"]) >= 3 and len(second["children"]) == 3 and len(second["adults"]) == 1
    for caller, answer in (("mash", second), ("school_b", own)):
        read = (await svc.client.get(f"/v1/referrals/{answer['id']}", headers=svc.as_(caller))).json()
        assert read["children"] == answer["children"] and read["adults"] == answer["adults"]
        assert read["matches"] == answer["matches"]
        scores = [m["score"] for m in read["matches"]]
        assert scores == sorted(scores, reverse=True)
