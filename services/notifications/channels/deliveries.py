"""Sending email and webhook deliveries after the alert's transaction committed.

A pass claims due rows in a short transaction (SKIP LOCKED on PostgreSQL) by pushing their
`next_attempt_at` one lease ahead, sends each, then marks it in its own transaction. A worker
killed between the send and the mark leaves the row to be sent again when the lease ends:
at-least-once for that narrow window (webhook receivers dedupe on `webhook-id`, which is the
delivery id; emails carry a stable Message-ID). Nothing is ever lost.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update

from services.notifications.channels.email import send_email
from services.notifications.channels.webhooks import decrypt_secret, send_webhook
from services.notifications.config import Settings
from services.notifications.models import Delivery, Subscription
from shared.clock import utcnow
from shared.db import Database, is_postgres_session
from shared.events import backoff

log = logging.getLogger("notifications.deliveries")


class DeliveryProcessor:
    def __init__(self, db: Database, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.db = db
        self.settings = settings
        self.client = client or httpx.AsyncClient(follow_redirects=False)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def claim(self, now: datetime, limit: int) -> list[str]:
        lease = now + timedelta(seconds=self.settings.delivery_lease_seconds)
        async with self.db.session() as s:
            stmt = (
                select(Delivery.id)
                .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
                .order_by(Delivery.next_attempt_at)
                .limit(limit)
            )
            if is_postgres_session(s):
                stmt = stmt.with_for_update(skip_locked=True)
            ids = list((await s.scalars(stmt)).all())
            if ids:
                await s.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(ids))
                    .values(next_attempt_at=lease, lease_until=lease)
                )
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
            await self._mark(d.id, ok=False, code=None, error="subscription disabled", final=True)
            return 0
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

    async def _mark(
        self,
        delivery_id: str,
        *,
        ok: bool,
        code: int | None,
        error: str | None,
        subscription_id: str | None = None,
        final: bool = False,
    ) -> None:
        now = utcnow()
        async with self.db.session() as s:
            d = await s.get(Delivery, delivery_id)
            if d is None or d.status != "pending":
                return
            d.attempts += 0 if final else 1
            d.last_status_code, d.last_error, d.lease_until = code, error, None
            if ok:
                d.status, d.delivered_at = "delivered", now
            else:
                limit = (
                    self.settings.email_max_attempts
                    if d.channel == "email"
                    else self.settings.webhook_max_attempts
                )
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
