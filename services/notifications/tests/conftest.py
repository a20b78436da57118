"""Fixtures of the notifications tests: the service on a fresh database, and event posting."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from services.notifications.config import Settings
from services.notifications.main import create_app

SERVICE_DIR = Path(__file__).resolve().parent.parent


class Notif:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.client = svc.client
        self.service_auth = svc.signer.auth_header(
            agency_type="service", audience="early-help-api", scopes=""
        )

    async def event(self, type_: str, data: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        body = {"id": event_id or str(uuid.uuid4()), "type": type_, "source": "test", "data": data}
        resp = await self.client.post("/internal/events", json=body, headers=self.service_auth)
        assert resp.status_code == 202, resp.text
        return resp.json()

    def headers(
        self, agency_type: str = "mash", agency_id: str | None = None, scopes: str = "deadlines:read"
    ) -> dict[str, str]:
        return self.svc.headers(
            agency_type=agency_type, agency_id=agency_id or f"agency-{agency_type}", scopes=scopes
        )

    async def deadlines(self, **params: Any) -> dict[str, Any]:
        resp = await self.client.get("/v1/deadlines", params=params, headers=self.headers())
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def deadline(self, kind: str, **params: Any) -> dict[str, Any]:
        items = [d for d in (await self.deadlines(limit=200, **params))["items"] if d["kind"] == kind]
        assert len(items) == 1, items
        return items[0]

    async def feed(
        self, agency_type: str, agency_id: str | None = None, **params: Any
    ) -> list[dict[str, Any]]:
        resp = await self.client.get(
            "/v1/notifications",
            params=params,
            headers=self.headers(agency_type, agency_id, "notifications:read"),
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["items"]

    @property
    def settings(self) -> Settings:
        return self.svc.runtime.settings

    @property
    def db(self) -> Any:
        return self.svc.runtime.db


@pytest.fixture
def make_notif(service_factory):
    async def make(*, settings_cls: type[Settings] = Settings, **overrides: Any) -> Notif:
        return Notif(await service_factory(create_app, settings_cls, SERVICE_DIR, **overrides))

    return make


@pytest.fixture
async def notif(make_notif) -> Notif:
    return await make_notif()


def settings_with(**fixed: Any) -> type[Settings]:
    """Settings whose given fields win over the harness's (e.g. a non-test environment)."""

    class Fixed(Settings):
        def __init__(self, **values: Any) -> None:
            super().__init__(**{**values, **fixed})

    return Fixed
