"""The JSNA feed's families kept at intake (migration 0010, issue 21 item 6), through the gateway.

Two referrals from a school about one household (one address), in the same month: the
referrals service keeps the family once per month and quarter and need in
`jsna_family_period` (read here from its database, SQLite file or PostgreSQL), which is what
the feed counts; the feed still answers through the gateway (the conformance hook checks it).
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import uuid

import pytest

from services.referrals.households import address_key
from tests.e2e.test_referrals import MASH, SCHOOL_A, request_for_support, unique_name

pytestmark = pytest.mark.e2e


def family_rows(stack, family_key: str) -> list[tuple]:
    query = "SELECT kind, need FROM jsna_family_period WHERE family_key = $1 ORDER BY kind, need"
    if stack.pg_base:
        import asyncpg

        async def read() -> list[tuple]:
            base = stack.pg_base.replace("postgresql+asyncpg", "postgresql")
            conn = await asyncpg.connect(f"{base}/{stack.db_prefix}eh_referrals")
            try:
                return [tuple(r) for r in await conn.fetch(query, family_key)]
            finally:
                await conn.close()

        return asyncio.run(read())
    with sqlite3.connect(stack.data_dir / "referrals.db") as conn:
        return conn.execute(query.replace("$1", "?"), (family_key,)).fetchall()


def test_intake_keeps_each_family_once_per_period_and_need(api, stack):
    line1 = f"{uuid.uuid4().hex[:6]} Perf Street"
    for needs in (["parental_mental_health", "domestic_abuse"], ["parental_mental_health"]):
        body = request_for_support(unique_name())
        body["address"] = {"line1": line1, "postcode": "S60 1AE"}
        body["needs"] = needs
        made = api.post(SCHOOL_A, "/v1/referrals", json=body)
        assert made.status_code == 201, made.text

    key = hashlib.sha256(f"household:{address_key(line1, 'S60 1AE')}".encode()).hexdigest()[:32]
    assert family_rows(stack, key) == [
        ("month", "domestic_abuse"),
        ("month", "parental_mental_health"),
        ("quarter", "domestic_abuse"),
        ("quarter", "parental_mental_health"),
    ]
    for period in ("month", "quarter"):
        resp = api.get(MASH, "/v1/reports/jsna", params={"period": period})
        assert resp.status_code == 200, resp.text
