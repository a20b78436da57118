"""Each event's effect on deadlines, order tolerance, projections and front-door alerts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from shared.clock import LONDON

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # Monday


async def test_referral_lifecycle(notif):
    await notif.event(
        "referral.received",
        {
            "referral_id": "r1",
            "reference": "R-1",
            "received_at": T0.isoformat(),
            "source_agency_id": "school-1",
        },
    )
    await notif.event("referral.received", {"referral_id": "r2", "received_at": T0.isoformat()})
    await notif.event("referral.received", {"referral_id": "r3", "received_at": T0.isoformat()})
    await notif.event(
        "referral.decided",
        {
            "referral_id": "r1",
            "reference": "R-1",
            "source_agency_id": "school-1",
            "outcome": "early_help",
            "decided_at": T0.isoformat(),
        },
    )
    await notif.event("referral.withdrawn", {"referral_id": "r2", "withdrawn_at": T0.isoformat()})
    await notif.event(
        "referral.linked", {"referral_id": "r3", "linked_episode_id": "e9", "source_agency_id": "x"}
    )
    assert (await notif.deadline("front_door_decision", referral_id="r1"))["status"] == "met"
    assert (await notif.deadline("front_door_decision", referral_id="r2"))["status"] == "cancelled"
    assert (await notif.deadline("front_door_decision", referral_id="r3"))["status"] == "met"
    # The referrer's agency hears the outcome; the feed carries ids and codes.
    feed = await notif.feed("education", "school-1")
    # Newest first; since issue 20 the referrer also hears its referral arrived.
    assert [n["kind"] for n in feed] == ["referral.decided", "referral.received"]
    assert feed[0]["referral_id"] == "r1" and feed[0]["data"]["outcome"] == "early_help"
    assert await notif.feed("education", "school-2") == []


async def test_episode_deadlines_through_the_case(notif):
    eid = "e1"
    received = datetime(2026, 5, 28, 10, 0, tzinfo=UTC)
    await notif.event(
        "episode.opened",
        {
            "episode_id": eid,
            "reference": "EH-1",
            "referral_id": "r1",
            "person_ids": ["p1", "p2"],
            "opened_at": T0.isoformat(),
            "referral_received_at": received.isoformat(),
        },
    )
    d = await notif.deadlines(episode_id=eid)
    assert sorted(x["kind"] for x in d["items"]) == [
        "assessment_completion",
        "assessment_start",
        "first_contact",
    ]
    start = await notif.deadline("assessment_start", episode_id=eid)
    # From the referral's receipt (Thu 28 May), 10 working days: Thu 11 June.
    assert datetime.fromisoformat(start["due_at"]).astimezone(LONDON).date() == date(2026, 6, 11)

    await notif.event(
        "lead_professional.assigned",
        {"episode_id": eid, "agency_id": "hv-1", "email": "lp@health.example", "assigned_at": T0.isoformat()},
    )
    assert (await notif.deadline("first_contact", episode_id=eid))["assignee_email"] == "lp@health.example"
    await notif.event(
        "contact.recorded",
        {"episode_id": eid, "contact_id": "c1", "contact_at": T0.isoformat(), "first": True},
    )
    assert (await notif.deadline("first_contact", episode_id=eid))["status"] == "met"

    await notif.event(
        "assessment.started", {"episode_id": eid, "assessment_id": "a1", "started_at": T0.isoformat()}
    )
    assert (await notif.deadline("assessment_start", episode_id=eid))["status"] == "met"
    assert (await notif.deadline("plan_agreed", episode_id=eid))["status"] == "open"

    await notif.event(
        "assessment.extended", {"episode_id": eid, "assessment_id": "a1", "new_due_on": "2026-09-30"}
    )
    moved = await notif.deadline("assessment_completion", episode_id=eid)
    assert datetime.fromisoformat(moved["due_at"]).astimezone(LONDON) == datetime(2026, 10, 1, tzinfo=LONDON)

    await notif.event(
        "assessment.approved", {"episode_id": eid, "assessment_id": "a1", "approved_at": T0.isoformat()}
    )
    assert (await notif.deadline("assessment_completion", episode_id=eid))["status"] == "met"
    re = await notif.deadline("reassessment", episode_id=eid)
    assert datetime.fromisoformat(re["due_at"]).date() == date(2027, 6, 1)

    await notif.event(
        "plan.agreed", {"episode_id": eid, "plan_id": "pl1", "version": 1, "agreed_at": T0.isoformat()}
    )
    assert (await notif.deadline("plan_agreed", episode_id=eid))["status"] == "met"
    first = await notif.deadline("first_review", episode_id=eid)
    assert datetime.fromisoformat(first["due_at"]).date() == date(2026, 7, 13)  # 6 weeks

    await notif.event(
        "review.held",
        {"episode_id": eid, "review_id": "rv1", "held_on": "2026-07-10", "next_review_on": "2026-09-25"},
    )
    assert (await notif.deadline("first_review", episode_id=eid))["status"] == "met"
    nxt = await notif.deadline("next_review", episode_id=eid, status="open")
    assert datetime.fromisoformat(nxt["due_at"]).astimezone(LONDON) == datetime(2026, 9, 26, tzinfo=LONDON)
    await notif.event(
        "review.held",
        {"episode_id": eid, "review_id": "rv2", "held_on": "2026-09-24", "next_review_on": "2026-12-10"},
    )
    reviews = [x for x in (await notif.deadlines(episode_id=eid))["items"] if x["kind"] == "next_review"]
    assert sorted(x["status"] for x in reviews) == ["met", "open"]

    await notif.event("stepdown.opened", {"episode_id": eid, "panel_on": "2026-09-01", "person_ids": ["p1"]})
    await notif.event("joint_visit.recorded", {"episode_id": eid, "held_on": "2026-09-03"})
    assert (await notif.deadline("stepdown_joint_visit", episode_id=eid))["status"] == "met"

    await notif.event(
        "episode.closed", {"episode_id": eid, "reason": "outcomes_met", "closed_at": T0.isoformat()}
    )
    assert (await notif.deadlines(episode_id=eid, status="open"))["items"] == []
    assert {x["kind"] for x in (await notif.deadlines(episode_id=eid, status="cancelled"))["items"]} == {
        "reassessment",
        "next_review",
    }


async def test_met_before_opened_and_replays(notif):
    # The contact and the start arrive before the episode.
    await notif.event(
        "contact.recorded",
        {"episode_id": "e2", "contact_id": "c", "contact_at": T0.isoformat(), "first": True},
    )
    await notif.event(
        "assessment.started", {"episode_id": "e2", "assessment_id": "a", "started_at": T0.isoformat()}
    )
    await notif.event("referral.decided", {"referral_id": "r5", "decided_at": T0.isoformat()})
    opened = {"episode_id": "e2", "person_ids": ["p"], "opened_at": T0.isoformat()}
    await notif.event("episode.opened", opened, event_id="evt-open-e2")
    again = await notif.event("episode.opened", opened, event_id="evt-open-e2")
    assert again["applied"] is False
    await notif.event("referral.received", {"referral_id": "r5", "received_at": T0.isoformat()})
    assert (await notif.deadline("first_contact", episode_id="e2"))["status"] == "met"
    assert (await notif.deadline("assessment_start", episode_id="e2"))["status"] == "met"
    assert (await notif.deadline("assessment_completion", episode_id="e2"))["status"] == "open"
    assert (await notif.deadline("front_door_decision", referral_id="r5"))["status"] == "met"
    # Closed before (a late) opened: everything of the episode starts cancelled.
    await notif.event("episode.closed", {"episode_id": "e3", "reason": "x", "closed_at": T0.isoformat()})
    await notif.event("episode.opened", {**opened, "episode_id": "e3"})
    assert (await notif.deadlines(episode_id="e3", status="open"))["items"] == []


async def test_consent_review_and_withdrawal_alert_lead_professional(notif):
    await notif.event(
        "episode.opened",
        {"episode_id": "e4", "reference": "EH-4", "person_ids": ["p4"], "opened_at": T0.isoformat()},
    )
    await notif.event(
        "lead_professional.assigned",
        {"episode_id": "e4", "agency_id": "school-4", "email": "lead@school.example"},
    )
    await notif.event(
        "consent.given",
        {
            "consent_id": "c4",
            "person_id": "p4",
            "purposes": ["x"],
            "agencies": [],
            "given_at": T0.isoformat(),
        },
    )
    review = await notif.deadline("consent_review")
    assert datetime.fromisoformat(review["due_at"]).date() == date(2027, 6, 1)
    await notif.event(
        "consent.withdrawn",
        {
            "consent_id": "c4",
            "person_id": "p4",
            "purposes": ["x"],
            "agencies": [],
            "withdrawn_at": T0.isoformat(),
        },
    )
    assert (await notif.deadline("consent_review"))["status"] == "cancelled"
    feed = await notif.feed("education", "school-4")
    assert [(n["kind"], n["episode_id"], n["consent_id"]) for n in feed] == [
        ("consent.withdrawn", "e4", "c4"),
        ("taf.lead_professional_changed", "e4", None),  # issue 20: the new lead is told
    ]
    # A linked new referral goes to the same lead professional.
    await notif.event(
        "referral.linked", {"referral_id": "r7", "linked_episode_id": "e4", "source_agency_id": "gp"}
    )
    assert [n["kind"] for n in await notif.feed("education", "school-4")] == [
        "referral.linked",
        "consent.withdrawn",
        "taf.lead_professional_changed",
    ]


async def test_safeguarding_concern_alerts_mash_and_feed_read(notif):
    await notif.event(
        "referral.safeguarding_concern",
        {"referral_id": "r8", "reference": "R-8", "source_agency_id": "police-1"},
    )
    feed = await notif.feed("mash", "mash-1", unread="true")
    assert [n["kind"] for n in feed] == ["referral.safeguarding_concern"]
    nid = feed[0]["id"]
    other = await notif.client.post(
        f"/v1/notifications/{nid}/read", headers=notif.headers("education", "school-1", "notifications:read")
    )
    assert other.status_code == 404
    ok = await notif.client.post(
        f"/v1/notifications/{nid}/read", headers=notif.headers("mash", "mash-1", "notifications:read")
    )
    assert ok.status_code == 200 and ok.json()["read_at"]
    assert await notif.feed("mash", "mash-1", unread="true") == []
    assert len(await notif.feed("mash", "mash-1")) == 1


async def test_deadline_list_filters_and_overdue_summary(notif):
    past = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    for rid in ("ra", "rb"):
        await notif.event("referral.received", {"referral_id": rid, "received_at": past.isoformat()})
    await notif.event(
        "referral.received",
        {"referral_id": "rc", "received_at": datetime(2030, 1, 7, tzinfo=UTC).isoformat()},
    )
    await notif.event("episode.opened", {"episode_id": "e5", "person_ids": [], "opened_at": past.isoformat()})
    out = await notif.deadlines(status="overdue")
    assert out["summary"]["overdue_by_kind"] == {
        "front_door_decision": 2,
        "first_contact": 1,
        "assessment_start": 1,
        "assessment_completion": 1,
    }
    assert out["summary"]["overdue"] == 5 and all(d["overdue"] for d in out["items"])
    mash = await notif.deadlines(team="mash", status="open")
    assert sorted(d["referral_id"] for d in mash["items"]) == ["ra", "rb", "rc"]
    page = await notif.deadlines(limit=2)
    assert len(page["items"]) == 2 and page["next_cursor"]
    bad = await notif.client.get("/v1/deadlines", params={"status": "late"}, headers=notif.headers())
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"
    denied = await notif.client.get("/v1/deadlines", headers=notif.headers(scopes="referrals:read"))
    assert denied.status_code == 403


@contextmanager
def statements_of(notif) -> Iterator[list[str]]:
    """The SELECT/INSERT/UPDATE/DELETE statements the service runs meanwhile, leaving out the
    relay's background passes over the outbox."""
    from sqlalchemy import event

    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        if "outbox_event" in statement:
            return
        if statement.lstrip().split(" ", 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            statements.append(statement)

    engine = notif.db.write_engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def deadline_work(statements: list[str]) -> list[str]:
    """The statements that are not the change feed's (feed rows, subscriptions, deliveries)."""
    feed = ("notification", "subscription", "delivery")
    return [s for s in statements if not any(f" {t} " in f"{s} ".replace("(", " ") for t in feed)]


async def test_an_opened_episode_starts_its_three_deadlines_together(notif):
    """The episode's link and people as upserts, one query for the rules, what is open and
    the early facts, and one INSERT for all three deadlines: six statements with the event's
    receipt and the early fact dropped (one deadline at a time it took sixteen, then ten)."""
    from sqlalchemy import func, select

    from services.notifications.models import DeadlineFact

    await notif.event(
        "contact.recorded",
        {"episode_id": "e9", "contact_id": "c", "contact_at": T0.isoformat(), "first": True},
    )
    with statements_of(notif) as statements:
        await notif.event(
            "episode.opened", {"episode_id": "e9", "person_ids": ["p1", "p2"], "opened_at": T0.isoformat()}
        )
    assert len([s for s in statements if s.startswith("INSERT INTO deadline ")]) == 1, statements
    # The change feed's item (issue 20) is apart: the subscriptions read, the feed row.
    assert len(deadline_work(statements)) <= 6, statements
    assert len(statements) - len(deadline_work(statements)) <= 2, statements
    assert (await notif.deadline("first_contact", episode_id="e9"))["status"] == "met"
    for kind in ("assessment_start", "assessment_completion"):
        assert (await notif.deadline(kind, episode_id="e9"))["status"] == "open"
    async with notif.db.session(write=False) as s:
        assert (await s.scalar(select(func.count()).select_from(DeadlineFact))) == 0


async def test_a_referral_received_opens_its_deadline_in_three_statements(notif):
    """The receipt, one query for the rule with what is open and any early fact, one INSERT."""
    with statements_of(notif) as statements:
        await notif.event("referral.received", {"referral_id": "r-3", "received_at": T0.isoformat()})
    assert len(deadline_work(statements)) == 3, statements
    assert len(statements) - len(deadline_work(statements)) <= 2, statements  # referral.received item
    assert (await notif.deadline("front_door_decision", referral_id="r-3"))["status"] == "open"
    # Sent again under a new event id, it finds the deadline open and adds none.
    await notif.event("referral.received", {"referral_id": "r-3", "received_at": T0.isoformat()})
    assert len((await notif.deadlines(referral_id="r-3"))["items"]) == 1


async def test_an_episode_opened_after_its_lead_was_assigned_keeps_the_lead(notif):
    """Events can arrive out of order: the link the lead's assignment made is kept (not
    overwritten) by the opening's upsert, and the new deadlines are assigned to the lead;
    people already known are not added twice."""
    await notif.event(
        "lead_professional.assigned",
        {
            "episode_id": "e-late",
            "agency_id": "hv-1",
            "email": "lp@health.example",
            "assigned_at": T0.isoformat(),
        },
    )
    opened = {"episode_id": "e-late", "reference": "EH-9", "person_ids": ["p1"], "opened_at": T0.isoformat()}
    await notif.event("episode.opened", opened)
    await notif.event("episode.opened", {**opened, "person_ids": ["p1", "p2"]})
    first = await notif.deadline("first_contact", episode_id="e-late")
    assert first["assignee_email"] == "lp@health.example" and first["reference"] == "EH-9"
    assert len((await notif.deadlines(episode_id="e-late"))["items"]) == 3
    from sqlalchemy import select

    from services.notifications.models import EpisodeLink, EpisodePerson

    async with notif.db.session(write=False) as s:
        people = sorted(
            await s.scalars(select(EpisodePerson.person_id).where(EpisodePerson.episode_id == "e-late"))
        )
        link = await s.get(EpisodeLink, "e-late")
    assert people == ["p1", "p2"]
    assert link is not None and link.lead_email == "lp@health.example" and link.reference == "EH-9"
