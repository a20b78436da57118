"""`?updated_since=` on a person's addresses and journey (issue 20): an item changed before the
moment is left out, one changed after it is listed.

An address changes when recorded and when ended; its end is kept as a date, so it counts as a
change on every moment of its UK day (never missed, at worst repeated). A journey's items are
events: those after the moment."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.referrals.tests.conftest import child, london, rfs
from services.referrals.tests.test_journey import timeline, use_assessments


async def test_addresses_recorded_or_ended_since(svc):
    svc.now = london(2026, 11, 2, 9, 0)
    first = await svc.create("school_a", rfs(children=[child("Amira", "Ahmed", "2017-03-02")]))
    amira = first["children"][0]["person_id"]
    # Two days later Amira has moved: the old address ends that day, the new one starts.
    svc.now = london(2026, 11, 4, 9, 0)
    moved = await svc.create(
        "school_a",
        rfs(
            children=[child("Amira", "Ahmed", "2017-03-02")],
            address={"line1": "9 Elm Road", "postcode": "S60 1AE"},
        ),
    )
    assert moved["children"][0]["person_id"] == amira
    svc.now = london(2026, 11, 6, 9, 0)

    async def lines(since: datetime) -> list[str]:
        resp = await svc.client.get(
            f"/v1/people/{amira}/addresses",
            params={"updated_since": since.isoformat()},
            headers=svc.as_("mash"),
        )
        assert resp.status_code == 200, resp.text
        return [a["line1"] for a in resp.json()["items"]]

    assert await lines(london(2026, 11, 2, 8, 0)) == ["9 Elm Road", "1 Oak Street"]
    # Oak Street was recorded before the moment but ended after it; Elm Road is new.
    assert await lines(london(2026, 11, 2, 10, 0)) == ["9 Elm Road", "1 Oak Street"]
    # Later the same day as the move: Elm Road was recorded before it, Oak Street's end (a date)
    # is that day, so it is listed again rather than missed.
    assert await lines(london(2026, 11, 4, 10, 0)) == ["1 Oak Street"]
    assert await lines(london(2026, 11, 5, 0, 0)) == []
    bad = await svc.client.get(
        f"/v1/people/{amira}/addresses",
        params={"updated_since": "2026-11-02T10:00:00"},
        headers=svc.as_("mash"),
    )
    assert bad.status_code == 422 and "updated_since" in bad.text


async def test_journey_items_after_the_moment(svc):
    svc.now = london(2026, 11, 2, 9, 0)
    first = await svc.create()
    svc.now = london(2026, 11, 2, 15, 0)
    await svc.decide(first["id"])
    svc.now = london(2026, 12, 21, 9, 0)
    use_assessments(svc, timeline)
    person = first["children"][0]["person_id"]

    async def kinds(since: datetime) -> list[str]:
        resp = await svc.client.get(
            f"/v1/people/{person}/journey",
            params={"updated_since": since.isoformat()},
            headers=svc.as_("mash"),
        )
        assert resp.status_code == 200, resp.text
        return [i["kind"] for i in resp.json()["items"]]

    everything = [
        "referral_received",
        "referral_decided",
        "episode_opened",
        "assessment_started",
        "review_held",
    ]
    assert await kinds(london(2026, 11, 2, 8, 0)) == everything
    assert await kinds(london(2026, 11, 2, 12, 0)) == everything[1:]
    assert await kinds(london(2026, 11, 4, 0, 0)) == everything[3:]
    # Exclusive: an item exactly at the moment is not after it.
    assert await kinds(london(2026, 11, 2, 15, 0)) == everything[2:]
    assert await kinds(london(2026, 11, 2, 15, 0) - timedelta(seconds=1)) == everything[1:]
    assert await kinds(london(2026, 12, 21, 0, 0)) == []
