"""`?updated_since=` on the audit trail (issue 20): a record is written once, so it changed when
it was written; one written before the moment is left out, one written after it is listed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


async def test_audit_records_written_since(gwh, clock):
    # Near the real time: tokens keep to the real clock.
    t0 = datetime.now(UTC).replace(microsecond=0)
    cid, secret, _agency = await gwh.make_client("education")
    headers = {"Authorization": f"Bearer {await gwh.token(cid, secret)}"}
    admin = await gwh.bearer("admin")
    clock.set(t0)
    await gwh.client.get("/v1/things/early", headers=headers)
    clock.set(t0 + timedelta(hours=2))
    await gwh.client.get("/v1/things/late", headers=headers)

    async def resources(since: datetime) -> list[str]:
        resp = await gwh.client.get(
            "/v1/admin/audit", params={"client_id": cid, "updated_since": since.isoformat()}, headers=admin
        )
        assert resp.status_code == 200, resp.text
        return [r["resource_id"] for r in resp.json()["items"]]

    assert sorted(await resources(t0 - timedelta(hours=1))) == ["early", "late"]
    assert await resources(t0 + timedelta(hours=1)) == ["late"]
    assert await resources(t0 + timedelta(hours=3)) == []
    bad = await gwh.client.get(
        "/v1/admin/audit",
        params={"client_id": cid, "updated_since": t0.replace(tzinfo=None).isoformat()},
        headers=admin,
    )
    assert bad.status_code == 422 and "updated_since" in bad.text
