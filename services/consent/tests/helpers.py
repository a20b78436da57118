"""Helpers of the consent service's tests: request bodies and the outbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.consent.models import PLATFORM

SERVICE_DIR = Path(__file__).resolve().parents[1]
# Nothing listens here: the relay's deliveries fail and the outbox rows stay to be inspected.
SUBSCRIBERS = {"*": ["http://127.0.0.1:9/internal/events"]}
WRITER_SCOPES = "consent:read consent:write sharing:write"


def consent_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "person_id": str(uuid.uuid4()),
        "given_by": {"name": "Samira Ahmed", "relationship": "parent"},
        "competence": "parental",
        "purposes": ["early_help_service", "information_sharing"],
        "agencies": ["team_around_the_family"],
        "method": "phone",
        "obtained_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }
    body.update(overrides)
    return body


async def outbox_events(svc: Any, event_type: str | None = None) -> list[dict[str, Any]]:
    """The envelopes written to the outbox (one per event: the test has one subscriber)."""
    t = PLATFORM.outbox
    async with svc.runtime.db.session(write=False) as session:
        stmt = select(t.c.payload).order_by(t.c.created_at)
        if event_type:
            stmt = stmt.where(t.c.event_type == event_type)
        return [row.payload for row in (await session.execute(stmt)).all()]
