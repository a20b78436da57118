"""Issue 18 in the referrals service: roles decide, partners see only their own, reads disclose.

Every rule of `services/referrals/policy.py` has a test here that fails without it.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.referrals.tests.conftest import NAMES, NHS, child, rfs

DECISION = {
    "level_of_need": "universal",
    "outcome": "no_further_action",
    "rationale": "Universal services meet the need.",
    "decided_by": {"name": "Pat MASH", "role": "Screener"},
}


def practitioner(svc: Any, caller: str, pid: str, roles: str) -> dict[str, str]:
    """A call made for a named practitioner of `caller`'s agency, with these roles."""
    return svc.as_(caller, practitioner_id=pid, roles=roles)


# ---- only the MASH decides ----


@pytest.mark.parametrize(
    ("roles", "allowed"),
    [("mash_screener", True), ("mash_manager", True), ("agency_admin", False), ("", False)],
)
async def test_only_a_mash_role_decides(svc, roles, allowed):
    ref = await svc.create()
    resp = await svc.client.post(
        f"/v1/referrals/{ref['id']}/decision", json=DECISION, headers=practitioner(svc, "mash", "p-1", roles)
    )
    if allowed:
        assert resp.status_code == 200, resp.text
    else:
        assert resp.status_code == 403
        assert resp.json()["type"].endswith("/role-required")
        still = (await svc.client.get(f"/v1/referrals/{ref['id']}", headers=svc.as_("mash"))).json()
        assert still["status"] == "received" and still["decision"] is None


async def test_a_mash_system_call_still_decides(svc):
    """A MASH system with no practitioner named acts with the MASH roles (shared.roles)."""
    ref = await svc.create()
    assert (await svc.decide(ref["id"], "universal", "no_further_action")).status_code == 200


async def test_matches_and_merges_need_a_mash_role(svc):
    first = await svc.create()
    amira = first["children"][0]["person_id"]
    second = await svc.create(
        "school_b", rfs(address={"line1": "2 New Road", "postcode": "S61 2BB"}, adults=[])
    )
    new_person = second["children"][0]["person_id"]
    admin = practitioner(svc, "mash", "p-admin", "agency_admin")
    for verb in ("confirm", "reject"):
        refused = await svc.client.post(f"/v1/referrals/{second['id']}/matches/{amira}/{verb}", headers=admin)
        assert refused.status_code == 403 and refused.json()["type"].endswith("/role-required")
    merge = await svc.client.post(
        f"/v1/people/{new_person}/merge", json={"into_person_id": amira}, headers=admin
    )
    assert merge.status_code == 403
    screener = practitioner(svc, "mash", "p-2", "mash_screener")
    merged = await svc.client.post(
        f"/v1/people/{new_person}/merge", json={"into_person_id": amira}, headers=screener
    )
    assert merged.status_code == 201, merged.text
    undo = await svc.client.post(f"/v1/people/merges/{merged.json()['id']}/undo", headers=admin)
    assert undo.status_code == 403
    assert (
        await svc.client.post(f"/v1/people/merges/{merged.json()['id']}/undo", headers=screener)
    ).status_code == 200


async def test_withdrawal_by_the_submitter_or_the_mash_only(svc):
    ref = await svc.create()
    other = await svc.client.post(
        f"/v1/referrals/{ref['id']}/withdraw", json={"reason": "x"}, headers=svc.as_("social_care")
    )
    assert other.status_code == 403 and other.json()["type"].endswith("/not-submitter")
    admin = await svc.client.post(
        f"/v1/referrals/{ref['id']}/withdraw",
        json={"reason": "x"},
        headers=practitioner(svc, "mash", "p-9", "agency_admin"),
    )
    assert admin.status_code == 403
    own = await svc.client.post(
        f"/v1/referrals/{ref['id']}/withdraw",
        json={"reason": "sent twice"},
        headers=practitioner(svc, "school_a", "t-1", "agency_practitioner"),
    )
    assert own.status_code == 200, own.text


# ---- least disclosure: two partner agencies refer the same child ----


def same_child(**extra: Any) -> dict[str, Any]:
    return rfs(children=[child("Amira", "Ahmed", "2017-03-02", nhs_number=NHS[0])], **extra)


async def test_a_second_agency_learns_nothing_of_the_first_agencys_referral(svc):
    first = await svc.create("school_a", same_child())
    # The police refer the same child (same NHS number) from another address.
    resp = await svc.client.post(
        "/v1/referrals",
        json=same_child(
            address={"line1": "7 Hill Road", "postcode": "S61 2BB"},
            adults=[],
            consent={
                "obtained": True,
                "given_by": "Mr Ahmed",
                "obtained_at": "2026-10-01T10:00:00Z",
                "method": "phone",
            },
        ),
        headers=svc.as_("police"),
    )
    assert resp.status_code == 201, resp.text
    seen_by_police = [resp.json()]
    seen_by_police.append(
        (await svc.client.get(f"/v1/referrals/{resp.json()['id']}", headers=svc.as_("police"))).json()
    )
    for out in seen_by_police:
        text = str(out)
        assert first["id"] not in text and first["reference"] not in text
        assert first["children"][0]["person_id"] not in text
        assert "S60" not in text and "Oak Street" not in text and "Samira" not in text
        assert out["status"] == "received"  # linked, as the MASH sees it
        assert out["linked_referral_id"] is None and out["open_episode_id"] is None
        assert out["matches"] == [] and out["assigned_to"] is None
        assert out["children"][0]["person_id"] is None and out["children"][0]["match"] is None
        # What the police sent comes back to them as they sent it.
        assert out["children"][0]["given_name"] == "Amira" and out["address"]["postcode"] == "S61 2BB"
    listed = (await svc.client.get("/v1/referrals", headers=svc.as_("police"))).json()["items"]
    assert [r["id"] for r in listed] == [resp.json()["id"]]
    assert listed[0]["status"] == "received" and listed[0]["linked_referral_id"] is None
    assert first["id"] not in str(listed)
    # ?status=linked finds nothing for a partner; ?status=received finds its linked referral.
    linked = await svc.client.get("/v1/referrals", params={"status": "linked"}, headers=svc.as_("police"))
    assert linked.json()["items"] == []
    received = await svc.client.get("/v1/referrals", params={"status": "received"}, headers=svc.as_("police"))
    assert [r["id"] for r in received.json()["items"]] == [resp.json()["id"]]
    # The MASH sees the link and the child's record in the index.
    mash = (await svc.client.get(f"/v1/referrals/{resp.json()['id']}", headers=svc.as_("mash"))).json()
    assert mash["status"] == "linked" and mash["linked_referral_id"] == first["id"]
    assert mash["children"][0]["person_id"] == first["children"][0]["person_id"]
    assert mash["children"][0]["match"] == "certain"


async def test_possible_matches_are_the_mashs_only(svc):
    await svc.create("school_a")
    moved = rfs(address={"line1": "2 New Road", "postcode": "S61 2BB"}, adults=[])
    created = await svc.client.post("/v1/referrals", json=moved, headers=svc.as_("school_b"))
    assert created.json()["matches"] == []
    rid = created.json()["id"]
    for caller in ("school_b", "early_help", "social_care"):
        out = (await svc.client.get(f"/v1/referrals/{rid}", headers=svc.as_(caller))).json()
        assert out["matches"] == [] and out["linked_referral_id"] is None, caller
    mash = (await svc.client.get(f"/v1/referrals/{rid}", headers=svc.as_("mash"))).json()
    assert len(mash["matches"]) == 1 and mash["matches"][0]["given_name"] == "Amira"


async def test_a_partner_sees_its_decision_outcome_but_not_other_agencies_checks(svc):
    ref = await svc.create("school_a", seen_by=None)
    decided = await svc.client.post(
        f"/v1/referrals/{ref['id']}/decision",
        json={
            **DECISION,
            "rag": "green",
            "agency_checks": [{"agency_type": "police", "summary": "Police know of an incident in May."}],
        },
        headers=svc.as_("mash"),
    )
    assert decided.status_code == 200
    own = (await svc.client.get(f"/v1/referrals/{ref['id']}", headers=svc.as_("school_a"))).json()
    assert own["status"] == "decided"
    d = own["decision"]
    assert d["outcome"] == "no_further_action" and d["level_of_need"] == "universal" and d["decided_at"]
    assert d["agency_checks"] is None and d["rationale"] is None and d["decided_by"] is None
    assert d["rag"] is None and "incident" not in str(own)
    full = (await svc.client.get(f"/v1/referrals/{ref['id']}", headers=svc.as_("social_care"))).json()
    assert full["decision"]["agency_checks"][0]["agency_type"] == "police"


async def test_the_open_episode_is_shown_to_the_mash_and_early_help_only(svc):
    first = await svc.create("school_a")
    await svc.event(
        "episode.opened",
        {
            "episode_id": "ep-1",
            "person_ids": [first["children"][0]["person_id"]],
            "origin": "step_down",
            "opened_at": "2026-11-01T10:00:00Z",
        },
    )
    second = await svc.client.post("/v1/referrals", json=rfs(), headers=svc.as_("police"))
    assert second.json()["open_episode_id"] is None
    rid = second.json()["id"]
    expected = {"police": None, "social_care": None, "early_help": "ep-1", "mash": "ep-1"}
    for caller, episode in expected.items():
        out = (await svc.client.get(f"/v1/referrals/{rid}", headers=svc.as_(caller))).json()
        assert out["open_episode_id"] == episode, caller
        listed = (await svc.client.get("/v1/referrals", headers=svc.as_(caller))).json()["items"]
        assert next(r for r in listed if r["id"] == rid)["open_episode_id"] == episode, caller


# ---- disclosures ----


async def test_reads_by_social_care_of_others_information_are_disclosures(svc):
    ref = await svc.create("school_a")
    own = await svc.create("social_care", rfs(children=[child(*NAMES[3], "2014-04-04")]))
    amira = ref["children"][0]["person_id"]
    samira = ref["adults"][0]["person_id"]
    sc = practitioner(svc, "social_care", "sw-7", "agency_practitioner")
    assert (await svc.client.get(f"/v1/referrals/{ref['id']}", headers=sc)).status_code == 200
    assert (await svc.client.get(f"/v1/people/{amira}", headers=sc)).status_code == 200
    assert (
        await svc.client.get(
            "/v1/people", params={"family_name": "Ahmed", "date_of_birth": "2017-03-02"}, headers=sc
        )
    ).status_code == 200
    # Its own referral is its own information, not a disclosure.
    assert (await svc.client.get(f"/v1/referrals/{own['id']}", headers=sc)).status_code == 200
    await svc.runtime.deliver_once()
    got = {(d["resource_type"], d["resource_id"], d["person_id"]) for d in svc.consent.disclosures}
    assert got == {
        ("referral", ref["id"], amira),
        ("referral", ref["id"], samira),
        ("person", amira, amira),
    }
    for d in svc.consent.disclosures:
        assert d["agency_id"] == "agency-social-care" and d["practitioner_id"] == "sw-7"
        assert d["basis"] == "statutory_function" and d["request_id"] and d["disclosed_at"].endswith("Z")


async def test_a_journey_read_is_a_disclosure_and_a_system_call_sends_no_practitioner(svc):
    from services.referrals.tests.test_journey import timeline, use_assessments

    ref = await svc.create("school_a")
    amira = ref["children"][0]["person_id"]
    use_assessments(svc, timeline)
    resp = await svc.client.get(f"/v1/people/{amira}/journey", headers=svc.as_("social_care"))
    assert resp.status_code == 200, resp.text
    await svc.runtime.deliver_once()
    [d] = svc.consent.disclosures
    assert (d["resource_type"], d["resource_id"], d["person_id"]) == ("journey", amira, amira)
    assert "practitioner_id" not in d


@pytest.mark.parametrize("caller", ["mash", "early_help", "school_a", "service"])
async def test_reads_that_are_not_disclosures(svc, caller):
    """The MASH and early help hold every case; a partner reading its own referral reads
    what it sent; a service reads for the agency that asked."""
    ref = await svc.create("school_a")
    headers = svc.as_(caller)
    if caller == "service":
        headers = svc.h.headers(
            agency_type="service",
            agency_id="svc-x",
            audience="early-help-api",
            scopes="referrals:read people:read",
        )
    assert (await svc.client.get(f"/v1/referrals/{ref['id']}", headers=headers)).status_code == 200
    if caller != "school_a":
        person = ref["children"][0]["person_id"]
        assert (await svc.client.get(f"/v1/people/{person}", headers=headers)).status_code == 200
    await svc.runtime.deliver_once()
    assert svc.consent.disclosures == []


async def test_disclosures_are_stored_before_the_answer_and_retried_until_accepted(svc):
    ref = await svc.create("school_a")
    svc.consent.down = True
    assert (
        await svc.client.get(f"/v1/referrals/{ref['id']}", headers=svc.as_("social_care"))
    ).status_code == 200
    assert await svc.runtime.deliver_once() == 0
    assert svc.consent.disclosures == []
    svc.consent.down = False
    # Due again at once (the backoff is the worker's business, not this test's).
    from sqlalchemy import update

    from services.referrals.models import PendingDisclosure
    from shared.clock import utcnow

    async with svc.runtime.db.session() as s:
        await s.execute(update(PendingDisclosure).values(next_attempt_at=utcnow()))
    assert await svc.runtime.deliver_once() == 2
    assert len(svc.consent.disclosures) == 2
    assert await svc.runtime.deliver_once() == 0  # sent once only


# ---- the internal person check ----


async def test_people_known_to_the_index(svc):
    a = await svc.create("school_a")
    b = await svc.create("school_b", rfs(children=[child(*NAMES[4], "2016-06-06")], adults=[]))
    amira, arlo = a["children"][0]["person_id"], b["children"][0]["person_id"]
    merged = await svc.client.post(
        f"/v1/people/{arlo}/merge", json={"into_person_id": amira}, headers=svc.as_("mash")
    )
    assert merged.status_code == 201
    stranger = "00000000-0000-4000-8000-000000000000"
    resp = await svc.client.post(
        "/internal/people/known",
        json={"person_ids": [amira, stranger, arlo, amira]},
        headers=svc.as_("service"),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"known": [amira, arlo], "unknown": [stranger], "survivors": {arlo: amira}}


async def test_people_known_is_for_services_only_and_bounded(svc):
    body = {"person_ids": ["x"]}
    assert (
        await svc.client.post("/internal/people/known", json=body, headers=svc.as_("mash"))
    ).status_code == 403
    too_many = {"person_ids": [f"id-{i}" for i in range(201)]}
    resp = await svc.client.post("/internal/people/known", json=too_many, headers=svc.as_("service"))
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "person_ids"
    empty = await svc.client.post(
        "/internal/people/known", json={"person_ids": []}, headers=svc.as_("service")
    )
    assert empty.status_code == 422
