"""GOV.UK Notify (issue 22): email and SMS for an alert through the official client against a
local Notify (`notify_fake.py`, loopback only) - statuses polled, errors classified, each
notification sent once only across crashes, the API key never shown."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from services.notifications.channels.deliveries import DeliveryProcessor
from services.notifications.channels.feed import NOTIFY_FIELDS
from services.notifications.channels.notify import NotifyChannel
from services.notifications.config import Settings
from services.notifications.models import Delivery
from services.notifications.tests.notify_fake import API_KEY, EMAIL_TEMPLATE, SECRET, SMS_TEMPLATE, FakeNotify
from services.notifications.tests.test_channels import (  # noqa: F401 (smtp: a fixture)
    consent_withdrawn_on_a_led_case,
    run_worker,
    serve,
    smtp,
)
from services.notifications.tests.test_worker import free_port

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
LEAD = "lead@school.example"
MOBILE = "07700900123"


@pytest.fixture
async def notify():
    fake = FakeNotify()
    runner, fake.url = await serve(fake.app())
    yield fake
    await runner.cleanup()


def notify_settings(fake: FakeNotify, **more: Any) -> dict[str, Any]:
    return {
        "alert_channels": "notify",
        "notify_api_key": API_KEY,
        "notify_base_url": fake.url,
        "notify_timeout_seconds": 5,
        "notify_email_templates": {"consent.withdrawn": EMAIL_TEMPLATE},
        "notify_sms_templates": {"consent.withdrawn": SMS_TEMPLATE},
        "notify_sms_numbers": {LEAD: MOBILE},
        **more,
    }


async def consent_withdrawn(notif) -> None:
    await consent_withdrawn_on_a_led_case(notif, LEAD)


async def notify_rows(notif) -> dict[str, Delivery]:
    async with notif.db.session(write=False) as s:
        rows = (await s.scalars(select(Delivery).where(Delivery.channel.like("notify_%")))).all()
    return {d.channel: d for d in rows}


async def test_email_and_sms_for_an_alert_through_notify(make_notif, notify, smtp):  # noqa: F811
    controller, box = smtp
    notif = await make_notif(smtp_port=controller.port, **notify_settings(notify))
    await consent_withdrawn(notif)
    await run_worker(notif, T0 + timedelta(hours=1))
    # The kind with Notify templates went through Notify (email and text); the lead's other
    # alert (no template for its kind) by SMTP, as before.
    assert sorted(p["type"] for p in notify.posts) == ["email", "sms"]
    assert len(box.messages) == 1 and "Consent" not in box.messages[0]["Subject"]
    rows = await notify_rows(notif)
    email, sms = notify.posts if notify.posts[0]["type"] == "email" else notify.posts[::-1]
    assert email["email_address"] == LEAD and sms["phone_number"] == MOBILE
    assert email["reference"] == rows["notify_email"].id and sms["reference"] == rows["notify_sms"].id
    # The personalisation is the SMTP email's content and no more: no person id, no name.
    assert set(email["personalisation"]) == set(NOTIFY_FIELDS)
    assert "EH-77" in email["personalisation"]["subject"] and "c1" in email["personalisation"]["details"]
    assert "p-secret-id" not in str(notify.posts)
    for d in rows.values():
        assert (
            d.status == "delivered" and d.notify_status == "created" and d.notify_id in notify.notifications
        )
        assert d.notify_next_check_at is not None and d.payload["template_id"] in (
            EMAIL_TEMPLATE,
            SMS_TEMPLATE,
        )
    # The lead's feed item shows both deliveries (no address or number).
    [item] = [n for n in await notif.feed("education", "s1") if n["kind"] == "consent.withdrawn"]
    shown = {d["channel"]: (d["status"], d["notify_status"], d["notify_id"]) for d in item["deliveries"]}
    assert shown == {c: ("delivered", "created", rows[c].notify_id) for c in ("notify_email", "notify_sms")}
    assert LEAD not in str(item) and MOBILE not in str(item)
    # Sent once: another pass sends nothing.
    await run_worker(notif, T0 + timedelta(hours=2))
    assert len(notify.posts) == 2


async def test_smtp_only_by_default_and_both_when_asked(make_notif, notify, smtp):  # noqa: F811
    controller, box = smtp
    assert Settings().alert_channels == "smtp"
    notif = await make_notif(smtp_port=controller.port, **notify_settings(notify, alert_channels="smtp"))
    await consent_withdrawn(notif)
    await run_worker(notif, T0 + timedelta(hours=1))
    assert notify.posts == [] and len(box.messages) == 2
    both = await make_notif(smtp_port=controller.port, **notify_settings(notify, alert_channels="both"))
    await consent_withdrawn(both)
    await run_worker(both, T0 + timedelta(hours=1))
    assert len(notify.posts) == 2 and len(box.messages) == 4


async def test_statuses_are_polled_with_backoff_until_final(make_notif, notify):
    notif = await make_notif(**notify_settings(notify, notify_poll_base_seconds=10, notify_max_polls=3))
    await consent_withdrawn(notif)
    deliveries = DeliveryProcessor(notif.db, notif.settings)
    try:
        now = datetime.now(UTC)
        await deliveries.run_once(now=now)
        rows = await notify_rows(notif)
        email, sms = rows["notify_email"], rows["notify_sms"]
        notify.set_status(email.notify_id, "sending")
        notify.set_status(sms.notify_id, "permanent-failure")
        assert await deliveries.poll_notify(now) == 0  # not due yet
        t1 = now + timedelta(seconds=11)
        assert await deliveries.poll_notify(t1) == 2
        rows = await notify_rows(notif)
        assert (rows["notify_email"].notify_status, rows["notify_email"].status) == ("sending", "delivered")
        sms = rows["notify_sms"]
        assert (sms.notify_status, sms.status, sms.last_error, sms.notify_next_check_at) == (
            "permanent-failure",
            "failed",
            "permanent-failure",
            None,
        )
        # Backed off: the next check of the email is 20 s on (10 s doubling), then 40 s.
        assert rows["notify_email"].notify_next_check_at.replace(tzinfo=UTC) == t1 + timedelta(seconds=20)
        assert await deliveries.poll_notify(t1 + timedelta(seconds=19)) == 0
        t2 = t1 + timedelta(seconds=20)
        assert await deliveries.poll_notify(t2) == 1
        # Bounded: after notify_max_polls (3) it is asked no more, final or not.
        assert await deliveries.poll_notify(t2 + timedelta(seconds=40)) == 1
        email = (await notify_rows(notif))["notify_email"]
        assert (email.notify_polls, email.notify_next_check_at) == (3, None)
        assert await deliveries.poll_notify(t2 + timedelta(days=1)) == 0
        notify.set_status(email.notify_id, "delivered")
    finally:
        await deliveries.aclose()


@pytest.mark.parametrize(
    ("code", "retried"),
    [(400, False), (403, True), (429, True), (500, True)],
    ids=["400", "403", "429", "500"],
)
async def test_notify_errors_permanent_or_retried_recorded_opaquely(make_notif, notify, code, retried):
    notif = await make_notif(**notify_settings(notify, notify_sms_numbers={}))  # email only
    await consent_withdrawn(notif)
    notify.fail_next(code)
    deliveries = DeliveryProcessor(notif.db, notif.settings)
    try:
        now = datetime.now(UTC)
        await deliveries.run_once(now=now)
        d = (await notify_rows(notif))["notify_email"]
        assert (d.attempts, d.last_status_code, d.last_error) == (1, code, f"HTTP {code}")
        assert d.status == ("pending" if retried else "failed") and d.notify_id is None
        await deliveries.run_once(now=now + timedelta(hours=1))
        d = (await notify_rows(notif))["notify_email"]
    finally:
        await deliveries.aclose()
    if retried:  # asked Notify for its reference first, found nothing, sent again: one notification
        assert d.status == "delivered" and d.attempts == 2 and d.notify_id in notify.notifications
        assert len(notify.notifications) == 1 and len(notify.posts) == 2
    else:
        assert d.status == "failed" and len(notify.posts) == 1


async def test_notify_unreachable_is_one_opaque_temporary_failure(make_notif, notify):
    notif = await make_notif(**notify_settings(notify, notify_base_url=f"http://127.0.0.1:{free_port()}"))
    await consent_withdrawn(notif)
    await run_worker(notif, T0 + timedelta(hours=1))
    for d in (await notify_rows(notif)).values():
        assert (d.status, d.attempts, d.last_status_code, d.last_error) == ("pending", 1, None, "unreachable")


class Crash(BaseException):
    """A worker killed where it is raised (not an Exception: nothing catches it on the way)."""


async def test_a_crash_after_notify_accepted_never_sends_twice(make_notif, notify, monkeypatch):
    """Killed between Notify's 201 and recording it: the retry finds the reference, sends nothing."""
    notif = await make_notif(**notify_settings(notify, notify_sms_numbers={}))
    await consent_withdrawn(notif)
    real_mark = DeliveryProcessor._mark

    async def crash(self, *args, **kwargs):
        if kwargs.get("notify") is not None:  # recording what Notify accepted
            raise Crash
        return await real_mark(self, *args, **kwargs)

    monkeypatch.setattr(DeliveryProcessor, "_mark", crash)
    with pytest.raises(Crash):
        await run_worker(notif, datetime.now(UTC))
    assert len(notify.posts) == 1
    d = (await notify_rows(notif))["notify_email"]
    assert d.status == "pending" and d.notify_submitted_at is not None and d.notify_id is None
    monkeypatch.setattr(DeliveryProcessor, "_mark", real_mark)
    await run_worker(notif, datetime.now(UTC) + timedelta(minutes=5))  # the lease has run out
    d = (await notify_rows(notif))["notify_email"]
    assert len(notify.posts) == 1 and len(notify.notifications) == 1
    assert d.status == "delivered" and d.notify_id == next(iter(notify.notifications))


async def test_a_crash_before_the_send_sends_once_on_retry(make_notif, notify, monkeypatch):
    """Killed after the pre-send mark, before the POST: the retry finds nothing and sends once."""
    notif = await make_notif(**notify_settings(notify, notify_sms_numbers={}))
    await consent_withdrawn(notif)
    real_send = NotifyChannel.send

    async def crash(self, *args, **kwargs):
        raise Crash

    monkeypatch.setattr(NotifyChannel, "send", crash)
    with pytest.raises(Crash):
        await run_worker(notif, datetime.now(UTC))
    assert notify.posts == [] and (await notify_rows(notif))["notify_email"].notify_submitted_at is not None
    monkeypatch.setattr(NotifyChannel, "send", real_send)
    await run_worker(notif, datetime.now(UTC) + timedelta(minutes=5))
    d = (await notify_rows(notif))["notify_email"]
    assert len(notify.posts) == 1 and d.status == "delivered" and d.notify_id in notify.notifications


async def test_the_api_key_is_never_logged_shown_or_sent(make_notif, notify, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    notif = await make_notif(**notify_settings(notify))
    await consent_withdrawn(notif)
    notify.fail_next(403, 400)  # refused, then an answer whose error is logged by the client
    await run_worker(notif, datetime.now(UTC))
    await run_worker(notif, datetime.now(UTC) + timedelta(hours=1))
    deliveries = DeliveryProcessor(notif.db, notif.settings)
    try:
        await deliveries.poll_notify(datetime.now(UTC) + timedelta(days=1))
    finally:
        await deliveries.aclose()
    logged = caplog.text + capfd.readouterr().err  # the service's JSON log lines, and any other
    assert "HTTP 403" in logged and "notifications_python_client" in logged  # both logged
    problem = await notif.client.get("/v1/notifications", headers={"Authorization": "Bearer nope"})
    feed = await notif.client.get(
        "/v1/notifications", headers=notif.headers("education", "s1", "notifications:read")
    )
    rows = await notify_rows(notif)
    shown = [
        logged,
        problem.text,
        feed.text,
        repr(notif.settings),
        str(notif.settings),
        notif.settings.model_dump_json(),
        str([(d.last_error, d.payload) for d in rows.values()]),
        *notify.authorizations,  # on the wire: a signed token, never the key
    ]
    for text in shown:
        assert SECRET not in text and API_KEY not in text
    with pytest.raises(ValidationError) as refused:
        Settings(alert_channels="notify", notify_api_key="too-short-but-secret-42")
    assert "too-short-but-secret-42" not in str(refused.value) and "notify_api_key" in str(refused.value)
