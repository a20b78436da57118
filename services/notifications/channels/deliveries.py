"""Sending email, GOV.UK Notify and webhook deliveries after the alert's transaction committed.

A pass claims due rows in a short transaction (SKIP LOCKED on PostgreSQL) by pushing their
`next_attempt_at` one lease ahead, sends each, then marks it in its own transaction. A worker
killed between the send and the mark leaves the row to be sent again when the lease ends:
at-least-once for that narrow window (webhook receivers dedupe on `webhook-id`, which is the
delivery id; emails carry a stable Message-ID). Nothing is ever lost.

GOV.UK Notify deliveries (`notify_email`, `notify_sms`) are sent once only: before the send the
row is marked (`notify_submitted_at`, committed), and a later attempt of a marked row first
asks Notify for the notification whose `reference` is the delivery id - found, it is recorded
and not sent again. Then Notify's status is polled (`poll_notify`) until it is final.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from services.notifications.channels.email import send_email
from services.notifications.channels.notify import (
    FAILED_STATUSES,
    FINAL_STATUSES,
    NOTIFY_CHANNELS,
    NOTIFY_SMS,
    NotifyAnswer,
    NotifyChannel,
    NotifyFailure,
)
from services.notifications.channels.webhooks import decrypt_secret, send_webhook
from services.notifications.config import Settings
from services.notifications.models import Delivery, Subscription
from shared.clock import utcnow
from shared.db import Database, is_postgres_session
from shared.events import backoff

log = logging.getLogger("notifications.deliveries")
# The longest wait between two checks of a Notify status.
POLL_CAP_SECONDS = 6 * 3600.0


class DeliveryProcessor:
    def __init__(self, db: Database, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.db = db
        self.settings = settings
        self.client = client or httpx.AsyncClient(follow_redirects=False)
        self.notify = NotifyChannel(settings)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def claim(self, now: datetime, limit: int) -> list[str]:
        return await self._claim(
            (Delivery.status == "pending", Delivery.next_attempt_at <= now),
            Delivery.next_attempt_at,
            now,
            limit,
            lease_until=True,
        )

    async def _claim(
        self, where: tuple[Any, ...], due: Any, now: datetime, limit: int, *, lease_until: bool = False
    ) -> list[str]:
        """The ids of due rows, their `due` column pushed one lease ahead (SKIP LOCKED on
        PostgreSQL: concurrent workers take different rows)."""
        lease = now + timedelta(seconds=self.settings.delivery_lease_seconds)
        async with self.db.session() as s:
            stmt = select(Delivery.id).where(*where).order_by(due).limit(limit)
            if is_postgres_session(s):
                stmt = stmt.with_for_update(skip_locked=True)
            ids = list((await s.scalars(stmt)).all())
            if ids:
                values: dict[Any, datetime] = {due: lease}
                if lease_until:
                    values[Delivery.lease_until] = lease
                await s.execute(update(Delivery).where(Delivery.id.in_(ids)).values(values))
        return ids

    async def run_once(self, now: datetime | None = None, limit: int = 100) -> int:
        now = now or utcnow()
        sent = 0
        for delivery_id in await self.claim(now, limit):
            sent += await self._deliver(delivery_id)
        return sent

    async def _deliver(self, delivery_id: str) -> int:
        async with self.db.session(write=False) as s:
            d = await s.get(Delivery, delivery_id)
            sub = await s.get(Subscription, d.subscription_id) if d and d.subscription_id else None
        if d is None or d.status != "pending":
            return 0
        if d.channel == "webhook" and (sub is None or sub.status != "active"):
            await self._mark(
                d.id, ok=False, code=None, error="subscription disabled", final=True, attempted=False
            )
            return 0
        if d.channel in NOTIFY_CHANNELS:
            return await self._deliver_notify(d)
        code: int | None = None
        error: str | None = None
        try:
            if d.channel == "email":
                await send_email(self.settings, d.recipient_email or "", d.payload, d.id)
            else:
                assert sub is not None
                result = await send_webhook(
                    self.client,
                    self.settings,
                    url=sub.url,
                    secret=decrypt_secret(self.settings, sub.secret_encrypted),
                    msg_id=d.id,
                    payload=d.payload,
                    timestamp=utcnow(),
                )
                code, error = result.status_code, (None if result.ok else result.error)
        except Exception as exc:  # a channel failure is a failed attempt, never a crashed worker
            error = type(exc).__name__
        if error is None:
            await self._mark(d.id, ok=True, code=code, error=None, subscription_id=d.subscription_id)
            return 1
        log.warning("delivery failed", extra={"delivery_id": d.id, "channel": d.channel, "error": error})
        await self._mark(d.id, ok=False, code=code, error=error, subscription_id=d.subscription_id)
        return 0

    async def _deliver_notify(self, d: Delivery) -> int:
        answer = await self._notify_once(d)
        if answer.ok:
            await self._mark(d.id, ok=True, code=answer.status_code, error=None, notify=answer)
            return 1
        log.warning(
            "delivery failed", extra={"delivery_id": d.id, "channel": d.channel, "error": answer.error}
        )
        await self._mark(d.id, ok=False, code=answer.status_code, error=answer.error, final=answer.permanent)
        return 0

    async def _notify_once(self, d: Delivery) -> NotifyAnswer:
        """Notify's answer for this delivery, sent at most once (see the module's docstring)."""
        if d.notify_submitted_at is not None:  # an earlier attempt may have reached Notify
            try:
                found = await self.notify.find(d.id)
            except NotifyFailure as exc:  # not known whether it was sent: do not send blind
                return NotifyAnswer(False, exc.status_code, str(exc))
            if found is not None:
                return NotifyAnswer(True, None, None, notify_id=found[0], notify_status=found[1])
        to = d.recipient_email or ""
        if d.channel == NOTIFY_SMS:
            to = self.settings.notify_sms_numbers.get(to, "")
            if not to:
                return NotifyAnswer(False, None, "no SMS number", permanent=True)
        async with self.db.session() as s:
            await s.execute(update(Delivery).where(Delivery.id == d.id).values(notify_submitted_at=utcnow()))
        return await self.notify.send(d.channel, to, d.payload, reference=d.id)

    async def poll_notify(self, now: datetime, limit: int = 100) -> int:
        """Asks Notify for the status of unfinished notifications whose check is due; each
        check backs off (`notify_poll_base_seconds` doubling, at most 6 hours) and there are at
        most `notify_max_polls`. A final failure marks the delivery failed."""
        ids = await self._claim(
            (Delivery.notify_next_check_at <= now,), Delivery.notify_next_check_at, now, limit
        )
        for delivery_id in ids:
            async with self.db.session(write=False) as s:
                d = await s.get(Delivery, delivery_id)
            if d is None or d.notify_id is None:
                continue
            try:
                status: str | None = await self.notify.status(d.notify_id)
            except NotifyFailure:
                status = None
            async with self.db.session() as s:
                d = await s.get(Delivery, delivery_id)
                if d is None:
                    continue
                d.notify_polls += 1
                d.notify_status = status or d.notify_status
                if d.notify_status in FINAL_STATUSES or d.notify_polls >= self.settings.notify_max_polls:
                    d.notify_next_check_at = None
                else:
                    delay = self.settings.notify_poll_base_seconds * 2 ** min(d.notify_polls, 20)
                    d.notify_next_check_at = now + timedelta(seconds=min(delay, POLL_CAP_SECONDS))
                if d.notify_status in FAILED_STATUSES:
                    d.status, d.last_error = "failed", d.notify_status
        return len(ids)

    async def _mark(
        self,
        delivery_id: str,
        *,
        ok: bool,
        code: int | None,
        error: str | None,
        subscription_id: str | None = None,
        final: bool = False,
        attempted: bool = True,
        notify: NotifyAnswer | None = None,
    ) -> None:
        now = utcnow()
        async with self.db.session() as s:
            d = await s.get(Delivery, delivery_id)
            if d is None or d.status != "pending":
                return
            d.attempts += 1 if attempted else 0
            d.last_status_code, d.last_error, d.lease_until = code, error, None
            if ok:
                d.status, d.delivered_at = "delivered", now
                if notify is not None:
                    d.notify_id, d.notify_status = notify.notify_id, notify.notify_status
                    if notify.notify_status not in FINAL_STATUSES:
                        d.notify_next_check_at = now + timedelta(
                            seconds=self.settings.notify_poll_base_seconds
                        )
                    elif notify.notify_status in FAILED_STATUSES:
                        d.status, d.last_error = "failed", notify.notify_status
            else:
                limit = {
                    "email": self.settings.email_max_attempts,
                    "webhook": self.settings.webhook_max_attempts,
                }.get(d.channel, self.settings.notify_max_attempts)
                if final or d.attempts >= limit:
                    d.status = "failed"
                else:
                    delay = backoff(d.attempts, base=self.settings.webhook_backoff_base_seconds)
                    d.next_attempt_at = now + timedelta(seconds=delay)
            sub = await s.get(Subscription, subscription_id) if subscription_id else None
            if sub is not None and not final:
                if ok:
                    sub.consecutive_failures = 0
                else:
                    sub.consecutive_failures += 1
                    if code == 410:
                        sub.status, sub.disabled_reason = "disabled", "the endpoint answered 410 Gone"
                    elif sub.consecutive_failures >= self.settings.webhook_max_consecutive_failures:
                        sub.status = "disabled"
                        sub.disabled_reason = f"{sub.consecutive_failures} consecutive failed deliveries"
                    if sub.status == "disabled":
                        d.status = "failed"
