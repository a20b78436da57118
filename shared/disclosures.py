"""Disclosures on their way to the consent service's log.

A service whose reads disclose a person's information to another agency (referrals,
assessments) keeps each disclosure in a `pending_disclosure` table of its own (the model lives
in the service's `models.py`). GET requests run on a read-only session, so a read's
disclosures are written in their own short write transaction, committed *before* the
response is sent (data is never shown without its disclosure stored): `DisclosureRelay.store`.
The service's background worker then calls `DisclosureRelay.deliver`, which posts due rows to
the consent service (`POST /internal/disclosures`, `post_disclosure`), retrying with backoff
until it accepts them.

What differs between services - the model, what a row says beyond the common fields, the
basis of a disclosure, who counts as disclosing - stays in the service.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy import delete, insert, select

from shared.clock import iso_z, utcnow
from shared.db import Database, is_postgres_session
from shared.events import backoff
from shared.identity import Identity
from shared.logs import request_id_var
from shared.service_client import ServiceClient

LEASE = timedelta(seconds=30)
BATCH = 100
# A disclosure the consent service refused is kept (never deleted) but parked this long:
# a person's log must be fixed, not dropped.
PARKED = timedelta(days=1)
# Sent rows are kept this long, then purged.
KEEP_SENT = timedelta(days=1)


class ConsentUnavailable(Exception):
    """No answer, or a 5xx: try again later."""


class DisclosureRejected(Exception):
    """The consent service refused the disclosure itself (a 4xx): retrying will not help."""


class Poster(Protocol):
    async def __call__(self, disclosure: dict[str, Any], *, key: str) -> None: ...


async def post_disclosure(client: ServiceClient, disclosure: dict[str, Any], *, key: str) -> None:
    """`POST /internal/disclosures` to the consent service; `key` (the row id) is the
    Idempotency-Key, so a retry after a lost answer never logs the same read twice. Raises
    `DisclosureRejected` or `ConsentUnavailable` on failure, so the caller retries later."""
    try:
        resp = await client.request(
            "POST", "/internal/disclosures", json=disclosure, headers={"Idempotency-Key": key}
        )
    except httpx.HTTPError as exc:
        raise ConsentUnavailable(type(exc).__name__) from exc
    if resp.status_code in (400, 403, 404, 413, 422):
        raise DisclosureRejected(f"HTTP {resp.status_code}")
    if resp.status_code >= 300:
        raise ConsentUnavailable(f"HTTP {resp.status_code}")


def pending_disclosure(
    identity: Identity,
    person_id: str,
    resource_type: str,
    resource_id: str,
    basis: str,
    *,
    at: datetime,
    **extra: Any,
) -> dict[str, Any]:
    """A `pending_disclosure` row: `identity` read this person's information at `at`; due at once.
    `extra`: the service's own columns."""
    return {
        "id": str(uuid.uuid4()),
        "person_id": person_id,
        "agency_id": identity.agency_id,
        "practitioner_id": identity.practitioner_id,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "basis": basis,
        "request_id": request_id_var.get(),
        "disclosed_at": at,
        "attempts": 0,
        "next_attempt_at": at,
        **extra,
    }


def disclosure_body(row: Any) -> dict[str, Any]:
    """The consent service's DisclosureCreate. `practitioner_id` only when there is one: a
    system call names no practitioner, and the field is an addition to that contract."""
    out: dict[str, Any] = {
        "person_id": row.person_id,
        "agency_id": row.agency_id,
        "resource_type": row.resource_type,
        "resource_id": row.resource_id,
        "basis": row.basis,
        "request_id": row.request_id,
        "disclosed_at": iso_z(row.disclosed_at),
    }
    if row.practitioner_id is not None:
        out["practitioner_id"] = row.practitioner_id
    return out


def _describe(exc: Exception) -> str:
    return type(exc).__name__ + (f": {exc}"[:150] if str(exc) else "")


@dataclass(frozen=True)
class DisclosureRelay:
    """Stores and delivers one service's disclosures.

    `model` is the service's `PendingDisclosure` (the columns `pending_disclosure` fills, plus
    `sent_at` and `last_error`); `body` turns a row into what the consent service is sent."""

    model: Any
    log: logging.Logger
    body: Callable[[Any], dict[str, Any]] = disclosure_body
    batch: int = BATCH

    async def store(self, db: Database, rows: list[dict[str, Any]]) -> None:
        """Written in a transaction of their own (see the module docstring)."""
        if rows:
            async with db.session() as session:
                await session.execute(insert(self.model), rows)

    async def deliver(self, db: Database, poster: Callable[[], Poster]) -> int:
        """Post due disclosures with `poster()` (asked for only when there is something to send);
        failures are retried with backoff. Returns how many were accepted.

        Rows are claimed under a lease in one short transaction, sent with no transaction open,
        and marked in another: holding this database's write lock across a call into the
        consent service (which may at that moment be delivering an event back here) would
        stall both. The first look is on the read side: on SQLite a write transaction every
        pass would take the database's write lock for nothing."""
        model = self.model
        now = utcnow()
        due = (model.sent_at.is_(None), model.next_attempt_at <= now)
        async with db.session(write=False) as session:
            if (await session.execute(select(model.id).where(*due).limit(1))).first() is None:
                return 0
        async with db.session() as session:
            stmt = select(model).where(*due).order_by(model.disclosed_at).limit(self.batch)
            if is_postgres_session(session):
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list((await session.execute(stmt)).scalars())
            claimed = [(row.id, self.body(row)) for row in rows]
            for row in rows:
                row.next_attempt_at = now + LEASE
        if not claimed:
            return 0
        post = poster()
        results: list[tuple[str, str | None, bool]] = []  # (id, error, rejected)
        for row_id, body in claimed:
            try:
                await post(body, key=row_id)
                results.append((row_id, None, False))
            except DisclosureRejected as exc:
                results.append((row_id, f"rejected: {exc}", True))
            except Exception as exc:
                results.append((row_id, _describe(exc), False))
        sent = 0
        async with db.session() as session:
            for row_id, error, rejected in results:
                pending = await session.get(model, row_id)
                if pending is None:
                    continue
                pending.attempts += 1
                if error is None:
                    pending.sent_at = utcnow()
                    sent += 1
                elif rejected:
                    pending.last_error = error[:200]
                    pending.next_attempt_at = utcnow() + PARKED
                    self.log.error(
                        "disclosure rejected by consent", extra={"disclosure_id": row_id, "error": error}
                    )
                else:
                    pending.last_error = error[:200]
                    pending.next_attempt_at = utcnow() + timedelta(seconds=backoff(pending.attempts))
            await session.execute(
                delete(model).where(model.sent_at.is_not(None), model.sent_at < utcnow() - KEEP_SENT)
            )
        return sent
