"""A linked referral re-queued for the MASH, and the outcome told to a linked referrer (issue 20)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from shared.clock import LONDON

LINKED_AT = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # Monday
REQUEUED_AT = datetime(2026, 7, 3, 10, 0, tzinfo=UTC)  # Friday


async def test_a_requeued_referral_has_its_front_door_decision_due_again(notif):
    # Parked on an episode: its decision deadline is met (remembered, none was open).
    await notif.event(
        "referral.linked",
        {
            "referral_id": "r1",
            "reference": "RFS-1",
            "linked_episode_id": "e1",
            "source_agency_id": "police-1",
        },
    )
    assert (await notif.deadlines(referral_id="r1"))["items"] == []
    await notif.event(
        "referral.requeued",
        {
            "referral_id": "r1",
            "reference": "RFS-1",
            "source_agency_id": "police-1",
            "requeued_at": REQUEUED_AT.isoformat(),
            "reason": "episode_closed",
        },
    )
    d = await notif.deadline("front_door_decision", referral_id="r1")
    assert d["status"] == "open" and d["reference"] == "RFS-1"
    # Counted by the rule from the re-queue (one working day: Monday 6 July), not from intake.
    assert datetime.fromisoformat(d["due_at"]).astimezone(LONDON).date() == date(2026, 7, 6)
    await notif.event(
        "referral.decided",
        {
            "referral_id": "r1",
            "source_agency_id": "police-1",
            "outcome": "no_further_action",
            "decided_at": REQUEUED_AT.isoformat(),
        },
    )
    assert (await notif.deadline("front_door_decision", referral_id="r1"))["status"] == "met"
    # The referrer hears the outcome of its re-queued referral as any referrer does.
    assert [n["kind"] for n in await notif.feed("police", "police-1")] == ["referral.decided"]


async def test_a_linked_referrer_gets_the_outcome_about_its_own_referral(notif):
    await notif.event(
        "referral.linked_outcome",
        {
            "referral_id": "r2",
            "reference": "RFS-2",
            "source_agency_id": "gp-1",
            "level_of_need": "partnership_plus",
            "outcome": "team_around_the_family",
            "decided_at": LINKED_AT.isoformat(),
            "linked_referral_id": "r0",
        },
    )
    [item] = await notif.feed("health", "gp-1")
    assert item["kind"] == "referral.decided"
    assert item["referral_id"] == "r2" and item["reference"] == "RFS-2"
    assert item["data"] == {"outcome": "team_around_the_family", "href": "/v1/referrals/r2"}  # its own
    assert "r0" not in str(item)  # the referral it joined is another agency's
    assert await notif.feed("health", "gp-2") == []
    # No deadline of its own is touched.
    assert (await notif.deadlines(referral_id="r2"))["items"] == []
