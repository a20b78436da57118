"""A batch of episodes is opened set-based (imports.py) with the result of opening each alone,
in batch order: the same reference numbers, rows and events."""

from __future__ import annotations

from typing import Any

from services.assessments.tests.conftest import EH, events, h
from services.assessments.tests.test_imports import IMPORTER, URL, row

HEALTH = {"agency_id": "health-1", "agency_type": "health", "name": "Hal Health", "role": "Health visitor"}


async def test_a_batch_is_numbered_and_announced_as_one_by_one(svc: Any) -> None:
    first = row("E1")
    first["taf"].append(HEALTH)
    last_year = row("E2", referral_id=None, referral_received_at=None, opened_at="2025-12-30T10:00:00Z")
    body = {"episodes": [first, last_year, row("E3", lead_professional=None, taf=[])]}
    resp = await svc.client.post(URL, json=body, headers=h(svc, IMPORTER))
    assert resp.status_code == 200, resp.text
    ids = [e["id"] for e in resp.json()["episodes"]]
    read = [(await svc.client.get(f"/v1/episodes/{i}", headers=h(svc, EH))).json() for i in ids]
    # Each year's series in row order.
    assert [e["reference"] for e in read] == ["EH-2026-000001", "EH-2025-000001", "EH-2026-000002"]
    # Both joined at the opening: listed by (added_at, id), so in no set order.
    assert sorted(m["agency_id"] for m in read[0]["taf_members"]) == ["health-1", "school-1"]
    opened = {e["episode_id"]: e for e in await events(svc, "episode.opened")}
    assert opened[ids[0]]["reference"] == "EH-2026-000001"
    assert opened[ids[0]]["referral_received_at"].startswith("2026-09-01T09:00")
    assert "referral_id" not in opened[ids[1]] and opened[ids[1]]["origin"] == "self_referral"
    assert [e["episode_id"] for e in await events(svc, "lead_professional.assigned")] == ids[:2]
    # Each member's event names the TAF's agencies after it joined.
    joined = [e for e in await events(svc, "taf.member_added") if e["episode_id"] == ids[0]]
    assert sorted(map(tuple, (e["taf_agency_ids"] for e in joined))) == [
        ("health-1", "school-1"),
        ("school-1",),
    ]
    assert {e["episode_id"] for e in await events(svc, "taf.member_added")} == set(ids[:2])
