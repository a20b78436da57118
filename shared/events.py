"""Domain events: the envelope, the transactional outbox, the relay and the receiver.

- `publish()` writes an event to the outbox in the *same* transaction as the change it
  describes, one row per subscribing destination: if the change commits, the event will be
  delivered; if it rolls back, the event never existed.
- `OutboxRelay` delivers pending rows over HTTP (`POST {destination}` with the service's own
  credentials), retrying with exponential backoff and jitter. Rows a request publishes are
  written under a lease held by the publishing process and handed to its relay when the
  transaction commits, so the usual delivery costs one UPDATE after the send. What is left
  (a failed send in backoff, the rows of a process that died) is claimed from the table; on
  PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several replicas can relay side by side.
- `receive()` records the event id in `processed_event` in the handler's transaction, so an
  event delivered twice takes effect once.

Payloads carry ids and codes, never personal details: they cross service boundaries and end
up in webhook deliveries.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

import httpx
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.background import PeriodicTask
from shared.clock import parse_datetime, utcnow
from shared.db import Database
from shared.logs import request_id_var
from shared.platform_tables import PlatformTables
from shared.service_client import JsonPoster

log = logging.getLogger("shared.events")

MAX_BACKOFF_SECONDS = 300.0


class EventEnvelope(BaseModel):
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: str = Field(max_length=80)
    source: str = Field(max_length=40)
    # Aware UTC, whatever offset the sender wrote (or none: UTC).
    occurred_at: Annotated[datetime, AfterValidator(parse_datetime)] = Field(default_factory=utcnow)
    request_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


def subscribers_for(event_type: str, subscribers: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for prefix, urls in subscribers.items():
        if prefix == "*" or event_type == prefix or event_type.startswith(prefix):
            for url in urls:
                if url not in out:
                    out.append(url)
    return out


async def publish(
    session: AsyncSession,
    tables: PlatformTables,
    subscribers: dict[str, list[str]],
    *,
    event_type: str,
    source: str,
    data: dict[str, Any],
    event_id: str | None = None,
    lease_seconds: float = 0.0,
    handed_over: list[dict[str, Any]] | None = None,
) -> EventEnvelope:
    """Write the event's outbox rows in the caller's transaction.

    With `lease_seconds`, the rows are not due until the lease runs out: the caller means to
    deliver them itself once the transaction commits (it gets them in `handed_over`). If it
    never does, they are due to any relay when the lease ends."""
    (envelope,) = await publish_all(
        session,
        tables,
        subscribers,
        events=[(event_type, data)],
        source=source,
        event_ids=[event_id],
        lease_seconds=lease_seconds,
        handed_over=handed_over,
    )
    return envelope


async def publish_all(
    session: AsyncSession,
    tables: PlatformTables,
    subscribers: dict[str, list[str]],
    *,
    events: list[tuple[str, dict[str, Any]]],
    source: str,
    event_ids: list[str | None] | None = None,
    lease_seconds: float = 0.0,
    handed_over: list[dict[str, Any]] | None = None,
) -> list[EventEnvelope]:
    """`publish` for several events, (type, data) in the order they happened: their outbox
    rows in that order, in one statement (the bulk import publishes a batch's events at once)."""
    envelopes: list[EventEnvelope] = []
    rows: list[dict[str, Any]] = []
    for (event_type, data), event_id in zip(events, event_ids or [None] * len(events), strict=True):
        envelope = EventEnvelope(
            id=event_id or str(uuid.uuid4()),
            type=event_type,
            source=source,
            request_id=request_id_var.get(),
            data=data,
        )
        envelopes.append(envelope)
        now = utcnow()
        rows += [
            {
                "id": str(uuid.uuid4()),
                "event_id": envelope.id,
                "event_type": event_type,
                "destination": dest,
                "payload": envelope.model_dump(mode="json"),
                "created_at": now,
                "next_attempt_at": now + timedelta(seconds=lease_seconds),
                "attempts": 0,
            }
            for dest in subscribers_for(event_type, subscribers)
        ]
    if rows:
        await session.execute(insert(tables.outbox), rows)
        if handed_over is not None:
            handed_over.extend(rows)
    return envelopes


def backoff(attempts: int, *, base: float = 1.0, cap: float = MAX_BACKOFF_SECONDS) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**attempts))."""
    return random.uniform(0, min(cap, base * (2 ** min(attempts, 20)))) + 0.05


TokenProvider = Callable[[], Awaitable[str]]


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        tables: PlatformTables,
        token_provider: TokenProvider,
        *,
        interval: float = 0.5,
        batch_size: int = 50,
        timeout: float = 5.0,
        lease_seconds: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.db = db
        self.tables = tables
        self.token_provider = token_provider
        self.interval = interval
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        # aiohttp directly (`JsonPoster`); an httpx client only where a test supplies a transport.
        self.client: httpx.AsyncClient | JsonPoster = (
            httpx.AsyncClient(timeout=timeout, transport=transport) if transport else JsonPoster(timeout)
        )
        self._periodic = PeriodicTask("outbox-relay", self._tick, interval)
        self._pass_lock = asyncio.Lock()
        self._started_once = False
        self._failing: set[str] = set()  # destinations that may have events in backoff
        self._handed: list[dict[str, Any]] = []  # committed rows leased to this process
        self._delivered: list[str] = []  # sent, not yet marked in the table
        self._table_checked_at = float("-inf")

    def wake(self) -> None:
        self._periodic.wake()

    def hand_over(self, rows: list[dict[str, Any]]) -> None:
        """Rows a committed transaction published under this relay's lease: sent on the next
        pass without claiming them from the table."""
        self._handed.extend(rows)
        self._periodic.wake()

    async def _claim(self) -> list[dict[str, Any]]:
        """Take due rows under a lease, in a short transaction of its own.

        No transaction stays open while events travel over HTTP: holding one (SQLite's write
        lock above all) while the receiver calls back into this service would stall both.
        A row whose sender dies mid-delivery is simply due again when its lease runs out.
        """
        t = self.tables.outbox
        # Most passes find nothing due: ask on the read side first, so an idle relay never
        # takes SQLite's one write lock (or a PostgreSQL row lock) from the requests.
        async with self.db.session(write=False) as session:
            due = (
                await session.execute(
                    select(t.c.id).where(t.c.delivered_at.is_(None), t.c.next_attempt_at <= utcnow()).limit(1)
                )
            ).first()
        if due is None:
            return []
        async with self.db.session() as session:
            stmt = (
                select(t)
                .where(t.c.delivered_at.is_(None), t.c.next_attempt_at <= utcnow())
                .order_by(t.c.created_at)
                .limit(self.batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            rows = [dict(r) for r in (await session.execute(stmt)).mappings().all()]
            if rows:
                await session.execute(
                    update(t)
                    .where(t.c.id.in_([r["id"] for r in rows]))
                    .values(next_attempt_at=utcnow() + timedelta(seconds=self.lease_seconds))
                )
        return rows

    async def _send(self, row: dict[str, Any], token: str) -> str | None:
        try:
            resp = await self.client.post(
                row["destination"],
                json=row["payload"],
                headers={
                    "Authorization": f"Bearer {token}",
                    "X-Request-ID": row["payload"].get("request_id") or uuid.uuid4().hex,
                },
            )
        except Exception as exc:
            return type(exc).__name__
        return f"HTTP {resp.status_code}" if resp.status_code >= 300 else None

    async def _send_in_order(self, rows: list[dict[str, Any]], token: str | None) -> list[str | None]:
        return [await self._send(row, token) if token else "no service token" for row in rows]

    async def run_once(self) -> int:
        """Deliver what was handed over and what is due in the table; returns how many rows
        were delivered. Passes in one process never overlap (a woken pass waits for the one
        in flight)."""
        async with self._pass_lock:
            return await self._run_once(check_table=True)

    async def _tick(self) -> int:
        # Woken by a commit: send what it handed over. The table (backoffs, leases that ran
        # out) is asked at most once per interval, however often commits wake the relay.
        async with self._pass_lock:
            return await self._run_once(
                check_table=time.monotonic() - self._table_checked_at >= self.interval * 0.9
            )

    async def _run_once(self, *, check_table: bool) -> int:
        t = self.tables.outbox
        if not self._started_once:
            # A process that died mid-delivery left rows under a lease (and others in
            # backoff): on start, everything undelivered is due now. Another replica may be
            # sending one of them at this moment; receivers drop the duplicate by event id.
            self._started_once = True
            async with self.db.session() as session:
                await session.execute(
                    update(t).where(t.c.delivered_at.is_(None)).values(next_attempt_at=utcnow())
                )
        rows, self._handed = self._handed, []
        if check_table:
            self._table_checked_at = time.monotonic()
            ours = {r["id"] for r in rows}.union(self._delivered)  # in hand, or sent and not marked yet
            rows += [r for r in await self._claim() if r["id"] not in ours]
        if not rows:
            if check_table and self._delivered:
                async with self.db.session() as session:
                    await self._mark_delivered(session)
            return 0
        rows.sort(key=lambda r: r["created_at"])
        try:
            token: str | None = await self.token_provider()
        except Exception:
            token = None
        # Each destination gets its events in order; destinations are served side by side.
        by_destination: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_destination.setdefault(row["destination"], []).append(row)
        results = await asyncio.gather(*(self._send_in_order(rs, token) for rs in by_destination.values()))
        outcomes = [
            (row, error)
            for rs, errors in zip(by_destination.values(), results, strict=True)
            for row, error in zip(rs, errors, strict=True)
        ]
        delivered_ids = [row["id"] for row, error in outcomes if error is None]
        failed = [(row, error) for row, error in outcomes if error is not None]
        answered = {row["destination"] for row, error in outcomes if error is None}
        self._delivered += delivered_ids
        # Marking what went out can wait for the next pass that asks the table (at most one
        # interval; the rows stay leased far longer), so a busy stream marks in batches.
        if not failed and not check_table and len(self._delivered) < self.batch_size:
            return len(delivered_ids)
        async with self.db.session() as session:
            await self._mark_delivered(session)
            for row, error in failed:
                attempts = row["attempts"] + 1
                log.warning(
                    "event delivery failed",
                    extra={
                        "event_id": row["event_id"],
                        "event_type": row["event_type"],
                        "destination": row["destination"],
                        "attempts": attempts,
                        "error": error,
                    },
                )
                await session.execute(
                    update(t)
                    .where(t.c.id == row["id"])
                    .values(
                        attempts=attempts,
                        last_error=error,
                        next_attempt_at=utcnow() + timedelta(seconds=backoff(attempts)),
                    )
                )
            # A destination that answered is back: what waits for it in backoff goes now,
            # instead of up to MAX_BACKOFF_SECONDS after a receiver's restart. Only asked of
            # destinations this process saw fail (on start the first pass made everything
            # due already), so a healthy stream costs only the batched mark.
            failing_now = {row["destination"] for row, _ in failed}
            self._failing |= failing_now
            recovered = sorted((answered & self._failing) - failing_now)
            for destination in recovered:
                await session.execute(
                    update(t)
                    .where(
                        t.c.destination == destination,
                        t.c.delivered_at.is_(None),
                        t.c.last_error.is_not(None),
                    )
                    .values(next_attempt_at=utcnow())
                )
                self._failing.discard(destination)
        if recovered:
            self._table_checked_at = float("-inf")  # the backlog goes on the next pass
        return len(delivered_ids)

    async def _mark_delivered(self, session: AsyncSession) -> None:
        ids, self._delivered = self._delivered, []
        if ids:
            t = self.tables.outbox
            await session.execute(
                update(t)
                .where(t.c.id.in_(ids))
                .values(delivered_at=utcnow(), attempts=t.c.attempts + 1, last_error=None)
            )

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
        if self._delivered:
            try:
                async with self.db.session() as session:
                    await self._mark_delivered(session)
            except Exception:
                # Unmarked rows go again when their lease ends; receivers drop duplicates.
                log.exception("marking delivered events on stop failed")
        await self.client.aclose()


Handler = Callable[[AsyncSession, EventEnvelope], Awaitable[None]]


async def receive(
    db: Database,
    tables: PlatformTables,
    envelope: EventEnvelope,
    handler: Handler | None,
) -> bool:
    """Apply an event once. Returns False if this event id was already processed."""
    try:
        async with db.session() as session:
            # The primary key decides: a second delivery fails this insert and changes nothing.
            await session.execute(
                insert(tables.processed_event),
                {"event_id": envelope.id, "event_type": envelope.type, "processed_at": utcnow()},
            )
            if handler is not None:
                await handler(session, envelope)
    except IntegrityError:
        # Processed already, or a concurrent delivery of the same event got there first.
        return False
    return True
