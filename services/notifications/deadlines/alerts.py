"""The worker's deadline pass: find due (deadline, stage) work and alert each exactly once.

One transaction per batch: claim due deadlines (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on
SQLite the IMMEDIATE write transaction serialises workers), insert a `deadline_alert` row per
(deadline, stage) - unique, so a duplicate can never commit - together with the feed rows and
the email/webhook deliveries, and move each deadline's `next_stage`/`next_check_at` on. A
worker killed before commit leaves everything as it was; after commit, everything is done.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.channels.feed import Alert, AlertWriter
from services.notifications.config import Settings
from services.notifications.deadlines.repository import due_query
from services.notifications.deadlines.service import next_stage_after, stage_time
from services.notifications.models import Deadline, DeadlineAlert
from services.notifications.policy import deadline_alert_to
from shared.clock import LONDON
from shared.db import Database, is_postgres_session

KIND_OF_STAGE = {
    "reminder": "deadline.reminder",
    "overdue": "deadline.overdue",
    "escalation": "deadline.escalated",
}
TITLE_OF_STAGE = {
    "reminder": "Deadline reminder",
    "overdue": "Deadline overdue",
    "escalation": "Deadline escalated",
}


# Issue 20: a plan action's owner is told "due" and "overdue" under the action's own kinds
# (the escalation stays a deadline's); the kind's `href` is what the alert is about.
KIND_OF_DEADLINE_STAGE = {
    ("action_due", "reminder"): ("action.due", "Plan action due soon"),
    ("action_due", "overdue"): ("action.overdue", "Plan action overdue"),
}
# Besides its `deadline.reminder`, a stage may raise a partner's event of its own: the next
# review coming up is `review.due`, for the lead professional (the deadline's assignee).
ALSO_OF_DEADLINE_STAGE = {("next_review", "reminder"): ("review.due", "TAF review due soon")}
HREF_OF_DEADLINE_KIND = {"action_due": "/plan", "next_review": "/reviews", "first_review": "/reviews"}


def _href(d: dict[str, Any]) -> str | None:
    if d["episode_id"]:
        return f"/v1/episodes/{d['episode_id']}{HREF_OF_DEADLINE_KIND.get(d['kind'], '')}"
    if d["referral_id"]:
        return f"/v1/referrals/{d['referral_id']}"
    return None


def alerts_for(d: dict[str, Any], stage: str) -> list[Alert]:
    """The alerts of one (deadline, stage): its own, and a partner's event if the stage has one."""
    alerts = [alert_for(d, stage)]
    also = ALSO_OF_DEADLINE_STAGE.get((d["kind"], stage))
    if also is not None:
        alerts.append(alert_for(d, stage, also))
    return alerts


def alert_for(d: dict[str, Any], stage: str, kind_title: tuple[str, str] | None = None) -> Alert:
    due = d["due_at"].astimezone(LONDON).strftime("%Y-%m-%d %H:%M")
    kind, title = kind_title or KIND_OF_DEADLINE_STAGE.get(
        (d["kind"], stage), (KIND_OF_STAGE[stage], TITLE_OF_STAGE[stage])
    )
    data = {"deadline_kind": d["kind"], "stage": stage, "due_at": d["due_at"].isoformat()}
    if (href := _href(d)) is not None:
        data["href"] = href
    if d["subject_type"] == "action":
        data["action_id"] = d["subject_id"]
    common = {
        "kind": kind,
        "title": f"{title}: {d['kind']} due {due} (London)",
        "referral_id": d["referral_id"],
        "episode_id": d["episode_id"],
        "consent_id": d["consent_id"],
        "deadline_id": d["id"],
        "reference": d["reference"],
        "data": data,
    }
    return Alert(**deadline_alert_to(d, stage), **common)


async def alert_batch(
    session: AsyncSession, now: datetime, limit: int, worker: str = "", *, settings: Settings
) -> int:
    postgres = is_postgres_session(session)
    rows = (await session.execute(due_query(now, limit, postgres=postgres))).mappings().all()
    if not rows:
        return 0
    writer = AlertWriter(session, now, settings)
    alerts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for row in rows:
        d = dict(row)
        stage = d["next_stage"]
        while stage is not None and (when := stage_time(d, stage)) is not None and when <= now:
            # A reminder reached only after the due time says nothing the overdue alert does not.
            if not (stage == "reminder" and d["due_at"] <= now):
                alerts.append(
                    {
                        "id": str(uuid.uuid4()),
                        "deadline_id": d["id"],
                        "stage": stage,
                        "created_at": now,
                        "worker": worker,
                    }
                )
                for alert in alerts_for(d, stage):
                    await writer.add(alert)
            stage = next_stage_after(d, stage)
        updates.append(
            {"id": d["id"], "next_stage": stage, "next_check_at": stage_time(d, stage) if stage else None}
        )
    if alerts:
        await session.execute(insert(DeadlineAlert), alerts)
    await writer.flush()
    await session.execute(update(Deadline), updates)
    return len(alerts)


async def alert_due(
    db: Database,
    now: datetime,
    *,
    batch_size: int,
    settings: Settings,
    worker: str = "",
    max_batches: int = 1000,
) -> int:
    """Batches until nothing is due; returns how many alerts were written."""
    total = 0
    for _ in range(max_batches):
        async with db.session() as session:
            n = await alert_batch(session, now, batch_size, worker, settings=settings)
        total += n
        if n == 0:
            # A batch of deadlines whose only due stage was a skipped reminder writes no
            # alert but still moves on; check whether anything is still due.
            async with db.session(write=False) as session:
                more = (await session.execute(due_query(now, 1, postgres=False))).first()
            if more is None:
                break
    return total
