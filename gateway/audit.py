"""The audit of every call, hash-chained so an edited or deleted row is detected.

Records are buffered in memory and written in batches by a background task (a database
write per request would cap the gateway's throughput). Each gateway process writes its own
chain (`chain_id`); within a chain `seq` counts up by one and each row's `hash` covers its
content and the previous row's hash. `verify()` recomputes every chain: a changed field, a
deleted row or a reordered row breaks it. (Deleting the newest rows of a chain cannot be told
from a chain that stopped there; shipping the latest hash elsewhere closes that gap.)

The practitioner a call acted for (`practitioner_id`) is in the hashed content only when
there is one: rows written before practitioners existed, and system calls, hash exactly as
they always did, so an old chain still verifies and a mixed one too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, select

from gateway.models import AuditRecord
from shared.clock import parse_datetime
from shared.db import Database

log = logging.getLogger("gateway.audit")
AUDIT_TABLE: Table = AuditRecord.__table__  # type: ignore[assignment]
GENESIS = "0" * 64
FIELDS = (
    "chain_id",
    "seq",
    "at",
    "client_id",
    "agency_id",
    "method",
    "route",
    "resource_id",
    "status",
    "latency_ms",
    "request_id",
    "prev_hash",
)
# Hashed when not null (see the module docstring).
OPTIONAL_FIELDS = ("practitioner_id",)


@dataclass
class Entry:
    at: datetime
    client_id: str | None
    agency_id: str | None
    method: str
    route: str
    resource_id: str | None
    status: int
    latency_ms: float
    request_id: str
    practitioner_id: str | None = None


def row_hash(row: dict[str, Any]) -> str:
    canonical = {k: row[k] for k in FIELDS}
    for k in OPTIONAL_FIELDS:
        if row.get(k) is not None:
            canonical[k] = row[k]
    at = canonical["at"]
    if isinstance(at, datetime):
        canonical["at"] = parse_datetime(at).isoformat(timespec="microseconds")
    canonical["latency_ms"] = f"{float(canonical['latency_ms']):.3f}"
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()


class AuditWriter:
    def __init__(self, db: Database, interval: float) -> None:
        self.db = db
        self.interval = interval
        self.chain_id = str(uuid.uuid4())
        self.seq = 0
        self.prev = GENESIS
        self._buffer: list[Entry] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def record(self, entry: Entry) -> None:
        self._buffer.append(entry)

    async def flush(self) -> int:
        async with self._lock:
            if not self._buffer:
                return 0
            batch, self._buffer = self._buffer, []
            rows = []
            seq, prev = self.seq, self.prev
            for e in batch:
                seq += 1
                row: dict[str, Any] = {
                    "chain_id": self.chain_id,
                    "seq": seq,
                    "at": e.at,
                    "client_id": e.client_id,
                    "agency_id": e.agency_id,
                    "practitioner_id": e.practitioner_id,
                    "method": e.method,
                    "route": e.route,
                    "resource_id": e.resource_id,
                    "status": e.status,
                    "latency_ms": round(e.latency_ms, 3),
                    "request_id": e.request_id,
                    "prev_hash": prev,
                }
                row["hash"] = row_hash(row)
                prev = row["hash"]
                rows.append(row)
            try:
                async with self.db.session() as session:
                    # Core, not the ORM's bulk path: the rows are plain values already.
                    await session.execute(insert(AUDIT_TABLE), rows)
            except Exception:
                # Keep the entries and try again next time rather than lose them.
                self._buffer[:0] = batch
                log.exception("audit flush failed")
                return 0
            self.seq, self.prev = seq, prev
            return len(rows)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="audit-writer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.flush()


@dataclass
class VerifyResult:
    ok: bool
    rows: int
    chains: int
    problems: list[str]


VERIFY_PAGE_ROWS = 2_000


async def _chain_rows(session: Any, chain: str) -> AsyncIterator[AuditRecord]:
    """A chain's rows in order, a page at a time: a long chain need not sit in memory, and no
    server-side cursor is needed (the SQLite and PostgreSQL paths are the same)."""
    after = 0
    while True:
        page = (
            await session.scalars(
                select(AuditRecord)
                .where(AuditRecord.chain_id == chain, AuditRecord.seq > after)
                .order_by(AuditRecord.seq)
                .limit(VERIFY_PAGE_ROWS)
            )
        ).all()
        for rec in page:
            yield rec
        if len(page) < VERIFY_PAGE_ROWS:
            return
        after = page[-1].seq
        session.expunge_all()


async def verify(db: Database) -> VerifyResult:
    problems: list[str] = []
    rows_seen = 0
    async with db.session(write=False) as session:
        chains = [r[0] for r in (await session.execute(select(AuditRecord.chain_id).distinct())).all()]
        for chain in chains:
            prev, expected_seq = GENESIS, 1
            async for rec in _chain_rows(session, chain):
                rows_seen += 1
                row = {f: getattr(rec, f) for f in (*FIELDS, *OPTIONAL_FIELDS)}
                if rec.seq != expected_seq:
                    problems.append(f"chain {chain}: row seq {expected_seq} missing before seq {rec.seq}")
                if rec.prev_hash != prev:
                    problems.append(
                        f"chain {chain} seq {rec.seq}: previous hash does not match (row deleted or reordered)"
                    )
                if row_hash(row) != rec.hash:
                    problems.append(
                        f"chain {chain} seq {rec.seq}: content does not match its hash (row edited)"
                    )
                prev, expected_seq = rec.hash, rec.seq + 1
        total = (await session.execute(select(func.count()).select_from(AuditRecord))).scalar_one()
    return VerifyResult(ok=not problems, rows=int(total), chains=len(chains), problems=problems)
