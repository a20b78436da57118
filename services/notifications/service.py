"""What the notifications service's API does. Services flush; the request session commits.

Whose feed items and subscriptions they are, and who may change the deadline rules, is
`policy.py`'s (docs/notifications.md "Who may do what").
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import policy
from services.notifications import repository as repo
from services.notifications.channels.webhooks import (
    BlockedDestination,
    check_destination,
    encrypt_secret,
    new_secret,
)
from services.notifications.config import Settings
from services.notifications.deadlines import repository as deadlines_repo
from services.notifications.errors import (
    DeliveryNotFound,
    NotificationNotFound,
    RuleNotFound,
    SubscriptionDisabled,
    SubscriptionNotFound,
)
from services.notifications.models import Deadline, DeadlineRule, Delivery, Notification, Subscription
from services.notifications.schemas import DeadlineRuleUpdate, SubscriptionCreate
from shared.clock import utcnow
from shared.etag import check_if_match
from shared.identity import Identity
from shared.pagination import PageParams, keyset, page_of
from shared.problems import ValidationProblem


# --- deadline rules ---
async def list_rules(session: AsyncSession) -> Sequence[DeadlineRule]:
    return await deadlines_repo.rules(session)


async def update_rule(
    session: AsyncSession, request: Request, kind: str, body: DeadlineRuleUpdate
) -> DeadlineRule:
    rule = await deadlines_repo.rule(session, kind)
    if rule is None:
        raise RuleNotFound(f"No deadline rule '{kind}'")
    check_if_match(request, rule.kind, rule.version, required=False)
    for field, value in body.model_dump().items():
        setattr(rule, field, value)
    # Deliberately no change to open deadlines: they keep the due time they opened with.
    rule.version += 1
    rule.updated_at = utcnow()
    await session.flush()
    return rule


# --- deadlines ---
async def list_deadlines(
    session: AsyncSession,
    params: PageParams,
    *,
    status: str | None,
    assignee_email: str | None,
    episode_id: str | None,
    referral_id: str | None,
    team: str | None,
    now: datetime | None = None,
) -> tuple[list[Deadline], str | None, dict[str, int]]:
    now = now or utcnow()
    filters = {
        "assignee_email": assignee_email,
        "episode_id": episode_id,
        "referral_id": referral_id,
        "team": team,
    }
    stmt = deadlines_repo.list_query(status=status, now=now, **filters)
    stmt = keyset(stmt, Deadline.due_at, Deadline.id, params, descending=False)
    rows, cursor = page_of(list((await session.scalars(stmt)).all()), params, "due_at")
    summary = await deadlines_repo.overdue_by_kind(session, now, **filters)
    return rows, cursor, summary


# --- feed ---
async def feed(
    session: AsyncSession, identity: Identity, params: PageParams, *, unread: bool
) -> tuple[list[Notification], str | None]:
    rows = list(await repo.feed(session, identity, params, unread=unread))
    return page_of(rows, params, "created_at")


async def mark_read(session: AsyncSession, identity: Identity, notification_id: str) -> Notification:
    n = await repo.notification_for(session, identity, notification_id)
    if n is None:
        raise NotificationNotFound()
    if n.read_at is None:
        n.read_at = utcnow()
        await session.flush()
    return n


# --- subscriptions ---
async def create_subscription(
    session: AsyncSession, settings: Settings, identity: Identity, body: SubscriptionCreate
) -> tuple[Subscription, str]:
    url = str(body.url)
    try:
        await check_destination(settings, url)
    except BlockedDestination as exc:
        raise ValidationProblem("url", str(exc), type_slug="webhook-url-not-allowed") from exc
    secret = new_secret()
    sub = Subscription(
        id=str(uuid.uuid4()),
        agency_id=policy.subscription_owner(identity),
        agency_type=identity.agency_type,
        url=url,
        event_types=body.event_types,
        secret_encrypted=encrypt_secret(settings, secret),
        status="active",
        consecutive_failures=0,
        created_at=utcnow(),
    )
    session.add(sub)
    await session.flush()
    return sub, secret


async def list_subscriptions(session: AsyncSession, identity: Identity) -> list[Subscription]:
    return list(await repo.subscriptions_of(session, policy.subscription_owner(identity)))


async def get_subscription(session: AsyncSession, identity: Identity, subscription_id: str) -> Subscription:
    sub = await repo.subscription(session, subscription_id)
    if sub is None or not policy.owns_subscription(identity, sub):
        raise SubscriptionNotFound()
    return sub


async def delete_subscription(session: AsyncSession, identity: Identity, subscription_id: str) -> None:
    sub = await get_subscription(session, identity, subscription_id)
    sub.status = "deleted"
    await session.flush()


async def deliveries(
    session: AsyncSession, identity: Identity, subscription_id: str, params: PageParams
) -> tuple[list[Delivery], str | None]:
    await get_subscription(session, identity, subscription_id)
    rows = list(await repo.deliveries_of(session, subscription_id, params))
    return page_of(rows, params, "created_at")


async def retry_delivery(
    session: AsyncSession, identity: Identity, subscription_id: str, delivery_id: str
) -> Delivery:
    sub = await get_subscription(session, identity, subscription_id)
    d = await repo.delivery_of(session, subscription_id, delivery_id)
    if d is None:
        raise DeliveryNotFound()
    if sub.status != "active":
        raise SubscriptionDisabled("Re-create the subscription (or fix the endpoint) before retrying")
    if d.status != "delivered":
        d.status, d.next_attempt_at, d.lease_until = "pending", utcnow(), None
        await session.flush()
    return d
