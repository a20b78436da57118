"""A referral imported while still awaiting its MASH decision arrives as `referral.received`
carrying its original `received_at` (issue 22 item 2, docs/import.md): its front-door decision
deadline runs from then in working days, so one received long ago is overdue at once, and the
MASH is alerted as for any referral received."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from shared.clock import LONDON

RECEIVED = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)  # a Monday, long before the import


async def test_an_old_referral_received_has_its_deadline_from_then_and_overdue(notif: Any) -> None:
    await notif.event(
        "referral.received",
        {
            "referral_id": "imported-1",
            "reference": "RFS-2026-000001",
            "source_agency_id": "school-1",
            "received_at": RECEIVED.isoformat(),
            "decision_due_at": datetime(2025, 1, 7, 9, 0, tzinfo=UTC).isoformat(),
        },
    )
    deadline = await notif.deadline("front_door_decision", referral_id="imported-1")
    # The rule's working days from Monday 6 January 2025 (one, in these settings): Tuesday 7th,
    # as the referrals service counted it - not from the day it was imported.
    assert datetime.fromisoformat(deadline["due_at"]).astimezone(LONDON).date() == date(2025, 1, 7)
    assert deadline["status"] == "open" and deadline["overdue"] is True
    overdue = await notif.deadlines(status="overdue", referral_id="imported-1")
    assert [d["kind"] for d in overdue["items"]] == ["front_door_decision"]
    # The MASH hears of it, as of any referral received.
    assert [n["kind"] for n in await notif.feed("mash")] == ["referral.received"]
