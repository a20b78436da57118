"""Every service process: health, readiness, metrics, and callers verified by the service."""

from __future__ import annotations

import importlib

import pytest
from sqlalchemy import func, select

from devtools.stack import SERVICES

NAMES = list(SERVICES)


def _load(name: str):
    main = importlib.import_module(f"services.{name}.main")
    config = importlib.import_module(f"services.{name}.config")
    return main.create_app, config.Settings, SERVICES[name].service_dir


@pytest.mark.parametrize("name", NAMES)
async def test_health_ready_metrics(service_factory, name):
    svc = await service_factory(*_load(name))
    assert (await svc.client.get("/healthz")).json()["status"] == "ok"
    ready = await svc.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    metrics = await svc.client.get("/metrics")
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text


@pytest.mark.parametrize("name", NAMES)
async def test_internal_events_need_a_verified_service_identity(service_factory, signer, name):
    svc = await service_factory(*_load(name))
    event = {"type": "test.ping", "source": "test", "data": {}}
    none = await svc.client.post("/internal/events", json=event)
    assert none.status_code == 401
    assert none.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert none.headers["content-type"].startswith("application/problem+json")
    # An ordinary client's access token sent straight to the service port is refused.
    direct = await svc.client.post(
        "/internal/events",
        json=event,
        headers=signer.auth_header(agency_type="education", audience="early-help-api"),
    )
    assert direct.status_code == 401
    # A hop identity of a non-service caller is authenticated but not allowed here.
    hop = await svc.client.post(
        "/internal/events", json=event, headers=signer.auth_header(agency_type="mash")
    )
    assert hop.status_code == 403
    ok = await svc.client.post(
        "/internal/events",
        json=event,
        headers=signer.auth_header(agency_type="service", audience="early-help-api"),
    )
    assert ok.status_code == 202, ok.text
    # No service acts on this type: it is acknowledged and nothing is written.
    assert ok.json()["applied"] is False and ok.json()["handled"] is False
    async with svc.runtime.db.session(write=False) as session:
        seen = (
            await session.execute(select(func.count()).select_from(svc.runtime.tables.processed_event))
        ).scalar()
    assert seen == 0
