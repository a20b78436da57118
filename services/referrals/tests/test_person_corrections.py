"""Issue 20, corrections of a person's record (`corrections.py`): If-Match, a history of what
changed from what to what, by whom and why, MASH and early help only, the matching re-run,
and the internal details endpoint other services read names from."""

from __future__ import annotations

from typing import Any

from services.referrals.tests.conftest import NAMES, NHS, child, rfs


async def etag_of(svc: Any, person_id: str) -> str:
    resp = await svc.client.get(f"/v1/people/{person_id}", headers=svc.as_("mash"))
    assert resp.status_code == 200
    return resp.headers["etag"]  # type: ignore[no-any-return]


async def patch(
    svc: Any, person_id: str, body: dict[str, Any], headers: dict[str, str], etag: str | None = None
):
    extra = {"If-Match": etag} if etag else {}
    return await svc.client.patch(f"/v1/people/{person_id}", json=body, headers={**headers, **extra})


async def test_a_wrong_identifier_is_removed_with_null(svc):
    ref = await svc.create(
        "school_a", rfs(children=[child("Amira", "Ahmed", "2017-03-02", nhs_number=NHS[0])])
    )
    amira = ref["children"][0]["person_id"]
    resp = await patch(
        svc,
        amira,
        {"nhs_number": None, "reason": "Another child's number"},
        svc.as_("mash"),
        await etag_of(svc, amira),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["nhs_number"] is None
    assert resp.json()["correction"]["changes"] == {"nhs_number": {"from": NHS[0], "to": None}}
    bad_upn = await patch(svc, amira, {"upn": "A123", "reason": "x"}, svc.as_("mash"), resp.headers["etag"])
    assert bad_upn.status_code == 422 and "upn" in str(bad_upn.json()["errors"])


async def test_correction_history(svc):
    ref = await svc.create("school_a")
    amira = ref["children"][0]["person_id"]
    mash = svc.as_("mash", practitioner_id="m-1", roles="mash_screener")
    etag = await etag_of(svc, amira)
    resp = await patch(
        svc,
        amira,
        {"given_name": "Amirah", "date_of_birth": "2017-03-12", "nhs_number": NHS[0], "reason": "GP record"},
        mash,
        etag,
    )
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert (
        out["given_name"] == "Amirah" and out["date_of_birth"] == "2017-03-12" and out["nhs_number"] == NHS[0]
    )
    assert resp.headers["etag"] != etag
    c = out["correction"]
    assert c["changes"] == {
        "date_of_birth": {"from": "2017-03-02", "to": "2017-03-12"},
        "given_name": {"from": "Amira", "to": "Amirah"},
        "nhs_number": {"from": None, "to": NHS[0]},
    }
    assert c["reason"] == "GP record" and c["corrected_by_practitioner_id"] == "m-1"
    assert c["corrected_by_agency_id"] == "agency-mash" and c["corrected_by_client_id"] == "client-mash"
    eh = svc.as_("early_help", practitioner_id="e-1", roles="early_help_manager")
    second = await patch(
        svc, amira, {"gender": "not_stated", "reason": "Family asked"}, eh, resp.headers["etag"]
    )
    assert second.status_code == 200, second.text
    history = (await svc.client.get(f"/v1/people/{amira}/history", headers=svc.as_("mash"))).json()["items"]
    assert [h["reason"] for h in history] == ["GP record", "Family asked"]
    assert history[1]["changes"] == {"gender": {"from": "female", "to": "not_stated"}}
    assert history[1]["corrected_by_agency_id"] == "agency-early-help"
    # The new names are matched: a referral spelling her "Amirah" now finds her for certain.
    again = await svc.create("school_b", rfs(children=[child("Amirah", "Ahmed", "2017-03-12")], adults=[]))
    assert again["children"][0]["person_id"] == amira and again["children"][0]["match"] == "certain"
    # The referral she was named on still says what its referrer wrote.
    first = (await svc.client.get(f"/v1/referrals/{ref['id']}", headers=svc.as_("mash"))).json()
    assert first["children"][0]["given_name"] == "Amira"


async def test_if_match_is_required_and_checked(svc):
    ref = await svc.create("school_a")
    amira = ref["children"][0]["person_id"]
    body = {"family_name": "Ahmad", "reason": "Typo"}
    missing = await patch(svc, amira, body, svc.as_("mash"))
    assert missing.status_code == 428
    stale = await patch(svc, amira, body, svc.as_("mash"), '"stale-1"')
    assert stale.status_code == 412
    assert (await patch(svc, amira, body, svc.as_("mash"), await etag_of(svc, amira))).status_code == 200


async def test_only_mash_and_early_help_correct(svc):
    ref = await svc.create("school_a")
    amira = ref["children"][0]["person_id"]
    body = {"family_name": "Ahmad", "reason": "Typo"}
    etag = await etag_of(svc, amira)
    for headers in (
        svc.as_("social_care"),
        svc.as_("mash", practitioner_id="m-9", roles="agency_admin"),
        svc.as_("early_help", practitioner_id="e-9", roles="agency_admin"),
    ):
        refused = await patch(svc, amira, body, headers, etag)
        assert refused.status_code == 403 and refused.json()["type"].endswith("/role-required"), refused.text
    school = await patch(svc, amira, body, svc.as_("school_a"), etag)
    assert school.status_code == 403  # no people:read scope
    assert (await svc.client.get(f"/v1/people/{amira}/history", headers=svc.as_("mash"))).json()[
        "items"
    ] == []
    person = (await svc.client.get(f"/v1/people/{amira}", headers=svc.as_("mash"))).json()
    assert person["family_name"] == "Ahmed"
    ok = await patch(
        svc, amira, body, svc.as_("early_help", practitioner_id="e-1", roles="early_help_practitioner"), etag
    )
    assert ok.status_code == 200, ok.text


async def test_corrections_are_validated(svc):
    ref = await svc.create("school_a")
    amira = ref["children"][0]["person_id"]
    mash = svc.as_("mash")
    etag = await etag_of(svc, amira)
    cases = [
        ({"family_name": "Ahmad"}, "reason"),
        ({"reason": "nothing"}, None),
        ({"family_name": None, "reason": "x"}, None),
        ({"nhs_number": "1234567890", "reason": "x"}, "nhs_number"),
        ({"date_of_birth": "2999-01-01", "reason": "x"}, "date_of_birth"),
        ({"postcode": "NOT A CODE", "reason": "x"}, "postcode"),
        ({"family_name": "Ahmad", "reason": "x", "kind": "adult"}, "kind"),
        ({"family_name": "Ahmed", "reason": "the same"}, "family_name"),
    ]
    for body, field in cases:
        resp = await patch(svc, amira, body, mash, etag)
        assert resp.status_code == 422, (body, resp.text)
        if field:
            assert field in str(resp.json()["errors"]), (body, resp.text)
    assert (await patch(svc, "nobody", {"family_name": "X", "reason": "x"}, mash, etag)).status_code == 404


async def test_a_correction_reruns_matching_and_offers_duplicates_to_the_mash(svc):
    first = await svc.create("school_a")
    amira = first["children"][0]["person_id"]
    other = await svc.create("school_b", rfs(children=[child(*NAMES[0], "2016-06-06")], adults=[]))
    oliver = other["children"][0]["person_id"]
    # Oliver's record was really Amira's, mistyped: corrected, it now matches her for certain.
    resp = await patch(
        svc,
        oliver,
        {
            "given_name": "Amira",
            "family_name": "Ahmed",
            "date_of_birth": "2017-03-02",
            "postcode": "S60 1AE",
            "reason": "Wrong child's details typed",
        },
        svc.as_("mash"),
        await etag_of(svc, oliver),
    )
    assert resp.status_code == 200, resp.text
    [m] = resp.json()["possible_matches"]
    assert m["id"] == amira and m["match"] == "certain" and m["score"] >= 0.92
    # Never merged automatically.
    assert (await svc.client.get(f"/v1/people/{oliver}", headers=svc.as_("mash"))).json()[
        "merged_into_id"
    ] is None
    # A change that matching does not compare does not re-run it.
    resp = await patch(
        svc, oliver, {"gender": "female", "reason": "x"}, svc.as_("mash"), resp.headers["etag"]
    )
    assert resp.json()["possible_matches"] == []


async def test_a_merged_away_record_is_not_corrected_and_history_follows_merges(svc):
    first = await svc.create("school_a")
    amira = first["children"][0]["person_id"]
    other = await svc.create("school_b", rfs(children=[child(*NAMES[1], "2015-05-05")], adults=[]))
    isla = other["children"][0]["person_id"]
    fixed = await patch(
        svc, isla, {"given_name": "Isla-Mae", "reason": "x"}, svc.as_("mash"), await etag_of(svc, isla)
    )
    assert fixed.status_code == 200
    merged = await svc.client.post(
        f"/v1/people/{isla}/merge", json={"into_person_id": amira}, headers=svc.as_("mash")
    )
    assert merged.status_code == 201
    refused = await patch(
        svc, isla, {"given_name": "Isla", "reason": "x"}, svc.as_("mash"), await etag_of(svc, isla)
    )
    assert refused.status_code == 409 and refused.json()["type"].endswith("/person-merged")
    assert amira in refused.json()["detail"]
    history = (await svc.client.get(f"/v1/people/{amira}/history", headers=svc.as_("mash"))).json()["items"]
    assert [h["person_id"] for h in history] == [isla]


async def test_an_unborn_childs_date_of_birth_makes_the_record_a_childs(svc):
    from datetime import timedelta

    from shared.clock import london_today

    expected = (london_today() + timedelta(days=20)).isoformat()
    ref = await svc.create("school_a", rfs(children=[child(None, "Ahmed", unborn_expected_on=expected)]))
    baby = ref["children"][0]["person_id"]
    born = london_today().isoformat()
    resp = await patch(
        svc,
        baby,
        {"given_name": "Zara", "date_of_birth": born, "reason": "Born"},
        svc.as_("mash"),
        await etag_of(svc, baby),
    )
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["kind"] == "child" and out["unborn_expected_on"] is None and out["date_of_birth"] == born
    assert out["correction"]["changes"]["kind"] == {"from": "unborn", "to": "child"}
    assert out["correction"]["changes"]["unborn_expected_on"] == {"from": expected, "to": None}


async def test_history_reads_are_disclosures_for_social_care(svc):
    ref = await svc.create("school_a")
    amira = ref["children"][0]["person_id"]
    assert (
        await svc.client.get(f"/v1/people/{amira}/history", headers=svc.as_("social_care"))
    ).status_code == 200
    assert (
        await svc.client.get(f"/v1/people/{amira}/household", headers=svc.as_("social_care"))
    ).status_code == 200
    assert (
        await svc.client.get(f"/v1/people/{amira}/addresses", headers=svc.as_("social_care"))
    ).status_code == 200
    await svc.runtime.deliver_once()
    got = {(d["resource_type"], d["person_id"]) for d in svc.consent.disclosures}
    samira = ref["adults"][0]["person_id"]
    assert {
        ("person_history", amira),
        ("household", amira),
        ("household", samira),
        ("addresses", amira),
    } <= got
    assert (await svc.client.get("/v1/people/nobody/history", headers=svc.as_("mash"))).status_code == 404


# ---- the internal details endpoint (the assessments service's episode family) ----


async def test_people_details_for_services_only(svc):
    ref = await svc.create("school_a")
    amira = ref["children"][0]["person_id"]
    samira = ref["adults"][0]["person_id"]
    body = {"person_ids": [amira, samira, "nobody"]}
    assert (
        await svc.client.post("/internal/people/details", json=body, headers=svc.as_("mash"))
    ).status_code == 403
    resp = await svc.client.post("/internal/people/details", json=body, headers=svc.as_("service"))
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["unknown"] == ["nobody"]
    people = {p["person_id"]: p for p in out["people"]}
    assert people[amira]["given_name"] == "Amira" and people[amira]["date_of_birth"] == "2017-03-02"
    assert people[samira]["kind"] == "adult" and people[samira]["date_of_birth"] is None
    too_many = {"person_ids": [f"id-{i}" for i in range(201)]}
    assert (
        await svc.client.post("/internal/people/details", json=too_many, headers=svc.as_("service"))
    ).status_code == 422


async def test_people_details_follow_merges(svc):
    first = await svc.create("school_a")
    amira = first["children"][0]["person_id"]
    other = await svc.create("school_b", rfs(children=[child(*NAMES[3], "2014-04-04")], adults=[]))
    freya = other["children"][0]["person_id"]
    await svc.client.post(
        f"/v1/people/{freya}/merge", json={"into_person_id": amira}, headers=svc.as_("mash")
    )
    resp = await svc.client.post(
        "/internal/people/details", json={"person_ids": [freya]}, headers=svc.as_("service")
    )
    [p] = resp.json()["people"]
    assert p["person_id"] == freya and p["current_person_id"] == amira and p["given_name"] == "Amira"
