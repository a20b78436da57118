"""Problems, request ids, logs without personal details, body limits, pagination, ETags,
idempotency, settings - exercised through a small app built on the shared library."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Column, DateTime, Integer, String, Table, insert, select

from shared.db import Database, make_metadata
from shared.deps import IdempotencyDep, SessionDep
from shared.etag import check_if_match, set_etag
from shared.identity import CurrentIdentity
from shared.logs import JsonFormatter
from shared.pagination import PageDep, decode_cursor, encode_cursor, keyset, page_of
from shared.platform_tables import platform_tables
from shared.problems import Conflict
from shared.runtime import ServiceRuntime, build_service_app
from shared.settings import BaseServiceSettings

metadata = make_metadata()
thing = Table(
    "thing",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(50)),
    Column("n", Integer),
    Column("created_at", DateTime(timezone=True)),
)
platform_tables(metadata)


class ThingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=20)
    n: int = Field(ge=0, le=10)


def build(signer, url: str):
    router = APIRouter(prefix="/v1")

    @router.post("/things", status_code=201)
    async def create(body: ThingCreate, session: SessionDep, idem: IdempotencyDep, response: Response):
        import uuid
        from datetime import UTC, datetime

        tid = str(uuid.uuid4())
        if body.name == "conflict":
            raise Conflict("that name is taken")
        await session.execute(
            insert(thing).values(id=tid, name=body.name, n=body.n, created_at=datetime.now(UTC))
        )
        out = {"id": tid, "name": body.name}
        await idem.complete(201, out, f"/v1/things/{tid}")
        response.headers["Location"] = f"/v1/things/{tid}"
        return out

    @router.get("/things")
    async def list_things(session: SessionDep, page: PageDep, _who: CurrentIdentity):
        rows = (await session.execute(keyset(select(thing), thing.c.created_at, thing.c.id, page))).all()
        items, cursor = page_of(list(rows), page, "created_at")
        return {"items": [r.name for r in items], "next_cursor": cursor}

    @router.put("/etag/{version}")
    async def etagged(version: int, request: Request, response: Response, _who: CurrentIdentity):
        check_if_match(request, "res", 3)
        set_etag(response, "res", version)
        return {"ok": True}

    @router.post("/hold/{ms}", status_code=201)
    async def hold(ms: int, body: ThingCreate, session: SessionDep):
        """A write that keeps its transaction open for `ms` milliseconds."""
        import asyncio
        import uuid
        from datetime import UTC, datetime

        await session.execute(
            insert(thing).values(id=str(uuid.uuid4()), name=body.name, n=body.n, created_at=datetime.now(UTC))
        )
        await asyncio.sleep(ms / 1000)
        return {"name": body.name}

    @router.get("/pool-timeout")
    async def pool_timeout(_who: CurrentIdentity):
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        raise PoolTimeout("QueuePool limit of size 1 overflow 0 reached, connection timed out")

    @router.get("/boom")
    async def boom(_who: CurrentIdentity):
        raise RuntimeError("secret detail: Amira Ahmed NHS 9434765919")

    settings = BaseServiceSettings(database_url=url, environment="test", max_body_bytes=2000)
    runtime = ServiceRuntime(settings, metadata, source="unit", keys=signer.keyset(), relay_enabled=False)
    return build_service_app(runtime, title="t", description="t", routers=[router])


@pytest.fixture
async def app_client(tmp_path, signer):
    url = f"sqlite+aiosqlite:///{tmp_path}/u.db"
    db = Database(url)
    async with db.write_engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await db.dispose()
    app = build(signer, url)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
        ) as c:
            yield c


async def test_validation_errors_are_problems_naming_the_field(app_client, signer):
    h = signer.auth_header(agency_type="mash")
    resp = await app_client.post("/v1/things", json={"name": "x" * 30, "n": 3, "extra": 1}, headers=h)
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert {"type", "title", "status", "detail", "instance", "errors"} <= set(body)
    assert {e["field"] for e in body["errors"]} == {"name", "extra"}
    bad_json = await app_client.post(
        "/v1/things", content=b"{not json", headers={**h, "content-type": "application/json"}
    )
    assert bad_json.status_code == 422


async def test_unexpected_errors_are_500_problems_without_details(app_client, signer):
    resp = await app_client.get("/v1/boom", headers=signer.auth_header(agency_type="mash"))
    assert resp.status_code == 500
    assert "Amira" not in resp.text and "Traceback" not in resp.text
    assert resp.json()["request_id"] == resp.headers["x-request-id"]


async def test_sqlite_writers_queue_in_arrival_order(app_client, signer):
    """One write connection per process on SQLite: concurrent writers wait their turn in the
    order they came (not in SQLite's busy handler, which sleeps and is not first-come-first-
    served), and each succeeds."""
    import asyncio

    h = signer.auth_header(agency_type="mash")

    async def write(i: int):
        await asyncio.sleep(i * 0.03)  # arrive in order 0, 1, 2, ...
        return await app_client.post("/v1/hold/150", json={"name": f"w{i}", "n": i}, headers=h)

    answers = await asyncio.gather(*(write(i) for i in range(5)))
    assert [r.status_code for r in answers] == [201] * 5
    listed = await app_client.get("/v1/things?limit=10", headers=h)
    assert listed.json()["items"] == [f"w{i}" for i in range(5)][::-1]  # newest first


async def test_waiting_too_long_for_the_database_is_a_503_problem(app_client, signer):
    resp = await app_client.get("/v1/pool-timeout", headers=signer.auth_header(agency_type="mash"))
    assert resp.status_code == 503
    assert resp.json()["type"].endswith("/database-busy") and resp.headers["retry-after"] == "2"
    assert "QueuePool" not in resp.text


async def test_request_id_is_echoed_or_generated(app_client):
    assert (await app_client.get("/healthz", headers={"X-Request-ID": "abc-123"})).headers[
        "x-request-id"
    ] == "abc-123"
    made = (await app_client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})).headers[
        "x-request-id"
    ]
    assert made != "bad id with spaces" and len(made) == 32


async def test_body_limit(app_client, signer):
    resp = await app_client.post(
        "/v1/things",
        content=b"x" * 5000,
        headers={**signer.auth_header(agency_type="mash"), "content-type": "application/json"},
    )
    assert resp.status_code == 413


async def test_idempotency_replays_and_refuses_a_different_body(app_client, signer):
    h = {**signer.auth_header(agency_type="mash", client_id="c1"), "Idempotency-Key": "k-1"}
    first = await app_client.post("/v1/things", json={"name": "a", "n": 1}, headers=h)
    again = await app_client.post("/v1/things", json={"n": 1, "name": "a"}, headers=h)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    assert again.headers["idempotency-replayed"] == "true"
    different = await app_client.post("/v1/things", json={"name": "b", "n": 1}, headers=h)
    assert different.status_code == 422 and different.json()["type"].endswith("idempotency-key-reused")
    other_client = {**signer.auth_header(agency_type="mash", client_id="c2"), "Idempotency-Key": "k-1"}
    assert (await app_client.post("/v1/things", json={"name": "b", "n": 1}, headers=other_client)).json()[
        "id"
    ] != first.json()["id"]
    listed = (await app_client.get("/v1/things", headers=h)).json()["items"]
    assert sorted(listed) == ["a", "b"]
    # A failed create stores nothing: the key is free to use afterwards.
    fail = {**h, "Idempotency-Key": "k-2"}
    assert (
        await app_client.post("/v1/things", json={"name": "conflict", "n": 1}, headers=fail)
    ).status_code == 409
    assert (await app_client.post("/v1/things", json={"name": "c", "n": 1}, headers=fail)).status_code == 201


async def test_cursor_pagination(app_client, signer):
    h = signer.auth_header(agency_type="mash")
    for i in range(5):
        await app_client.post("/v1/things", json={"name": f"t{i}", "n": i}, headers=h)
    seen, cursor = [], None
    while True:
        resp = (
            await app_client.get(
                "/v1/things", params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=h
            )
        ).json()
        seen += resp["items"]
        cursor = resp["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == [f"t{i}" for i in range(5)] and len(seen) == 5
    assert (await app_client.get("/v1/things?limit=500", headers=h)).status_code == 422
    bad = await app_client.get("/v1/things?cursor=nonsense", headers=h)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    assert decode_cursor(encode_cursor("2026-01-01T00:00:00", "x")) == ("2026-01-01T00:00:00", "x")


async def test_etag_if_match(app_client, signer):
    h = signer.auth_header(agency_type="mash")
    assert (await app_client.put("/v1/etag/4", headers=h)).status_code == 428
    assert (await app_client.put("/v1/etag/4", headers={**h, "If-Match": '"res-2"'})).status_code == 412
    ok = await app_client.put("/v1/etag/4", headers={**h, "If-Match": '"res-3"'})
    assert ok.status_code == 200 and ok.headers["etag"] == '"res-4"'


def test_json_logs_carry_only_safe_fields():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("unit"))
    log = logging.getLogger("unit-test-logger")
    log.addHandler(handler)
    log.propagate = False
    log.warning(
        "request", extra={"route": "/v1/people", "status": 200, "family_name": "Ahmed", "body": "Amira"}
    )
    line = json.loads(stream.getvalue())
    assert line["route"] == "/v1/people" and line["status"] == 200
    assert "Ahmed" not in stream.getvalue() and "Amira" not in stream.getvalue()


def test_settings_refuse_development_secrets_outside_dev():
    BaseServiceSettings(environment="dev", service_client_secret="svc-referrals-secret")
    with pytest.raises(ValueError, match="development default"):
        BaseServiceSettings(
            environment="production",
            service_client_secret="svc-referrals-secret",
            database_url="postgresql+asyncpg://x/y",
        )
    with pytest.raises(ValueError, match="PostgreSQL"):
        BaseServiceSettings(environment="production", service_client_secret="a-real-one")
    BaseServiceSettings(environment="staging", service_client_secret="s3cr3t-from-a-vault")


async def test_nul_characters_are_refused_naming_the_field(app_client, signer):
    h = signer.auth_header(agency_type="mash")
    resp = await app_client.post("/v1/things", json={"name": "a\u0000b", "n": 1}, headers=h)
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "name"
    query = await app_client.get("/v1/things?cursor=%00", headers=h)
    assert query.status_code == 422
    fine = await app_client.post("/v1/things", json={"name": "ok", "n": 1}, headers=h)
    assert fine.status_code == 201


async def test_openapi_documents_errors_as_problems(app_client):
    """422 is a problem naming the field, and every other error status is a problem (default),
    as the services answer; FastAPI's plain-JSON HTTPValidationError is not advertised."""
    doc = (await app_client.get("/openapi.json")).json()
    responses = doc["paths"]["/v1/things"]["post"]["responses"]
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert responses["422"]["content"] == problem
    assert responses["default"]["content"] == problem
    assert "201" in responses
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert doc["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status"]
    # And the answers match: an error not listed for the operation (401 here) is a problem.
    unauthenticated = await app_client.get("/v1/things")
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["content-type"] == "application/problem+json"
