"""Queries of the feed, subscriptions and deliveries (the deadline queries are in deadlines/repository.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.models import Delivery, Notification, Subscription
from services.notifications.policy import addressed_to
from shared.changes import where_changed_since
from shared.identity import Identity
from shared.pagination import PageParams, keyset


async def feed(
    session: AsyncSession,
    identity: Identity,
    params: PageParams,
    *,
    unread: bool,
    updated_since: datetime | None = None,
) -> Sequence[Notification]:
    stmt = select(Notification).where(addressed_to(identity))
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    # A feed item changes twice: written, then (perhaps) marked read.
    stmt = where_changed_since(stmt, updated_since, Notification.created_at, Notification.read_at)
    stmt = keyset(stmt, Notification.created_at, Notification.id, params)
    return (await session.scalars(stmt)).all()


async def notification_for(
    session: AsyncSession, identity: Identity, notification_id: str
) -> Notification | None:
    stmt = select(Notification).where(Notification.id == notification_id, addressed_to(identity))
    return (await session.scalars(stmt)).first()


async def alert_deliveries(session: AsyncSession, notification_ids: list[str]) -> Sequence[Delivery]:
    """The email and SMS deliveries of these feed items (not webhooks: those are subscribers')."""
    if not notification_ids:
        return []
    stmt = (
        select(Delivery)
        .where(Delivery.notification_id.in_(notification_ids), Delivery.channel != "webhook")
        .order_by(Delivery.created_at, Delivery.channel)
    )
    return (await session.scalars(stmt)).all()


async def subscriptions_of(
    session: AsyncSession, agency_id: str, updated_since: datetime | None = None
) -> Sequence[Subscription]:
    stmt = (
        select(Subscription)
        .where(Subscription.agency_id == agency_id, Subscription.status != "deleted")
        .order_by(Subscription.created_at)
    )
    stmt = where_changed_since(stmt, updated_since, Subscription.updated_at)
    return (await session.scalars(stmt)).all()


async def subscription(session: AsyncSession, subscription_id: str) -> Subscription | None:
    """A subscription not deleted (whose it is, and who may see it, is the policy's)."""
    sub = await session.get(Subscription, subscription_id)
    if sub is None or sub.status == "deleted":
        return None
    return sub


async def deliveries_of(
    session: AsyncSession, subscription_id: str, params: PageParams, updated_since: datetime | None = None
) -> Sequence[Delivery]:
    stmt = keyset(
        where_changed_since(
            select(Delivery).where(Delivery.subscription_id == subscription_id),
            updated_since,
            Delivery.updated_at,
        ),
        Delivery.created_at,
        Delivery.id,
        params,
    )
    return (await session.scalars(stmt)).all()


async def delivery_of(session: AsyncSession, subscription_id: str, delivery_id: str) -> Delivery | None:
    d = await session.get(Delivery, delivery_id)
    return d if d is not None and d.subscription_id == subscription_id else None
