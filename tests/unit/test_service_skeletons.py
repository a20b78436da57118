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
    # RFC 6750 3.1: no credentials sent, so the challenge carries no error code.
    assert none.headers["www-authenticate"] == 'Bearer realm="early-help"'
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


@pytest.mark.parametrize("name", NAMES)
async def test_a_malformed_event_is_a_validation_problem_naming_the_field(service_factory, signer, name):
    """The receiver is a plain endpoint (not a FastAPI route); its errors are the same
    problems: 422 naming the field, nothing recorded, and the request counted under its route."""
    svc = await service_factory(*_load(name))
    auth = signer.auth_header(agency_type="service", audience="early-help-api")
    missing = await svc.client.post("/internal/events", json={"source": "test", "data": {}}, headers=auth)
    assert missing.status_code == 422
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in missing.json()["errors"]] == ["type"]
    wrong = await svc.client.post(
        "/internal/events", json={"type": "x" * 81, "source": "test", "data": []}, headers=auth
    )
    assert wrong.status_code == 422
    assert sorted(e["field"] for e in wrong.json()["errors"]) == ["data", "type"]
    broken = await svc.client.post(
        "/internal/events", content=b'{"type": ', headers={**auth, "Content-Type": "application/json"}
    )
    assert broken.status_code == 422 and broken.json()["errors"][0]["code"] == "json_invalid"
    # Authentication comes first, as before: no identity, no validation answer.
    assert (await svc.client.post("/internal/events", json={"data": []})).status_code == 401
    async with svc.runtime.db.session(write=False) as session:
        seen = (
            await session.execute(select(func.count()).select_from(svc.runtime.tables.processed_event))
        ).scalar()
    assert seen == 0
    metrics = (await svc.client.get("/metrics")).text.splitlines()
    assert [
        line
        for line in metrics
        if line.startswith("http_requests_total{")
        and 'route="/internal/events"' in line
        and 'status="422"' in line
    ], metrics


def test_an_admin_only_practitioner_of_an_all_seeing_agency_sees_no_case():
    from shared.identity import Identity

    def who(**kw):
        return Identity(sub="s", client_id="c", agency_id="a", agency_type="early_help", **kw)

    assert who().sees_all  # a system call of early help
    assert who(practitioner_id="p", roles=frozenset({"early_help_practitioner"})).sees_all
    assert not who(practitioner_id="p", roles=frozenset({"agency_admin"})).sees_all
