"""Disclosures made by reads in the referrals service, and their delivery to the consent service.

A read of a child's information by an agency other than the MASH, early help or a service,
of information its own agency did not provide (`policy.discloses`), is a disclosure: the
consent service's log must be able to say who saw the child's record. As in the assessments
service, GET requests run on a read-only session, so a read's disclosures are written in
their own short write transaction, committed *before* the response is sent (data is never
shown without its disclosure stored), and the background worker posts them to the consent
service (`POST /internal/disclosures`), retrying with backoff until it accepts them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import delete, insert, select

from services.referrals import policy
from services.referrals.clients.consent import DisclosureRejected
from services.referrals.models import PendingDisclosure
from shared.clock import iso_z, utcnow
from shared.events import backoff
from shared.identity import CurrentIdentity, Identity
from shared.logs import request_id_var

if TYPE_CHECKING:
    from services.referrals.runtime import ReferralsRuntime

log = logging.getLogger("referrals.disclosures")

LEASE = timedelta(seconds=30)
BATCH = 100


@dataclass
class Disclosures:
    """The disclosures one request makes; stored when the endpoint succeeded."""

    identity: Identity
    runtime: ReferralsRuntime
    pending: list[dict[str, Any]] = field(default_factory=list)

    def note(
        self,
        person_ids: Iterable[str],
        resource_type: str,
        resource_id: str,
        *,
        provided_by_agency_id: str | None = None,
    ) -> None:
        """Note that the caller saw these people's information (a no-op when that is not a
        disclosure: see `policy.discloses`)."""
        if not policy.discloses(self.identity, provided_by_agency_id):
            return
        now = utcnow()
        seen = {(p["person_id"], p["resource_type"], p["resource_id"]) for p in self.pending}
        for person_id in dict.fromkeys(person_ids):
            if (person_id, resource_type, resource_id) in seen:
                continue
            self.pending.append(
                {
                    "id": str(uuid.uuid4()),
                    "person_id": person_id,
                    "agency_id": self.identity.agency_id,
                    "practitioner_id": self.identity.practitioner_id,
                    "resource_type": resource_type,
                    "resource_id": resource_id,
                    "basis": policy.DISCLOSURE_BASIS,
                    "request_id": request_id_var.get(),
                    "disclosed_at": now,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
            )

    async def store(self) -> None:
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        async with self.runtime.db.session() as session:
            await session.execute(insert(PendingDisclosure), rows)
        self.runtime.wake_worker()


async def get_disclosures(request: Request, identity: CurrentIdentity) -> AsyncIterator[Disclosures]:
    recorder = Disclosures(identity, request.app.state.runtime)
    yield recorder
    # Reached only when the endpoint succeeded, and before the response is sent
    # (scope="function"): a failure to store is an error response, not an unlogged read.
    await recorder.store()


DisclosuresDep = Annotated[Disclosures, Depends(get_disclosures, scope="function")]


# ---- delivery ----


def payload(row: PendingDisclosure) -> dict[str, Any]:
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


async def deliver(runtime: ReferralsRuntime) -> int:
    """Post due disclosures to the consent service; failures are retried with backoff.

    Rows are claimed under a lease in one short transaction, sent with no transaction open,
    and marked in another: a write lock held across a call into another service stalls both.
    Returns how many were accepted."""
    now = utcnow()
    due = (PendingDisclosure.sent_at.is_(None), PendingDisclosure.next_attempt_at <= now)
    async with runtime.db.session(write=False) as session:
        if (await session.execute(select(PendingDisclosure.id).where(*due).limit(1))).first() is None:
            return 0
    async with runtime.db.session() as session:
        rows = (
            (
                await session.execute(
                    select(PendingDisclosure)
                    .where(*due)
                    .order_by(PendingDisclosure.disclosed_at)
                    .limit(BATCH)
                )
            )
            .scalars()
            .all()
        )
        claimed = [(row.id, payload(row)) for row in rows]
        for row in rows:
            row.next_attempt_at = now + LEASE
    if not claimed:
        return 0
    consent = runtime.consent()
    results: list[tuple[str, str | None, bool]] = []  # (id, error, rejected)
    for row_id, body in claimed:
        try:
            await consent.record_disclosure(body, key=row_id)
            results.append((row_id, None, False))
        except DisclosureRejected as exc:
            results.append((row_id, f"rejected: {exc}", True))
        except Exception as exc:
            results.append((row_id, type(exc).__name__ + (f": {exc}"[:150] if str(exc) else ""), False))
    sent = 0
    async with runtime.db.session() as session:
        for row_id, error, rejected in results:
            pending = await session.get(PendingDisclosure, row_id)
            if pending is None:
                continue
            pending.attempts += 1
            if error is None:
                pending.sent_at = utcnow()
                sent += 1
            elif rejected:
                # Kept (never deleted) but parked: a child's log must be fixed, not dropped.
                pending.last_error = error[:200]
                pending.next_attempt_at = utcnow() + timedelta(days=1)
                log.error("disclosure rejected by consent", extra={"disclosure_id": row_id, "error": error})
            else:
                pending.last_error = error[:200]
                pending.next_attempt_at = utcnow() + timedelta(seconds=backoff(pending.attempts))
        await session.execute(
            delete(PendingDisclosure).where(
                PendingDisclosure.sent_at.is_not(None),
                PendingDisclosure.sent_at < utcnow() - timedelta(days=1),
            )
        )
    return sent
