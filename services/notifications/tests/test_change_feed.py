"""The change feed (issue 20, items 4 and 5): a feed item and webhooks for every state change
a partner acts on, addressed to the agencies concerned, with ids, codes and an `href` only;
plan actions' due dates as `action_due` deadlines; `review.due` for the lead professional;
`?updated_since=` on each of this service's lists."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from services.notifications.channels.feed import WEBHOOK_DATA_KEYS, WEBHOOK_EVENT_TYPES
from services.notifications.models import Delivery, Notification
from services.notifications.tests.test_channels import receiver, run_worker, subscribe  # noqa: F401
from services.notifications.worker import Worker

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # a Monday
EID = "e-cf"
LEAD = "school-lead"
MEMBER = "hv-member"
OWNER = "police-owner"
# What an event could never pass on (names, dates of birth, addresses, free text, emails).
PERSONAL_KEYS = {
    "name",
    "given_name",
    "family_name",
    "date_of_birth",
    "dob",
    "address",
    "postcode",
    "nhs_number",
    "notes",
    "summary",
    "description",
    "progress_notes",
    "email",
    "phone",
}


async def kinds_of(notif, agency_type: str, agency_id: str) -> list[str]:
    return sorted(n["kind"] for n in await notif.feed(agency_type, agency_id))


async def item(notif, agency_type: str, agency_id: str, kind: str) -> dict[str, Any]:
    [found] = [n for n in await notif.feed(agency_type, agency_id) if n["kind"] == kind]
    return found


async def an_episode_with_a_team(notif) -> None:
    await notif.event(
        "episode.opened",
        {"episode_id": EID, "reference": "EH-CF", "person_ids": ["p1"], "opened_at": T0.isoformat()},
    )
    await notif.event(
        "lead_professional.assigned",
        {"episode_id": EID, "agency_id": LEAD, "email": "lead@school.example", "practitioner_id": "pr-1"},
    )
    await notif.event(
        "taf.member_added",
        {
            "episode_id": EID,
            "member_id": "m1",
            "agency_id": MEMBER,
            "agency_type": "health",
            "practitioner_id": "pr-2",
            "changed_at": T0.isoformat(),
            "taf_agency_ids": [LEAD, MEMBER],
        },
    )


def plan_agreed(version: int, actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "episode_id": EID,
        "plan_id": f"plan-{version}",
        "version": version,
        "agreed_at": T0.isoformat(),
        "taf_agency_ids": [LEAD, MEMBER],
        "actions": actions,
    }


def action(action_id: str = "a1", due_on: date = date(2026, 6, 12), status: str = "open") -> dict[str, Any]:
    return {
        "action_id": action_id,
        "owner_agency_id": OWNER,
        "owner_practitioner_id": "pr-owner",
        "due_on": due_on.isoformat(),
        "status": status,
    }


async def test_referral_received_and_withdrawn_reach_the_mash_and_the_referrer(notif):
    data = {
        "referral_id": "r1",
        "reference": "R-1",
        "source_agency_id": "school-1",
        "received_at": T0.isoformat(),
    }
    await notif.event("referral.received", data)
    await notif.event("referral.withdrawn", {**data, "withdrawn_at": T0.isoformat()})
    for agency_type, agency_id in (("mash", "mash-1"), ("education", "school-1")):
        assert await kinds_of(notif, agency_type, agency_id) == ["referral.received", "referral.withdrawn"]
    received = await item(notif, "mash", "mash-1", "referral.received")
    assert received["data"]["href"] == "/v1/referrals/r1" and received["referral_id"] == "r1"
    assert await notif.feed("education", "school-2") == []  # another school's referral: nothing


async def test_episode_opened_and_team_changes(notif):
    await an_episode_with_a_team(notif)
    opened = await item(notif, "early_help", "eh-1", "episode.opened")
    assert opened["data"]["href"] == f"/v1/episodes/{EID}"
    # The new lead is told (feed and email); the member and the lead hear the member joined.
    lead = await item(notif, "education", LEAD, "taf.lead_professional_changed")
    assert lead["recipient_agency_id"] == LEAD and lead["data"]["practitioner_id"] == "pr-1"
    for agency in (LEAD, MEMBER):
        added = await item(notif, "health", agency, "taf.member_added")
        assert added["data"] == {
            "href": f"/v1/episodes/{EID}",
            "member_agency_id": MEMBER,
            "practitioner_id": "pr-2",
        }
    await notif.event(
        "taf.member_removed",
        {"episode_id": EID, "member_id": "m1", "agency_id": MEMBER, "taf_agency_ids": [LEAD]},
    )
    assert "taf.member_removed" in await kinds_of(notif, "health", MEMBER)
    assert "taf.member_removed" in await kinds_of(notif, "education", LEAD)
    assert await notif.feed("health", "someone-else") == []


async def test_plan_changed_and_episode_closed_reach_the_whole_team(notif):
    await an_episode_with_a_team(notif)
    await notif.event("plan.agreed", plan_agreed(1, []))
    for agency in (LEAD, MEMBER):
        changed = await item(notif, "health", agency, "plan.changed")
        assert changed["data"] == {"href": f"/v1/episodes/{EID}/plan", "plan_id": "plan-1", "version": 1}
    await notif.event(
        "episode.closed",
        {
            "episode_id": EID,
            "reason": "needs_met",
            "closed_at": T0.isoformat(),
            "taf_agency_ids": [LEAD, MEMBER],
        },
    )
    for agency in (LEAD, MEMBER):
        closed = await item(notif, "health", agency, "episode.closed")
        assert closed["data"]["reason"] == "needs_met"
    assert "plan.changed" not in await kinds_of(notif, "early_help", "eh-1")  # the lead is known


async def test_an_action_owner_is_told_when_assigned_before_due_and_when_overdue(notif):
    await an_episode_with_a_team(notif)
    await notif.event("plan.agreed", plan_agreed(1, [action()]))
    await notif.event("action.created", {"episode_id": EID, **action()})
    assigned = await item(notif, "police", OWNER, "action.assigned")
    assert assigned["data"]["action_id"] == "a1" and assigned["data"]["owner_practitioner_id"] == "pr-owner"
    assert assigned["data"]["href"] == f"/v1/episodes/{EID}/plan"
    [due] = [d for d in (await notif.deadlines(episode_id=EID))["items"] if d["kind"] == "action_due"]
    # Due by the end of the due date in London (00:00 BST next day = 23:00 UTC), the owner's.
    assert due["due_at"].startswith("2026-06-12T23:00") and due["assignee_agency_id"] == OWNER
    # A new lead professional does not take the action's due date over.
    await notif.event("lead_professional.assigned", {"episode_id": EID, "agency_id": "new-lead"})
    [due] = [d for d in (await notif.deadlines(episode_id=EID))["items"] if d["kind"] == "action_due"]
    assert due["assignee_agency_id"] == OWNER
    worker = Worker(notif.settings, notif.db)
    try:
        await worker.tick(now=datetime(2026, 6, 11, 12, 0, tzinfo=UTC))  # 48 h before: reminder
        await worker.tick(now=datetime(2026, 6, 13, 9, 0, tzinfo=UTC))  # past due: overdue
    finally:
        await worker.aclose()
    kinds = await kinds_of(notif, "police", OWNER)
    assert kinds == ["action.assigned", "action.due", "action.overdue"]
    overdue = await item(notif, "police", OWNER, "action.overdue")
    assert overdue["data"]["action_id"] == "a1" and overdue["data"]["deadline_kind"] == "action_due"


async def test_the_plan_moves_completes_and_drops_actions_due_dates(notif):
    await an_episode_with_a_team(notif)
    await notif.event("plan.agreed", plan_agreed(1, [action("a1"), action("a2"), action("a3")]))

    async def due_dates() -> dict[str, tuple[str, str]]:
        rows = (await notif.deadlines(episode_id=EID))["items"]
        return {d["subject_id"]: (d["status"], d["due_at"][:10]) for d in rows if d["kind"] == "action_due"}

    assert await due_dates() == {a: ("open", "2026-06-12") for a in ("a1", "a2", "a3")}
    await notif.event(
        "plan.agreed",
        plan_agreed(2, [action("a1", date(2026, 6, 19)), action("a2", status="completed")]),
    )
    assert await due_dates() == {
        "a1": ("open", "2026-06-19"),
        "a2": ("met", "2026-06-12"),
        "a3": ("cancelled", "2026-06-12"),
    }
    await notif.event(
        "action.completed", {"episode_id": EID, "action_id": "a1", "completed_at": T0.isoformat()}
    )
    assert (await due_dates())["a1"][0] == "met"


async def test_review_due_reaches_the_lead_professional(notif):
    await an_episode_with_a_team(notif)
    await notif.event(
        "review.held",
        {"episode_id": EID, "review_id": "rv1", "held_on": "2026-06-01", "next_review_on": "2026-07-13"},
    )
    worker = Worker(notif.settings, notif.db)
    try:
        await worker.tick(now=datetime(2026, 7, 12, 9, 0, tzinfo=UTC))  # within the 72 h lead
    finally:
        await worker.aclose()
    due = await item(notif, "education", LEAD, "review.due")
    assert (
        due["data"]["href"] == f"/v1/episodes/{EID}/reviews" and due["data"]["deadline_kind"] == "next_review"
    )
    assert due["data"]["stage"] == "reminder"
    # The deadline reminder it always sent is still sent.
    assert "deadline.reminder" in await kinds_of(notif, "education", LEAD)
    async with notif.db.session(write=False) as s:
        mails = (await s.scalars(select(Delivery).where(Delivery.event_type == "review.due"))).all()
    assert [m.recipient_email for m in mails] == ["lead@school.example"]


async def test_webhooks_of_every_new_kind_are_signed_and_carry_no_personal_detail(notif, receiver):  # noqa: F811
    new_kinds = [
        k for k in WEBHOOK_EVENT_TYPES if k.split(".")[0] in {"episode", "taf", "plan", "action", "review"}
    ]
    resp = await notif.client.post(
        "/v1/subscriptions",
        json={"url": receiver.url, "event_types": list(WEBHOOK_EVENT_TYPES)},
        headers=notif.headers("health", MEMBER, "webhooks:manage"),
    )
    assert resp.status_code == 201, resp.text
    secret = resp.json()["secret"]
    await an_episode_with_a_team(notif)
    # The member owns the action here, so every partner event reaches its subscription.
    owned = {**action(), "owner_agency_id": MEMBER}
    await notif.event("plan.agreed", plan_agreed(1, [owned]))
    await notif.event("action.created", {"episode_id": EID, **owned})
    await notif.event(
        "review.held",
        {"episode_id": EID, "review_id": "rv1", "held_on": "2026-06-01", "next_review_on": "2026-07-13"},
    )
    worker = Worker(notif.settings, notif.db)
    try:
        await worker.tick(now=datetime(2026, 6, 11, 12, 0, tzinfo=UTC))
        await worker.tick(now=datetime(2026, 6, 13, 9, 0, tzinfo=UTC))
    finally:
        await worker.aclose()
    await notif.event(
        "taf.member_removed",
        {"episode_id": EID, "member_id": "m1", "agency_id": MEMBER, "taf_agency_ids": [LEAD]},
    )
    await notif.event(
        "episode.closed",
        {
            "episode_id": EID,
            "reason": "needs_met",
            "closed_at": T0.isoformat(),
            "taf_agency_ids": [LEAD, MEMBER],
        },
    )
    await run_worker(notif)
    received: dict[str, dict[str, Any]] = {}
    for body, headers in receiver.requests:
        payload = Webhook(secret).verify(body, headers)  # raises if the signature is wrong
        assert "@" not in body.decode()  # not even a professional's email
        assert set(payload["data"]) <= {
            "notification_id",
            *WEBHOOK_DATA_KEYS,
            "referral_id",
            "episode_id",
            "consent_id",
            "deadline_id",
        }
        assert payload["data"]["href"].startswith("/v1/")
        received[payload["type"]] = payload
    assert {
        "taf.member_added",
        "taf.member_removed",
        "plan.changed",
        "action.assigned",
        "action.overdue",
        "episode.closed",
    } <= set(received), sorted(received)
    assert set(new_kinds) - set(received) <= {
        "episode.opened",
        "taf.lead_professional_changed",
        "action.due",
        "review.due",
    }  # addressed to early help / the lead


async def test_no_item_or_payload_carries_personal_fields(notif):
    """Even when an event carried personal detail by mistake, the feed and webhooks do not."""
    await notif.client.post(
        "/v1/subscriptions",
        json={"url": "https://hooks.example/x", "event_types": list(WEBHOOK_EVENT_TYPES)},
        headers=notif.headers("education", LEAD, "webhooks:manage"),
    )
    leak = {"name": "Jane Doe", "date_of_birth": "2015-01-01", "address": "1 High St", "notes": "secret"}
    await notif.event("referral.received", {"referral_id": "r9", "source_agency_id": LEAD, **leak})
    await notif.event("episode.opened", {"episode_id": EID, "person_ids": ["p"], **leak})
    await notif.event(
        "lead_professional.assigned", {"episode_id": EID, "agency_id": LEAD, "email": "l@x.example"}
    )
    await notif.event("taf.member_added", {"episode_id": EID, "agency_id": MEMBER, **leak})
    await notif.event("plan.agreed", {**plan_agreed(1, [action()]), **leak})
    await notif.event("action.created", {"episode_id": EID, **action(), **leak})
    await notif.event("episode.closed", {"episode_id": EID, "taf_agency_ids": [LEAD], **leak})
    async with notif.db.session(write=False) as s:
        items = (await s.scalars(select(Notification))).all()
        hooks = (await s.scalars(select(Delivery).where(Delivery.channel == "webhook"))).all()
    assert items and hooks
    for n in items:
        text = json.dumps([n.message, n.data])
        assert not PERSONAL_KEYS & set(n.data) and "Jane" not in text and "High St" not in text
    for h in hooks:
        assert not PERSONAL_KEYS & set(h.payload["data"])
        assert "Jane" not in json.dumps(h.payload) and "@" not in json.dumps(h.payload)


@pytest.mark.parametrize("path", ["/v1/notifications", "/v1/deadlines", "/v1/deadline-rules"])
async def test_updated_since_on_the_feed_deadlines_and_rules(notif, clock, path):
    clock.set(T0)
    await notif.event(
        "referral.received", {"referral_id": "r-old", "source_agency_id": "s", "received_at": T0.isoformat()}
    )
    clock.set(T0 + timedelta(hours=1))
    await notif.event(
        "referral.received", {"referral_id": "r-new", "source_agency_id": "s", "received_at": T0.isoformat()}
    )
    await notif.client.put(
        "/v1/deadline-rules/action_due",
        json={
            "amount": 5,
            "unit": "working_days",
            "reminder_lead_hours": 24,
            "escalation_delay_hours": 24,
            "escalation_target": "early_help",
            "team": "early_help",
        },
        headers=notif.headers("admin", scopes="admin"),
    )
    scopes = {"/v1/notifications": "notifications:read", "/v1/deadlines": "deadlines:read"}.get(path, "admin")
    headers = notif.headers("mash", "mash-1", scopes)
    since = (T0 + timedelta(minutes=30)).isoformat()
    resp = await notif.client.get(path, params={"updated_since": since}, headers=headers)
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    if path == "/v1/deadline-rules":
        assert [r["kind"] for r in items] == ["action_due"]
    else:
        assert [i["referral_id"] for i in items] == ["r-new"]
        everything = (await notif.client.get(path, headers=headers)).json()["items"]
        assert len(everything) == 2
    # A moment needs its offset; a number is not a moment.
    for bad in ("2026-06-01T09:30:00", "1700000000"):
        resp = await notif.client.get(path, params={"updated_since": bad}, headers=headers)
        assert resp.status_code == 422 and "updated_since" in resp.text


async def test_updated_since_on_subscriptions_and_deliveries(notif, clock, receiver):  # noqa: F811
    clock.set(T0)
    headers = notif.headers("education", "school-1", "webhooks:manage")
    old = (await subscribe(notif, receiver.url)).json()["id"]
    clock.set(T0 + timedelta(hours=1))
    new = (await subscribe(notif, receiver.url)).json()["id"]
    since = {"updated_since": (T0 + timedelta(minutes=30)).isoformat()}
    listed = (await notif.client.get("/v1/subscriptions", params=since, headers=headers)).json()["items"]
    assert [s["id"] for s in listed] == [new]
    await notif.event(
        "referral.decided",
        {
            "referral_id": "r1",
            "source_agency_id": "school-1",
            "outcome": "early_help",
            "decided_at": T0.isoformat(),
        },
    )
    clock.set(T0 + timedelta(hours=2))
    await run_worker(notif, T0 + timedelta(hours=2))  # delivered now: the delivery changed
    later = {"updated_since": (T0 + timedelta(hours=1, minutes=30)).isoformat()}
    log = await notif.client.get(f"/v1/subscriptions/{old}/deliveries", params=later, headers=headers)
    assert [d["status"] for d in log.json()["items"]] == ["delivered"]
    after = {"updated_since": (T0 + timedelta(hours=3)).isoformat()}
    log = await notif.client.get(f"/v1/subscriptions/{old}/deliveries", params=after, headers=headers)
    assert log.json()["items"] == []
