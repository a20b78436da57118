"""An Early Help Assessment submitted: the early help managers are told it awaits approval."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from services.notifications.channels.feed import WEBHOOK_EVENT_TYPES
from services.notifications.config import Settings
from services.notifications.models import Delivery

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
MANAGERS = "eh-managers@council.example"


def submitted(episode_id: str = "e1", assessment_id: str = "a1", author: str | None = "p-author") -> dict:
    return {
        "episode_id": episode_id,
        "assessment_id": assessment_id,
        "submitted_at": T0.isoformat(),
        "author_practitioner_id": author,
    }


async def open_episode(notif, episode_id: str = "e1") -> None:
    await notif.event(
        "episode.opened",
        {"episode_id": episode_id, "reference": "EH-0001", "person_ids": ["p1"], "opened_at": T0.isoformat()},
    )


async def approvals(notif) -> list[dict]:
    """The early help feed's approval items (it also hears of episodes opened and closed)."""
    feed = await notif.feed("early_help", "eh-1")
    return [n for n in feed if n["kind"] == "assessment.awaiting_approval"]


async def deliveries(notif, channel: str) -> list[Delivery]:
    async with notif.db.session(write=False) as session:
        return list(await session.scalars(select(Delivery).where(Delivery.channel == channel)))


async def test_a_submitted_assessment_reaches_the_early_help_feed(notif):
    await open_episode(notif)
    await notif.event("assessment.submitted", submitted())
    [item] = await approvals(notif)
    assert item["kind"] == "assessment.awaiting_approval"
    assert (item["episode_id"], item["reference"]) == ("e1", "EH-0001")
    assert item["data"]["assessment_id"] == "a1"
    assert item["data"]["author_practitioner_id"] == "p-author"
    assert item["message"] == "Early Help Assessment awaiting approval"
    # Nobody else is told: not the MASH, not a partner on the TAF.
    assert await notif.feed("mash", "mash-1") == []
    assert await notif.feed("education", "school-1") == []
    # No email address configured: the feed only.
    assert await deliveries(notif, "email") == []


async def test_the_alert_is_written_once_per_event(notif):
    await open_episode(notif)
    event_id = str(uuid.uuid4())
    for _ in range(2):
        await notif.event("assessment.submitted", submitted(), event_id=event_id)
    assert len(await approvals(notif)) == 1
    # A resubmission (after the manager sent it back) is a new event and a new alert.
    await notif.event("assessment.submitted", submitted())
    assert len(await approvals(notif)) == 2


async def test_a_system_submission_and_an_unknown_episode_still_alert(notif):
    """The author may be a system call (no practitioner); the episode may not be known yet."""
    await notif.event("assessment.submitted", submitted("e-unknown", "a2", author=None))
    [item] = await approvals(notif)
    assert (item["episode_id"], item["reference"]) == ("e-unknown", None)
    assert item["data"]["author_practitioner_id"] is None


async def test_nothing_to_approve_on_a_closed_episode(notif):
    await open_episode(notif)
    await notif.event("episode.closed", {"episode_id": "e1", "closed_at": T0.isoformat()})
    await notif.event("assessment.submitted", submitted())
    assert await approvals(notif) == []


async def test_the_managers_mailbox_is_emailed_ids_only(make_notif):
    notif = await make_notif(early_help_managers_email=MANAGERS)
    await open_episode(notif)
    await notif.event("assessment.submitted", submitted())
    [mail] = await deliveries(notif, "email")
    assert mail.recipient_email == MANAGERS and mail.event_type == "assessment.awaiting_approval"
    assert mail.payload["subject"] == "[Early Help] Early Help Assessment awaiting approval (EH-0001)"
    assert "assessment id: a1" in mail.payload["text"] and "episode id: e1" in mail.payload["text"]


async def test_early_help_webhooks_get_it_with_ids_only(notif):
    assert "assessment.awaiting_approval" in WEBHOOK_EVENT_TYPES
    body = {"url": "https://hooks.example/eh", "event_types": ["assessment.awaiting_approval"]}
    subs = {}
    for agency_type, agency_id in (("early_help", "eh-1"), ("education", "school-1")):
        resp = await notif.client.post(
            "/v1/subscriptions", json=body, headers=notif.headers(agency_type, agency_id, "webhooks:manage")
        )
        assert resp.status_code == 201, resp.text
        subs[agency_type] = resp.json()["id"]
    await open_episode(notif)
    await notif.event("assessment.submitted", submitted())
    [hook] = await deliveries(notif, "webhook")
    assert hook.subscription_id == subs["early_help"]  # the school subscribed, but is not addressed
    data = hook.payload["data"]
    assert hook.payload["type"] == "assessment.awaiting_approval"
    assert set(data) == {"notification_id", "episode_id", "assessment_id", "author_practitioner_id", "href"}
    assert data["href"] == "/v1/episodes/e1"
    assert (data["episode_id"], data["assessment_id"]) == ("e1", "a1")


@pytest.mark.parametrize("value", ["not-an-address", "a@b.example, c@d.example", "x y@z.example"])
def test_the_managers_address_setting_is_one_address(value):
    with pytest.raises(ValidationError, match="early_help_managers_email"):
        Settings(early_help_managers_email=value, environment="test")
    assert Settings(
        early_help_managers_email=f" {MANAGERS} ", environment="test"
    ).early_help_managers_email == (MANAGERS)
