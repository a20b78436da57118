"""Admin API for clients, and the hash-chained audit of every call."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, update

from gateway import audit as audit_ops
from gateway.models import AuditRecord


async def test_admin_manages_clients(gwh):
    admin = await gwh.bearer("admin")
    made = await gwh.client.post(
        "/v1/admin/clients", headers=admin, json={"name": "Hillside Academy", "agency_type": "education"}
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["client_secret"] and body["scopes"] == [
        "referrals:create",
        "referrals:read",
        "episodes:read",
        "episodes:write",
        "notifications:read",
        "webhooks:manage",
        "practitioners:manage",
    ]
    listed = (await gwh.client.get("/v1/admin/clients", headers=admin)).json()["items"]
    assert any(c["client_id"] == body["client_id"] for c in listed)
    assert all("secret" not in c and "secret_hash" not in c for c in listed)
    rotated = await gwh.client.post(f"/v1/admin/clients/{body['client_id']}/rotate-secret", headers=admin)
    new_secret = rotated.json()["client_secret"]
    old = await gwh.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": body["client_id"],
            "client_secret": body["client_secret"],
        },
    )
    assert old.status_code == 401
    assert await gwh.token(body["client_id"], new_secret)
    bad = await gwh.client.post(
        "/v1/admin/clients", headers=admin, json={"name": "x", "agency_type": "pirates"}
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "agency_type"
    unknown_field = await gwh.client.post(
        "/v1/admin/clients", headers=admin, json={"name": "x", "agency_type": "health", "is_admin": True}
    )
    assert unknown_field.status_code == 422
    assert (await gwh.client.post("/v1/admin/clients/nobody/disable", headers=admin)).status_code == 404


async def test_non_admins_cannot_use_the_admin_api(gwh):
    mash = await gwh.bearer("mash")
    resp = await gwh.client.get("/v1/admin/clients", headers=mash)
    assert resp.status_code == 403 and "insufficient_scope" in resp.headers["www-authenticate"]
    assert (await gwh.client.get("/v1/admin/clients")).status_code == 401


async def test_every_call_is_audited_and_the_chain_detects_tampering(gwh):
    cid, secret, agency_id = await gwh.make_client("education")
    headers = {"Authorization": f"Bearer {await gwh.token(cid, secret)}", "X-Request-ID": "audit-req-1"}
    await gwh.client.get("/v1/things/thing-77", headers=headers)
    await gwh.client.get("/v1/triage", headers=headers)  # 403, audited too
    await gwh.client.get("/v1/things")  # 401, no identity
    admin = await gwh.bearer("admin")
    rows = (await gwh.client.get(f"/v1/admin/audit?client_id={cid}", headers=admin)).json()["items"]
    by_route = {r["route"]: r for r in rows}
    thing = by_route["/v1/things/{thing_id}"]
    assert thing["resource_id"] == "thing-77" and thing["status"] == 200
    assert thing["agency_id"] == agency_id and thing["request_id"] == "audit-req-1"
    assert thing["latency_ms"] >= 0 and by_route["/v1/triage"]["status"] == 403
    await gwh.gw.audit.flush()
    assert (await audit_ops.verify(gwh.gw.db)).ok
    async with gwh.gw.db.session() as session:
        await session.execute(
            update(AuditRecord).where(AuditRecord.resource_id == "thing-77").values(status=500)
        )
    result = await audit_ops.verify(gwh.gw.db)
    assert not result.ok and any("edited" in p for p in result.problems)


@pytest.mark.parametrize("page_rows", [2_000, 2])
async def test_a_deleted_audit_row_is_detected(gwh, monkeypatch, page_rows):
    # A page of 2 rows puts the chain over several pages, and the gap across a page boundary.
    monkeypatch.setattr(audit_ops, "VERIFY_PAGE_ROWS", page_rows)
    headers = await gwh.bearer("education")
    for i in range(3):
        await gwh.client.get(f"/v1/things/t{i}", headers=headers)
    await gwh.gw.audit.flush()
    await asyncio.sleep(0)
    assert (await audit_ops.verify(gwh.gw.db)).ok
    async with gwh.gw.db.session() as session:
        await session.execute(delete(AuditRecord).where(AuditRecord.resource_id == "t1"))
    result = await audit_ops.verify(gwh.gw.db)
    assert not result.ok and any("missing" in p or "deleted" in p for p in result.problems)


async def test_the_audit_query_takes_times_with_or_without_an_offset(gwh):
    """A time without an offset is UTC (it was a 500: the column refuses naive times)."""
    cid, secret, _agency = await gwh.make_client("education")
    await gwh.client.get(
        "/v1/things/thing-9", headers={"Authorization": f"Bearer {await gwh.token(cid, secret)}"}
    )
    await gwh.gw.audit.flush()
    admin = await gwh.bearer("admin")
    for since in ("2000-01-01T00:00:00", "2000-01-01T00:00:00Z", "2000-01-01T01:00:00+01:00"):
        resp = await gwh.client.get(
            "/v1/admin/audit", params={"client_id": cid, "from": since}, headers=admin
        )
        assert resp.status_code == 200, (since, resp.text)
        assert [r["resource_id"] for r in resp.json()["items"]] == ["thing-9"]
    later = await gwh.client.get(
        "/v1/admin/audit", params={"client_id": cid, "from": "2999-01-01T00:00:00"}, headers=admin
    )
    assert later.status_code == 200 and later.json()["items"] == []
