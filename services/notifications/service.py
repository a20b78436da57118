"""What the notifications service's API does. Services flush; the request session commits.

Every operation takes the `Context` first (session, runtime, caller, the request's moment);
the deadline engine (`deadlines/service.py`) and the event handlers take the same context.
Whose feed items and subscriptions they are, and who may change the deadline rules, is
`policy.py`'s (docs/notifications.md "Who may do what").
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TypeAlias

from fastapi import Request

from services.notifications import policy
from services.notifications import repository as repo
from services.notifications.channels.webhooks import (
    BlockedDestination,
    check_destination,
    encrypt_secret,
    new_secret,
)
from services.notifications.deadlines import repository as deadlines_repo
from services.notifications.errors import (
    DeliveryNotFound,
    NotificationNotFound,
    RuleNotFound,
    SubscriptionDisabled,
    SubscriptionNotFound,
)
from services.notifications.models import Deadline, DeadlineRule, Delivery, Notification, Subscription
from services.notifications.runtime import NotificationsRuntime
from services.notifications.schemas import DeadlineRuleUpdate, SubscriptionCreate
from shared.changes import where_changed_since
from shared.context import Context as BaseContext
from shared.etag import check_if_match
from shared.pagination import PageParams, keyset, page_of
from shared.problems import ValidationProblem

# The shared context on this service's runtime (typed settings: `ctx.runtime.settings`).
Context: TypeAlias = BaseContext[NotificationsRuntime]


# --- deadline rules ---
async def list_rules(ctx: Context, updated_since: datetime | None = None) -> Sequence[DeadlineRule]:
    rules = await deadlines_repo.rules(ctx.session)
    return [r for r in rules if updated_since is None or r.updated_at > updated_since]


async def update_rule(ctx: Context, request: Request, kind: str, body: DeadlineRuleUpdate) -> DeadlineRule:
    rule = await deadlines_repo.rule(ctx.session, kind)
    if rule is None:
        raise RuleNotFound(f"No deadline rule '{kind}'")
    check_if_match(request, rule.kind, rule.version, required=False)
    for field, value in body.model_dump().items():
        setattr(rule, field, value)
    # Deliberately no change to open deadlines: they keep the due time they opened with.
    rule.version += 1
    rule.updated_at = ctx.now
    await ctx.session.flush()
    return rule


# --- deadlines ---
async def list_deadlines(
    ctx: Context,
    params: PageParams,
    *,
    status: str | None,
    assignee_email: str | None,
    episode_id: str | None,
    referral_id: str | None,
    team: str | None,
    updated_since: datetime | None = None,
) -> tuple[list[Deadline], str | None, dict[str, int]]:
    """A page of deadlines (overdue: open and due by `ctx.now`) and the overdue count by kind."""
    now = ctx.now
    filters = {
        "assignee_email": assignee_email,
        "episode_id": episode_id,
        "referral_id": referral_id,
        "team": team,
    }
    stmt = deadlines_repo.list_query(status=status, now=now, **filters)
    stmt = where_changed_since(stmt, updated_since, Deadline.updated_at)
    stmt = keyset(stmt, Deadline.due_at, Deadline.id, params, descending=False)
    rows, cursor = page_of(list((await ctx.session.scalars(stmt)).all()), params, "due_at")
    summary = await deadlines_repo.overdue_by_kind(ctx.session, now, **filters)
    return rows, cursor, summary


# --- feed ---
async def feed(
    ctx: Context, params: PageParams, *, unread: bool, updated_since: datetime | None = None
) -> tuple[list[Notification], str | None]:
    rows = list(
        await repo.feed(ctx.session, ctx.identity, params, unread=unread, updated_since=updated_since)
    )
    return page_of(rows, params, "created_at")


async def alert_deliveries(ctx: Context, notifications: list[Notification]) -> dict[str, list[Delivery]]:
    """Each feed item's email and SMS deliveries, by the item's id."""
    by_item: dict[str, list[Delivery]] = {n.id: [] for n in notifications}
    for d in await repo.alert_deliveries(ctx.session, list(by_item)):
        by_item[d.notification_id or ""].append(d)
    return by_item


async def mark_read(ctx: Context, notification_id: str) -> Notification:
    n = await repo.notification_for(ctx.session, ctx.identity, notification_id)
    if n is None:
        raise NotificationNotFound()
    if n.read_at is None:
        n.read_at = ctx.now
        await ctx.session.flush()
    return n


# --- subscriptions ---
async def create_subscription(ctx: Context, body: SubscriptionCreate) -> tuple[Subscription, str]:
    settings = ctx.runtime.settings
    url = str(body.url)
    try:
        await check_destination(settings, url)
    except BlockedDestination as exc:
        raise ValidationProblem("url", str(exc), type_slug="webhook-url-not-allowed") from exc
    secret = new_secret()
    sub = Subscription(
        id=str(uuid.uuid4()),
        agency_id=policy.subscription_owner(ctx.identity),
        agency_type=ctx.identity.agency_type,
        url=url,
        event_types=body.event_types,
        secret_encrypted=encrypt_secret(settings, secret),
        status="active",
        consecutive_failures=0,
        created_at=ctx.now,
    )
    ctx.session.add(sub)
    await ctx.session.flush()
    return sub, secret


async def list_subscriptions(ctx: Context, updated_since: datetime | None = None) -> list[Subscription]:
    owner = policy.subscription_owner(ctx.identity)
    return list(await repo.subscriptions_of(ctx.session, owner, updated_since))


async def get_subscription(ctx: Context, subscription_id: str) -> Subscription:
    sub = await repo.subscription(ctx.session, subscription_id)
    if sub is None or not policy.owns_subscription(ctx.identity, sub):
        raise SubscriptionNotFound()
    return sub


async def delete_subscription(ctx: Context, subscription_id: str) -> None:
    sub = await get_subscription(ctx, subscription_id)
    sub.status = "deleted"
    await ctx.session.flush()


async def deliveries(
    ctx: Context, subscription_id: str, params: PageParams, updated_since: datetime | None = None
) -> tuple[list[Delivery], str | None]:
    await get_subscription(ctx, subscription_id)
    rows = list(await repo.deliveries_of(ctx.session, subscription_id, params, updated_since))
    return page_of(rows, params, "created_at")


async def retry_delivery(ctx: Context, subscription_id: str, delivery_id: str) -> Delivery:
    sub = await get_subscription(ctx, subscription_id)
    d = await repo.delivery_of(ctx.session, subscription_id, delivery_id)
    if d is None:
        raise DeliveryNotFound()
    if sub.status != "active":
        raise SubscriptionDisabled("Re-create the subscription (or fix the endpoint) before retrying")
    if d.status != "delivered":
        d.status, d.next_attempt_at, d.lease_until = "pending", ctx.now, None
        await ctx.session.flush()
    return d
