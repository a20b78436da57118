"""The MASH decision: the state machine, the level/outcome table, timeliness, and its events."""

from __future__ import annotations

import pytest

from services.referrals.codes import OUTCOME_LEVELS
from services.referrals.tests.conftest import london

LEVELS = ["universal", "universal_plus", "partnership_plus", "specialist"]
COMBINATIONS = [(level, outcome) for outcome in OUTCOME_LEVELS for level in LEVELS]


@pytest.mark.parametrize(("level", "outcome"), COMBINATIONS)
async def test_level_and_outcome_must_agree(svc, level, outcome):
    referral = await svc.create()
    resp = await svc.decide(referral["id"], level, outcome)
    if level in OUTCOME_LEVELS[outcome]:
        assert resp.status_code == 200, resp.text
        assert resp.json()["decision"]["outcome"] == outcome
    else:
        assert resp.status_code == 422
        assert resp.json()["type"] == "https://early-help.example/problems/decision-level-mismatch"
        assert resp.json()["errors"][0]["field"] == "outcome"


def test_the_documented_table():
    assert OUTCOME_LEVELS == {
        "no_further_action": {"universal"},
        "signpost_universal": {"universal", "universal_plus"},
        "single_agency_early_help": {"universal_plus"},
        "team_around_the_family": {"partnership_plus"},
        "social_care_assessment": {"specialist"},
        "strategy_discussion": {"specialist"},
    }


async def test_received_then_decided_once(svc):
    svc.now = london(2026, 11, 2, 9, 0)
    referral = await svc.create()
    svc.now = london(2026, 11, 2, 15, 0)
    resp = await svc.decide(referral["id"])
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["status"] == "decided" and out["decided_within_timescale"] is True
    assert (
        out["decision"]["rationale"] == "Several needs."
        and out["decision"]["decided_by"]["role"] == "Team manager"
    )
    assert resp.headers["etag"] == f'"{referral["id"]}-2"'
    again = await svc.decide(referral["id"], "universal", "no_further_action")
    assert again.status_code == 409
    assert again.json()["type"] == "https://early-help.example/problems/decision-already-made"
    withdraw = await svc.client.post(
        f"/v1/referrals/{referral['id']}/withdraw", json={"reason": "x"}, headers=svc.as_("school_a")
    )
    assert withdraw.status_code == 409


async def test_a_late_decision_is_recorded_as_outside_the_timescale(svc):
    svc.now = london(2026, 11, 6, 16, 0)  # Friday
    referral = await svc.create()
    svc.now = london(2026, 11, 9, 16, 0)  # Monday, the due moment itself: in time
    assert (await svc.decide(referral["id"])).json()["decided_within_timescale"] is True
    svc.now = london(2026, 11, 6, 16, 0)
    late = await svc.create()
    svc.now = london(2026, 11, 9, 16, 1)
    out = (await svc.decide(late["id"])).json()
    assert out["decided_within_timescale"] is False
    [event] = [e for e in await svc.outbox("referral.decided") if e["data"]["referral_id"] == late["id"]]
    assert event["data"]["decided_within_timescale"] is False


async def test_withdrawn_and_linked_referrals_cannot_be_decided(svc):
    withdrawn = await svc.create()
    resp = await svc.client.post(
        f"/v1/referrals/{withdrawn['id']}/withdraw",
        json={"reason": "Family moved away"},
        headers=svc.as_("school_a"),
    )
    assert resp.status_code == 200 and resp.json()["status"] == "withdrawn"
    assert resp.json()["withdrawal_reason"] == "Family moved away"
    [event] = await svc.outbox("referral.withdrawn")
    assert event["data"]["referral_id"] == withdrawn["id"]
    refused = await svc.decide(withdrawn["id"])
    assert refused.status_code == 409
    assert refused.json()["type"] == "https://early-help.example/problems/referral-not-awaiting-decision"
    again = await svc.client.post(
        f"/v1/referrals/{withdrawn['id']}/withdraw", json={"reason": "x"}, headers=svc.as_("school_a")
    )
    assert again.status_code == 409

    first = await svc.create()
    linked = await svc.create("police")
    assert linked["status"] == "linked"
    refused = await svc.decide(linked["id"])
    assert refused.status_code == 409 and refused.json()["type"].endswith("/referral-not-awaiting-decision")
    assert (await svc.decide(first["id"])).status_code == 200


async def test_decision_needs_triage_write_and_a_rationale(svc):
    referral = await svc.create()
    school = await svc.decide(referral["id"], caller="school_a")
    assert school.status_code == 403
    assert school.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
    early_help = await svc.decide(referral["id"], caller="early_help")
    assert early_help.status_code == 403
    missing = await svc.client.post(
        f"/v1/referrals/{referral['id']}/decision",
        json={
            "level_of_need": "universal",
            "outcome": "no_further_action",
            "decided_by": {"name": "Pat", "role": "TM"},
        },
        headers=svc.as_("mash"),
    )
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "rationale"
    blank = await svc.client.post(
        f"/v1/referrals/{referral['id']}/decision",
        json={
            "level_of_need": "universal",
            "outcome": "no_further_action",
            "rationale": "   ",
            "decided_by": {"name": "Pat", "role": "TM"},
        },
        headers=svc.as_("mash"),
    )
    assert blank.status_code == 422
    assert (await svc.decide("no-such-referral")).status_code == 404


async def test_if_match_is_honoured(svc):
    referral = await svc.create()
    stale = await svc.client.post(
        f"/v1/referrals/{referral['id']}/decision",
        json={
            "level_of_need": "universal",
            "outcome": "no_further_action",
            "rationale": "Met by school",
            "decided_by": {"name": "Pat", "role": "TM"},
        },
        headers={**svc.as_("mash"), "If-Match": '"someone-else-7"'},
    )
    assert stale.status_code == 412
    current = (await svc.client.get(f"/v1/referrals/{referral['id']}", headers=svc.as_("mash"))).headers[
        "etag"
    ]
    ok = await svc.client.post(
        f"/v1/referrals/{referral['id']}/decision",
        json={
            "level_of_need": "universal",
            "outcome": "no_further_action",
            "rationale": "Met by school",
            "decided_by": {"name": "Pat", "role": "TM"},
        },
        headers={**svc.as_("mash"), "If-Match": current},
    )
    assert ok.status_code == 200


async def test_withdrawal_is_for_the_submitter_or_the_mash(svc):
    referral = await svc.create()
    other_school = await svc.client.post(
        f"/v1/referrals/{referral['id']}/withdraw", json={"reason": "x"}, headers=svc.as_("school_b")
    )
    assert other_school.status_code == 404
    early_help = await svc.client.post(
        f"/v1/referrals/{referral['id']}/withdraw", json={"reason": "x"}, headers=svc.as_("early_help")
    )
    assert early_help.status_code == 403
    mash = await svc.client.post(
        f"/v1/referrals/{referral['id']}/withdraw", json={"reason": "Family asked"}, headers=svc.as_("mash")
    )
    assert mash.status_code == 200


async def test_team_around_the_family_opens_an_episode_even_if_assessments_was_down(svc):
    """The decision's event waits in the outbox while the assessments service is down, is
    delivered when it is back, and the episode it opens shows on the referral."""
    referral = await svc.create()
    svc.receivers.up["assessments.test"] = False
    decided = await svc.decide(referral["id"])
    assert decided.status_code == 200 and decided.json()["episode_id"] is None
    await svc.deliver_now()
    assert svc.receivers.events("assessments.test", "referral.decided") == []
    # The referrer's agency hears the outcome (notifications turns this into its feed and webhooks).
    [told] = svc.receivers.events("notifications.test", "referral.decided")
    assert told["data"]["source_agency_id"] == "agency-school-a"
    assert told["data"]["outcome"] == "team_around_the_family"

    svc.receivers.up["assessments.test"] = True  # the assessments service starts
    await svc.deliver_now()
    [event] = svc.receivers.events("assessments.test", "referral.decided")
    data = event["data"]
    assert data["referral_id"] == referral["id"] and data["outcome"] == "team_around_the_family"
    assert data["person_ids"] == [referral["children"][0]["person_id"]]
    assert data["level_of_need"] == "partnership_plus" and data["received_at"]

    # ... which opens the episode there and tells us so.
    await svc.event(
        "episode.opened",
        {
            "episode_id": "ep-7",
            "reference": "EH-2026-000007",
            "referral_id": referral["id"],
            "person_ids": data["person_ids"],
            "origin": "referral",
            "level_of_need": "partnership_plus",
            "opened_at": "2026-11-03T10:00:00Z",
        },
    )
    got = await svc.client.get(f"/v1/referrals/{referral['id']}", headers=svc.as_("school_a"))
    assert got.json()["episode_id"] == "ep-7"
    assert got.headers["etag"] == f'"{referral["id"]}-3"'
    # The same news again (even under another event id) changes nothing.
    twice = await svc.client.post(
        "/internal/events",
        json={
            "type": "episode.opened",
            "source": "assessments",
            "data": {"episode_id": "ep-7", "referral_id": referral["id"], "person_ids": data["person_ids"]},
        },
        headers=svc.as_("service"),
    )
    assert twice.status_code == 202
    again = await svc.client.get(f"/v1/referrals/{referral['id']}", headers=svc.as_("school_a"))
    assert again.json()["episode_id"] == "ep-7" and again.headers["etag"] == got.headers["etag"]


async def test_an_episode_opened_here_is_written_once_per_table(svc):
    """The projection's episode is one INSERT with what the event says (not an INSERT of the
    bare id and an UPDATE), and its people one INSERT that skips those already recorded (not
    a SELECT first); sent again, the event adds nobody twice."""
    from sqlalchemy import event, func, select

    from services.referrals.models import Episode, EpisodePerson

    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        if "outbox_event" not in statement:  # the relay's background passes run meanwhile
            statements.append(" ".join(statement.split())[:40])

    data = {
        "episode_id": "ep-s",
        "reference": "EH-2026-000042",
        "person_ids": ["p-s1", "p-s2"],
        "origin": "referral",
        "level_of_need": "targeted",
        "opened_at": "2026-11-03T10:00:00Z",
    }
    engine = svc.runtime.db.write_engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        await svc.event("episode.opened", data)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert not [s for s in statements if s.startswith(("UPDATE episode ", "SELECT episode_person"))], (
        statements
    )
    assert len([s for s in statements if s.startswith("INSERT INTO episode ")]) == 1, statements
    assert len([s for s in statements if s.startswith("INSERT INTO episode_person ")]) == 1, statements
    await svc.event("episode.opened", {**data, "person_ids": ["p-s2", "p-s3"]})
    async with svc.runtime.db.session(write=False) as s:
        episode = await s.get(Episode, "ep-s")
        people = await s.scalar(
            select(func.count()).select_from(EpisodePerson).where(EpisodePerson.episode_id == "ep-s")
        )
    assert (
        episode is not None and episode.reference == "EH-2026-000042" and episode.level_of_need == "targeted"
    )
    assert people == 3
