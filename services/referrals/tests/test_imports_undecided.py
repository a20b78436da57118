"""An imported referral still awaiting its decision is open work in the MASH queue: it announces
itself as an intake does, so the notifications service opens its front-door decision deadline
(from its own received_at) and alerts the MASH (issue 22 item 2, docs/import.md). A decided one
stays silent; a dry run and a re-run publish nothing."""

from __future__ import annotations

import copy
from typing import Any

from services.referrals.tests.test_imports import URL, batch, importer


def with_undecided(prefix: str = "") -> dict[str, Any]:
    """The decided family of `batch`, and two referrals of the same child awaiting a decision:
    a request for support received long ago and a safeguarding concern (urgent)."""
    body = batch(prefix)
    waiting = copy.deepcopy(body["referrals"][0])
    del waiting["decision"]
    waiting |= {"source_id": f"{prefix}F2", "received_at": "2026-01-05T09:00:00Z"}
    concern = copy.deepcopy(waiting)
    concern |= {
        "source_id": f"{prefix}F3",
        "referral_type": "safeguarding_concern",
        "received_at": "2026-06-03T11:00:00Z",
    }
    body["referrals"] += [waiting, concern]
    return body


async def test_an_undecided_referral_announces_itself_and_a_decided_one_does_not(svc: Any) -> None:
    resp = await svc.client.post(URL, json=with_undecided(), headers=importer(svc))
    assert resp.status_code == 200, resp.text
    out = resp.json()
    decided, waiting, concern = (r["id"] for r in out["referrals"])
    child, adult = out["children"][0]["id"], out["adults"][0]["id"]

    received = await svc.outbox("referral.received")
    assert [e["data"]["referral_id"] for e in received] == [waiting, concern]
    first = received[0]["data"]
    assert first["received_at"] == "2026-01-05T09:00:00+00:00"
    # Its decision was due a working day after it was received (the service's setting), not
    # after the import.
    assert first["decision_due_at"] == "2026-01-06T09:00:00+00:00"
    assert first["person_ids"] == [child] and first["adult_person_ids"] == [adult]
    assert first["urgent"] is False and first["reference"].startswith("RFS-")
    assert first["open_episode_id"] is None and first["linked_referral_id"] is None
    assert received[1]["data"]["urgent"] is True
    [alarm] = await svc.outbox("referral.safeguarding_concern")
    assert alarm["data"]["referral_id"] == concern and alarm["data"]["person_ids"] == [child]
    # The decided referral publishes nothing (no `referral.decided`: no second episode).
    assert await svc.outbox("referral.decided") == []
    assert all(e["data"]["referral_id"] != decided for e in await svc.outbox())

    # Read through the API, it waits in the MASH queue as an intake's would.
    got = (await svc.client.get(f"/v1/referrals/{waiting}", headers=svc.as_("mash"))).json()
    assert got["status"] == "received" and got["received_at"].startswith("2026-01-05")

    # A re-run of the same rows publishes nothing twice.
    before = len(await svc.outbox())
    again = await svc.client.post(URL, json=with_undecided(), headers=importer(svc))
    assert again.status_code == 200, again.text
    assert [r["created"] for r in again.json()["referrals"]] == [False] * 3
    assert len(await svc.outbox()) == before


async def test_a_dry_run_of_an_undecided_referral_publishes_nothing(svc: Any) -> None:
    body = with_undecided("D") | {"dry_run": True}
    resp = await svc.client.post(URL, json=body, headers=importer(svc))
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["referrals"]) == 3
    assert await svc.outbox() == []
