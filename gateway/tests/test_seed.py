"""What gateway replicas starting together on one database do at start: seed the demo
clients, make the first signing key."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from gateway import clients as client_ops
from gateway import seed
from gateway.keys import KeyStore
from gateway.models import Agency, Client, SigningKey
from shared.clock import utcnow
from shared.db import Database, alembic_upgrade
from shared.testing import create_test_database, drop_test_database, pg_base_url

GATEWAY_DIR = Path(__file__).resolve().parents[1]


async def _counts(db: Database) -> tuple[int, int]:
    async with db.session(write=False) as session:
        clients = (await session.execute(select(func.count()).select_from(Client))).scalar_one()
        agencies = (await session.execute(select(func.count()).select_from(Agency))).scalar_one()
    return clients, agencies


@pytest.mark.parametrize("lost_on", ["client id", "agency id"])
async def test_a_replica_that_loses_the_seeding_race_starts_anyway(tmp_path: Path, monkeypatch, lost_on):
    """The other replica commits each client (and its agency) between this one's checks and
    its insert: this one's create fails - on the client id ("already exists"), or on the
    agency's fixed id if it had looked before the other committed (a unique violation) - is
    rolled back, and seeding carries on. Two gateways starting together used to fail their
    start-up on the demo agency's id."""
    if not pg_base_url():
        pytest.skip(
            "SQLite: a write session takes the lock at BEGIN, before its check, so no other writer can come between the check and the insert"
        )
    url = await create_test_database(tmp_path, "gateway")
    await asyncio.to_thread(alembic_upgrade, GATEWAY_DIR, url)
    ours, theirs = Database(url), Database(url)
    real_create, real_agency = client_ops.create_client, client_ops.get_or_create_agency
    raced: list[str] = []

    async def other_replica_creates(**kw: Any) -> None:
        monkeypatch.setattr(client_ops, "get_or_create_agency", real_agency)
        async with theirs.session() as other:
            await real_create(other, **kw)
        raced.append(kw["client_id"])

    async def create_client(session: Any, **kw: Any) -> Any:
        if lost_on == "client id":
            await other_replica_creates(**kw)
        else:
            # This replica looked for the agency before the other committed it: insert it.
            async def agency_not_found_before(
                session: Any, *, agency_id: Any, name: Any, agency_type: str
            ) -> Any:
                await other_replica_creates(**kw)
                session.add(Agency(id=agency_id, name=name, type=agency_type, created_at=utcnow()))
                await session.flush()

            monkeypatch.setattr(client_ops, "get_or_create_agency", agency_not_found_before)
        return await real_create(session, **kw)

    try:
        monkeypatch.setattr(client_ops, "create_client", create_client)
        assert await seed.seed_demo(ours, "dev") == []  # this replica made none of them
        monkeypatch.setattr(client_ops, "create_client", real_create)
        monkeypatch.setattr(client_ops, "get_or_create_agency", real_agency)
        assert len(raced) == len(set(raced)) > 10
        made_once = await _counts(ours)
        assert made_once[0] == len(raced)
        assert await seed.seed_demo(ours, "dev") == []  # and again: nothing more
        assert await _counts(ours) == made_once
    finally:
        await ours.dispose()
        await theirs.dispose()
        await drop_test_database(url)


async def test_two_replicas_seeding_at_once_make_each_client_once(tmp_path: Path):
    url = await create_test_database(tmp_path, "gateway")
    await asyncio.to_thread(alembic_upgrade, GATEWAY_DIR, url)
    dbs = [Database(url), Database(url)]
    try:
        made = await asyncio.gather(*(seed.seed_demo(db, "dev") for db in dbs))
        everyone = made[0] + made[1]
        assert len(everyone) == len(set(everyone)) > 10
        assert (await _counts(dbs[0]))[0] == len(everyone)
    finally:
        for db in dbs:
            await db.dispose()
        await drop_test_database(url)


async def test_replicas_starting_together_share_one_signing_key(tmp_path: Path):
    """Every replica loads the keys at start and makes the first if there is none: made once,
    or a token signed by one replica is an unknown key id at another until its verifier may
    refetch (seen with two gateway workers on PostgreSQL)."""
    url = await create_test_database(tmp_path, "gateway")
    await asyncio.to_thread(alembic_upgrade, GATEWAY_DIR, url)
    dbs = [Database(url) for _ in range(3)]
    try:
        stores = [KeyStore(db) for db in dbs]
        await asyncio.gather(*(store.load() for store in stores))
        kids = {kid for store in stores for kid in (k["kid"] for k in store.jwks()["keys"])}
        assert len(kids) == 1
        async with dbs[0].session(write=False) as session:
            assert (await session.execute(select(func.count()).select_from(SigningKey))).scalar_one() == 1
    finally:
        for db in dbs:
            await db.dispose()
        await drop_test_database(url)


async def test_a_unique_violation_that_is_not_the_race_is_not_swallowed(tmp_path: Path, monkeypatch):
    """Losing the race means the client exists afterwards; any other integrity error (here
    one that left no client behind) still fails the seeding, loudly."""
    url = await create_test_database(tmp_path, "gateway")
    await asyncio.to_thread(alembic_upgrade, GATEWAY_DIR, url)
    db = Database(url)

    async def broken_create(_session: Any, **_kw: Any) -> Any:
        raise IntegrityError("INSERT INTO client ...", {}, Exception("some other constraint"))

    try:
        monkeypatch.setattr(client_ops, "create_client", broken_create)
        with pytest.raises(IntegrityError):
            await seed.seed_demo(db, "dev")
    finally:
        await db.dispose()
        await drop_test_database(url)
