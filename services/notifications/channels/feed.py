"""Writing alerts: a feed row per recipient, plus its email (SMTP and/or GOV.UK Notify), SMS and
webhook deliveries.

Everything is written in the caller's transaction, so an alert and its deliveries exist
together or not at all; the worker sends deliveries after commit. Rows are collected and
inserted in bulk (a tick may write thousands).
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.channels.notify import NOTIFY_EMAIL, NOTIFY_SMS
from services.notifications.config import Settings
from services.notifications.models import Delivery, Notification, Subscription
from services.notifications.policy import subscription_receives

# Webhook event types an agency can subscribe to (also the feed's `kind`).
WebhookEventType = Literal[
    "referral.decided",
    "referral.safeguarding_concern",
    "referral.linked",
    "consent.withdrawn",
    "assessment.awaiting_approval",
    "deadline.reminder",
    "deadline.overdue",
    "deadline.escalated",
    # Issue 20: every state change a partner acts on (change_feed.py; docs/notifications.md).
    "referral.received",
    "referral.withdrawn",
    "episode.opened",
    "episode.closed",
    "taf.member_added",
    "taf.member_removed",
    "taf.lead_professional_changed",
    "plan.changed",
    "action.assigned",
    "action.due",
    "action.overdue",
    "review.due",
]
WEBHOOK_EVENT_TYPES: tuple[str, ...] = get_args(WebhookEventType)
# Codes and ids an alert's data may pass on to a webhook (never names, emails or free text).
WEBHOOK_DATA_KEYS = (
    "deadline_kind",
    "stage",
    "outcome",
    "assessment_id",
    "author_practitioner_id",
    # issue 20
    "href",
    "action_id",
    "plan_id",
    "version",
    "member_agency_id",
    "owner_practitioner_id",
    "practitioner_id",
    "reason",
    "due_on",
)
ID_FIELDS = ("referral_id", "episode_id", "consent_id", "deadline_id")


@dataclass
class Alert:
    kind: str
    title: str  # no personal detail: kinds, ids and references only
    recipient_agency_id: str | None = None
    recipient_agency_type: str | None = None
    recipient_email: str | None = None
    referral_id: str | None = None
    episode_id: str | None = None
    consent_id: str | None = None
    deadline_id: str | None = None
    reference: str | None = None
    # Codes only (deadline kind, stage, due time): copied to the feed and the webhook.
    data: dict[str, Any] = field(default_factory=dict)


def default_href(alert: Alert) -> str | None:
    """The /v1 resource an item is about, for the receiver to follow (with its own access:
    an episode it may not see is a 404 there, as anywhere)."""
    if alert.episode_id:
        return f"/v1/episodes/{alert.episode_id}"
    if alert.referral_id:
        return f"/v1/referrals/{alert.referral_id}"
    if alert.consent_id:
        return f"/v1/consents/{alert.consent_id}"
    return None


def _subject(alert: Alert) -> str:
    ref = alert.reference or alert.referral_id or alert.episode_id or alert.consent_id or ""
    subject = f"[Early Help] {alert.title} ({ref})" if ref else f"[Early Help] {alert.title}"
    return subject[:200]


def _details(alert: Alert) -> list[str]:
    """The reference, ids and codes of an alert, a line each (what every channel may carry)."""
    lines = []
    for name in ("reference", *ID_FIELDS):
        value = getattr(alert, name)
        if value:
            lines.append(f"{name.replace('_', ' ')}: {value}")
    for key, value in alert.data.items():
        lines.append(f"{key.replace('_', ' ')}: {value}")
    return lines


def email_content(alert: Alert, notification_id: str) -> dict[str, str]:
    lines = [alert.title, "", *_details(alert)]
    lines += ["", f"Notification {notification_id}. Open the case in your Early Help system for details."]
    text = "\n".join(lines)
    body = "".join(f"<p>{html.escape(line)}</p>" if line else "" for line in lines)
    return {"subject": _subject(alert), "text": text, "html": f"<html><body>{body}</body></html>"}


# The personalisation every Notify template is given (docs/notifications.md): the same content
# as the SMTP email, and nothing more - kinds, ids, codes and references, never a name.
NOTIFY_FIELDS = ("subject", "title", "reference", "details", "notification_id")


def notify_personalisation(alert: Alert, notification_id: str) -> dict[str, str]:
    return {
        "subject": _subject(alert),
        "title": alert.title,
        "reference": alert.reference or "",
        "details": "\n".join(_details(alert)),
        "notification_id": notification_id,
    }


def webhook_payload(alert: Alert, notification_id: str, now: datetime) -> dict[str, Any]:
    data: dict[str, Any] = {"notification_id": notification_id}
    for name in ID_FIELDS:
        if getattr(alert, name):
            data[name] = getattr(alert, name)
    for key in WEBHOOK_DATA_KEYS:
        if key in alert.data:
            data[key] = alert.data[key]
    return {"type": alert.kind, "timestamp": now.isoformat(), "data": data}


class AlertWriter:
    """Collects alerts of one transaction and inserts them (and their deliveries) in bulk."""

    def __init__(self, session: AsyncSession, now: datetime, settings: Settings) -> None:
        self.session = session
        self.now = now
        self.settings = settings
        self.notifications: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self._subs: list[Subscription] | None = None

    async def _subscriptions(self) -> list[Subscription]:
        if self._subs is None:
            rows = await self.session.scalars(select(Subscription).where(Subscription.status == "active"))
            self._subs = list(rows)
        return self._subs

    async def add(self, alert: Alert) -> str:
        nid = str(uuid.uuid4())
        if "href" not in alert.data and (href := default_href(alert)) is not None:
            alert.data = {**alert.data, "href": href}
        self.notifications.append(
            {
                "id": nid,
                "kind": alert.kind,
                "recipient_agency_id": alert.recipient_agency_id,
                "recipient_agency_type": alert.recipient_agency_type,
                "recipient_email": alert.recipient_email,
                "referral_id": alert.referral_id,
                "episode_id": alert.episode_id,
                "consent_id": alert.consent_id,
                "deadline_id": alert.deadline_id,
                "reference": alert.reference,
                "message": alert.title[:300],
                "data": alert.data,
                "created_at": self.now,
                "read_at": None,
            }
        )
        if alert.recipient_email:
            self._emailed(alert, nid, alert.recipient_email)
        for sub in await self._subscriptions():
            if subscription_receives(sub, alert.kind, alert.recipient_agency_id, alert.recipient_agency_type):
                self.deliveries.append(
                    self._delivery(
                        "webhook", alert.kind, webhook_payload(alert, nid, self.now), nid, sub=sub.id
                    )
                )
        return nid

    def _emailed(self, alert: Alert, nid: str, to: str) -> None:
        """SMTP, Notify or both (`alert_channels`); a kind with no Notify email template goes
        over SMTP. A text too where the kind has an SMS template and the recipient a number."""
        settings = self.settings
        email_template = settings.notify_email_templates.get(alert.kind) if settings.uses_notify else None
        if settings.uses_smtp or email_template is None:
            self.deliveries.append(
                self._delivery("email", alert.kind, email_content(alert, nid), nid, email=to)
            )
        if not settings.uses_notify:
            return
        personalisation = notify_personalisation(alert, nid)
        templates = {NOTIFY_EMAIL: email_template}
        if to in settings.notify_sms_numbers:
            templates[NOTIFY_SMS] = settings.notify_sms_templates.get(alert.kind)
        for channel, template in templates.items():
            if template:
                payload = {"template_id": template, "personalisation": personalisation}
                self.deliveries.append(self._delivery(channel, alert.kind, payload, nid, email=to))

    def _delivery(
        self,
        channel: str,
        event_type: str,
        payload: dict[str, Any],
        nid: str,
        *,
        email: str | None = None,
        sub: str | None = None,
    ) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "channel": channel,
            "subscription_id": sub,
            "notification_id": nid,
            "recipient_email": email,
            "event_type": event_type,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": self.now,
            "lease_until": None,
            "last_status_code": None,
            "last_error": None,
            "created_at": self.now,
            "delivered_at": None,
        }

    async def flush(self) -> None:
        if self.notifications:
            await self.session.execute(insert(Notification), self.notifications)
        if self.deliveries:
            await self.session.execute(insert(Delivery), self.deliveries)
        self.notifications, self.deliveries = [], []
