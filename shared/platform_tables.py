"""Tables every service has beside its own: the outbox, processed events, idempotency keys.

Each service calls `platform_tables(Base.metadata)` once in its models module, so its
Alembic migrations create these tables in its own database.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table, Text

from shared.db import UTCDateTime


@dataclass(frozen=True)
class PlatformTables:
    outbox: Table
    processed_event: Table
    idempotency_record: Table


def platform_tables(metadata: MetaData) -> PlatformTables:
    if "outbox_event" in metadata.tables:
        t = metadata.tables
        return PlatformTables(t["outbox_event"], t["processed_event"], t["idempotency_record"])
    outbox = Table(
        "outbox_event",
        metadata,
        # One row per (event, destination), so one slow subscriber never holds back another.
        Column("id", String(36), primary_key=True),
        Column("event_id", String(36), nullable=False),
        Column("event_type", String(80), nullable=False),
        Column("destination", String(500), nullable=False),
        Column("payload", JSON, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("next_attempt_at", UTCDateTime(), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("delivered_at", UTCDateTime(), nullable=True),
        Column("last_error", String(500), nullable=True),
        Index("ix_outbox_event_pending", "delivered_at", "next_attempt_at"),
    )
    processed = Table(
        "processed_event",
        metadata,
        Column("event_id", String(36), primary_key=True),
        Column("event_type", String(80), nullable=False),
        Column("processed_at", UTCDateTime(), nullable=False),
    )
    idem = Table(
        "idempotency_record",
        metadata,
        Column("client_id", String(120), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("method", String(10), nullable=False),
        Column("path", String(500), nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer, nullable=True),
        Column("response_body", Text, nullable=True),
        Column("location", String(500), nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
    )
    return PlatformTables(outbox, processed, idem)
