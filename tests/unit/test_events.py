"""The outbox (same transaction), the relay (HTTP, retries, backoff) and the receiver (once)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select

from shared.db import Database, make_metadata
from shared.events import EventEnvelope, OutboxRelay, backoff, publish, receive, subscribers_for
from shared.platform_tables import platform_tables

metadata = make_metadata()
tables = platform_tables(metadata)
SUBS = {
    "referral.": ["http://assessments/internal/events", "http://notifications/internal/events"],
    "*": ["http://notifications/internal/events"],
}


@pytest.fixture
async def db(tmp_path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/e.db")
    async with database.write_engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield database
    await database.dispose()


def test_subscribers_by_prefix_without_duplicates():
    assert subscribers_for("referral.decided", SUBS) == SUBS["referral."]
    assert subscribers_for("consent.given", SUBS) == ["http://notifications/internal/events"]
    assert subscribers_for("x", {}) == []


def test_backoff_grows_and_is_capped():
    assert all(backoff(1) <= 2.1 for _ in range(50))
    assert all(backoff(30) <= 300.1 for _ in range(50))


async def test_an_event_exists_only_if_its_transaction_commits(db):
    with pytest.raises(RuntimeError):
        async with db.session() as s:
            await publish(
                s, tables, SUBS, event_type="referral.received", source="t", data={"referral_id": "r1"}
            )
            raise RuntimeError("the change failed")
    async with db.session() as s:
        await publish(s, tables, SUBS, event_type="referral.received", source="t", data={"referral_id": "r2"})
    async with db.session(write=False) as s:
        rows = (await s.execute(select(tables.outbox))).mappings().all()
    assert {r["payload"]["data"]["referral_id"] for r in rows} == {"r2"}
    assert len(rows) == 2  # one row per destination


async def test_relay_retries_failures_and_delivers_each_row_once(db):
    received: list[tuple[str, str]] = []
    fail_first = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "assessments" and fail_first["n"] == 0:
            fail_first["n"] += 1
            return httpx.Response(503)
        assert request.headers["authorization"] == "Bearer svc-token"
        received.append((request.url.host, request.read().decode()))
        return httpx.Response(202)

    async def token() -> str:
        return "svc-token"

    relay = OutboxRelay(db, tables, token, transport=httpx.MockTransport(handler))
    async with db.session() as s:
        await publish(s, tables, SUBS, event_type="referral.decided", source="t", data={"referral_id": "r9"})
    assert await relay.run_once() == 1  # notifications delivered, assessments failed
    assert await relay.run_once() == 0  # the failure waits for its backoff
    async with db.session() as s:
        await s.execute(tables.outbox.update().values(next_attempt_at=tables.outbox.c.created_at))
    assert await relay.run_once() == 1
    assert await relay.run_once() == 0
    assert sorted(h for h, _ in received) == ["assessments", "notifications"]
    async with db.session(write=False) as s:
        attempts = (await s.execute(select(tables.outbox.c.destination, tables.outbox.c.attempts))).all()
    assert dict(attempts)["http://assessments/internal/events"] == 2
    await relay.stop()


async def test_receiver_applies_an_event_once_even_concurrently(db):
    applied: list[str] = []

    async def handler(_session, envelope: EventEnvelope) -> None:
        applied.append(envelope.id)
        await asyncio.sleep(0.01)

    env = EventEnvelope(type="referral.decided", source="t", data={})
    results = await asyncio.gather(*(receive(db, tables, env, handler) for _ in range(5)))
    assert results.count(True) == 1 and applied == [env.id]
    assert await receive(db, tables, env, handler) is False


async def test_a_failing_handler_leaves_the_event_unprocessed(db):
    async def broken(_session, _env):
        raise ValueError("boom")

    env = EventEnvelope(type="x.y", source="t", data={})
    with pytest.raises(ValueError):
        await receive(db, tables, env, broken)

    async def ok(_session, _env):
        return None

    assert await receive(db, tables, env, ok) is True


async def test_a_destination_that_answers_again_gets_its_backlog_at_once(db):
    up = {"ok": False}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202 if up["ok"] else 503)

    async def token() -> str:
        return "svc-token"

    subs = {"*": ["http://assessments/internal/events"]}
    relay = OutboxRelay(db, tables, token, transport=httpx.MockTransport(handler))
    for i in range(3):
        async with db.session() as s:
            await publish(s, tables, subs, event_type="x.y", source="t", data={"n": i})
    assert await relay.run_once() == 0  # all three fail and back off
    up["ok"] = True
    async with db.session() as s:  # one of them comes due; the others are still backing off
        from datetime import timedelta

        from shared.clock import utcnow

        await s.execute(tables.outbox.update().values(next_attempt_at=utcnow() + timedelta(hours=1)))
        first = (await s.execute(select(tables.outbox.c.id).limit(1))).scalar_one()
        await s.execute(
            tables.outbox.update()
            .where(tables.outbox.c.id == first)
            .values(next_attempt_at=tables.outbox.c.created_at)
        )
    assert await relay.run_once() == 1
    assert await relay.run_once() == 2  # the backlog went without waiting for its backoff
    await relay.stop()


def _recording_relay(db: Database, **options: float) -> tuple[OutboxRelay, list[str]]:
    """A relay whose receiver accepts everything and records each body."""
    received: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(request.read().decode())
        return httpx.Response(202)

    async def token() -> str:
        return "svc-token"

    return OutboxRelay(db, tables, token, transport=httpx.MockTransport(handler), **options), received


async def test_rows_leased_to_their_publisher_go_when_handed_over_or_when_the_lease_ends(db):
    subs = {"*": ["http://notifications/internal/events"]}
    relay, received = _recording_relay(db, lease_seconds=30)
    assert await relay.run_once() == 0  # the first pass after a start
    handed: list[dict] = []
    async with db.session() as s:
        first = await publish(
            s, tables, subs, event_type="x.y", source="t", data={}, lease_seconds=30, handed_over=handed
        )
    assert len(handed) == 1
    assert await relay.run_once() == 0  # leased to its publisher: not due in the table
    relay.hand_over(handed)
    assert await relay.run_once() == 1
    assert first.id in received[0]
    # A publisher that never hands its rows over (it died): they are due when the lease ends.
    async with db.session() as s:
        second = await publish(
            s, tables, subs, event_type="x.y", source="t", data={}, lease_seconds=30, handed_over=[]
        )
    assert await relay.run_once() == 0
    async with db.session() as s:
        await s.execute(tables.outbox.update().values(next_attempt_at=tables.outbox.c.created_at))
    assert await relay.run_once() == 1
    assert len(received) == 2 and second.id in received[1]
    await relay.stop()


async def test_what_went_out_is_marked_in_batches_and_never_sent_twice(db):
    t = tables.outbox
    relay, received = _recording_relay(db, interval=3600)
    assert await relay.run_once() == 0
    handed: list[dict] = []
    async with db.session() as s:
        await publish(
            s, tables, SUBS, event_type="x.y", source="t", data={}, lease_seconds=30, handed_over=handed
        )
    relay.hand_over(handed)
    assert await relay._tick() == 1  # a pass woken by a commit: sent, marked later
    async with db.session() as s:
        assert (await s.execute(select(t.c.delivered_at))).scalar_one() is None
        await s.execute(t.update().values(next_attempt_at=t.c.created_at))  # even if due again...
    assert await relay.run_once() == 0  # ...it is not sent twice; this pass marks it
    assert len(received) == 1
    async with db.session() as s:
        assert (await s.execute(select(t.c.delivered_at))).scalar_one() is not None
    handed = []
    async with db.session() as s:
        await publish(
            s, tables, SUBS, event_type="x.y", source="t", data={}, lease_seconds=30, handed_over=handed
        )
    relay.hand_over(handed)
    assert await relay._tick() == 1
    await relay.stop()  # stopping marks what went out
    async with db.session(write=False) as s:
        assert (await s.execute(select(t.c.id).where(t.c.delivered_at.is_(None)))).all() == []
