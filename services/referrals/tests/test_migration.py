"""Migration 0004 (issue 18: the MASH queue, assignments, pending disclosures) keeps referrals
stored before it readable and puts those awaiting a decision in the queue, in priority order."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from services.referrals.tests.conftest import SERVICE_DIR, child, rfs
from shared.db import alembic_upgrade


def alembic_downgrade(url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(SERVICE_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(SERVICE_DIR / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["database_url"] = url
    command.downgrade(cfg, revision)


async def test_referrals_stored_before_0004_are_queued_by_priority(svc):
    def family(given: str, family_name: str, dob: str, postcode: str, needs: list[str]) -> dict:
        return rfs(
            children=[child(given, family_name, dob)],
            adults=[],
            address={"line1": "1 Elm Road", "postcode": postcode},
            needs=needs,
        )

    plain = await svc.create(body=family("Nia", "Okafor", "2015-02-03", "S1 2HE", ["school_attendance"]))
    abuse = await svc.create(
        body=family("Leo", "Hart", "2016-05-06", "S61 2BB", ["domestic_abuse", "school_attendance"])
    )
    decided = await svc.create(body=family("Ivy", "Moss", "2014-07-08", "LS1 4AP", ["domestic_abuse"]))
    assert (await svc.decide(decided["id"])).status_code in (200, 201)
    db = svc.runtime.db
    # Back to the schema before issue 18 (the rows stay; the new columns go), then forward.
    for engine in {db.write_engine, db.read_engine}:
        await engine.dispose()
    await asyncio.to_thread(alembic_downgrade, db.url, "0003")
    async with db.write_engine.connect() as conn:
        columns = await conn.run_sync(
            lambda c: {col["name"] for col in sa.inspect(c).get_columns("referral")}
        )
    assert "priority" not in columns and "assigned_to" not in columns
    await db.write_engine.dispose()
    await asyncio.to_thread(alembic_upgrade, SERVICE_DIR, db.url, "head")

    async with db.write_engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT id, priority, assigned_to FROM referral"))).all()
    priority = {r.id: r.priority for r in rows}
    # The backfill's rule is policy.queue_priority: safeguarding headline +10, one per need.
    assert priority[abuse["id"]] == 12 and priority[plain["id"]] == 1
    assert priority[decided["id"]] == 0  # not awaiting a decision: never queued
    assert all(r.assigned_to is None for r in rows)
    queue = await svc.client.get("/v1/mash/queue", params={"sort": "urgency"}, headers=svc.as_("mash"))
    assert queue.status_code == 200, queue.text
    assert [r["id"] for r in queue.json()["items"]] == [abuse["id"], plain["id"]]
    read = await svc.client.get(f"/v1/referrals/{plain['id']}", headers=svc.as_("school_a"))
    assert read.status_code == 200 and read.json()["status"] == "received"
