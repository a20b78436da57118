"""Object-level access: partners read their own agency's referrals only; 404 for the rest."""

from __future__ import annotations

import pytest

from services.referrals.tests.conftest import NAMES, child, rfs

SUBMITTERS = ["school_a", "school_b", "police"]
VIEWERS = ["school_a", "school_b", "police", "mash", "early_help", "social_care"]
READS_ALL = {"mash", "early_help", "social_care"}


@pytest.fixture
async def submitted(svc):
    out = {}
    for i, who in enumerate(SUBMITTERS):
        body = rfs(children=[child(*NAMES[i], "2015-01-01")])
        out[who] = await svc.create(who, body)
    return out


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_access_matrix(svc, submitted, viewer):
    for owner, referral in submitted.items():
        resp = await svc.client.get(f"/v1/referrals/{referral['id']}", headers=svc.as_(viewer))
        allowed = viewer in READS_ALL or viewer == owner
        assert resp.status_code == (200 if allowed else 404), (viewer, owner)
        if not allowed:
            # Indistinguishable from a referral that does not exist.
            missing = await svc.client.get(
                "/v1/referrals/00000000-0000-0000-0000-000000000000", headers=svc.as_(viewer)
            )
            assert resp.json()["detail"] == missing.json()["detail"]
    listed = (await svc.client.get("/v1/referrals", headers=svc.as_(viewer))).json()["items"]
    expected = {r["id"] for o, r in submitted.items() if viewer in READS_ALL or o == viewer}
    assert {r["id"] for r in listed} == expected
    # Asking for another agency's referrals by filter does not widen the view.
    other = (
        await svc.client.get(
            "/v1/referrals", params={"source_agency_id": "agency-police"}, headers=svc.as_(viewer)
        )
    ).json()["items"]
    assert {r["id"] for r in other} == (
        {submitted["police"]["id"]} if viewer in READS_ALL | {"police"} else set()
    )


async def test_reading_needs_referrals_read(svc, submitted):
    headers = svc.h.headers(agency_type="education", agency_id="agency-school-a", scopes="referrals:create")
    assert (
        await svc.client.get(f"/v1/referrals/{submitted['school_a']['id']}", headers=headers)
    ).status_code == 403
    assert (await svc.client.get("/v1/referrals", headers=headers)).status_code == 403
    creating = await svc.client.post(
        "/v1/referrals", json=rfs(), headers=svc.h.headers(agency_type="education", scopes="referrals:read")
    )
    assert creating.status_code == 403


async def test_no_token_or_a_client_token_straight_to_the_service_is_401(svc):
    assert (await svc.client.get("/v1/referrals")).status_code == 401
    direct = svc.h.headers(agency_type="mash", audience="early-help-api", scopes="referrals:read")
    assert (await svc.client.get("/v1/referrals", headers=direct)).status_code == 401


async def test_list_filters_and_pagination(svc):
    for i in range(5):
        await svc.create("school_a", rfs(children=[child(*NAMES[i], "2015-01-01")]))
    page = (await svc.client.get("/v1/referrals", params={"limit": 2}, headers=svc.as_("mash"))).json()
    seen = [r["id"] for r in page["items"]]
    while page["next_cursor"]:
        page = (
            await svc.client.get(
                "/v1/referrals", params={"limit": 2, "cursor": page["next_cursor"]}, headers=svc.as_("mash")
            )
        ).json()
        seen += [r["id"] for r in page["items"]]
    assert len(seen) == len(set(seen)) == 5
    today = (
        await svc.client.get(
            "/v1/referrals",
            params={"status": "received", "received_from": "2000-01-01", "received_to": "2999-12-31"},
            headers=svc.as_("mash"),
        )
    ).json()["items"]
    assert len(today) == 5
    none = (
        await svc.client.get("/v1/referrals", params={"received_to": "2001-01-01"}, headers=svc.as_("mash"))
    ).json()["items"]
    assert none == []
    bad = await svc.client.get(
        "/v1/referrals", params={"received_from": "yesterday"}, headers=svc.as_("mash")
    )
    assert bad.status_code == 422
