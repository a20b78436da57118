"""Two admins registering the same `client_id` at once: the loser gets the 422 the check before
the insert gives (`client_id`: already exists), never a 500 from the unique constraint."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from gateway import clients


async def test_a_client_id_taken_meanwhile_is_a_422_naming_it(gwh, monkeypatch):
    async def taken_meanwhile(*_args: Any, **_kwargs: Any) -> Any:
        raise IntegrityError(
            "INSERT INTO client", {}, Exception("UNIQUE constraint failed: client.client_id")
        )

    admin = await gwh.bearer("admin")
    monkeypatch.setattr(clients, "create_client", taken_meanwhile)
    resp = await gwh.client.post(
        "/v1/admin/clients",
        headers=admin,
        json={"name": "Hillside Academy", "agency_type": "education", "client_id": "hillside"},
    )
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["errors"][0]["field"] == "client_id"
