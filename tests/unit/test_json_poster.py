"""The relay's own HTTP client (aiohttp, no httpx), against a real server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import uvicorn
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared.db import Database, make_metadata
from shared.events import OutboxRelay, publish
from shared.platform_tables import platform_tables
from shared.service_client import JsonPoster

metadata = make_metadata()
tables = platform_tables(metadata)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def events(request: Request) -> JSONResponse:
        seen.append({"headers": dict(request.headers), "body": await request.body()})
        status = 503 if request.query_params.get("fail") else 202
        return JSONResponse({"ok": True}, status_code=status, headers={"Set-Cookie": "s=1; Path=/"})

    port = free_port()
    app = Starlette(routes=[Route("/internal/events", events, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(100):
        if server.started:
            break
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}/internal/events", seen
    server.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 5)


async def test_posts_json_with_the_given_headers_and_keeps_no_cookies(receiver):
    url, seen = receiver
    poster = JsonPoster(timeout=5)
    try:
        first = await poster.post(
            url, json={"id": "e1", "name": "Zoë"}, headers={"Authorization": "Bearer t"}
        )
        failed = await poster.post(url + "?fail=1", json={"id": "e2"}, headers={"Authorization": "Bearer t"})
    finally:
        await poster.aclose()
    assert first.status_code == 202 and failed.status_code == 503
    assert json.loads(seen[0]["body"]) == {"id": "e1", "name": "Zoë"}
    assert seen[0]["headers"]["content-type"] == "application/json"
    assert seen[0]["headers"]["authorization"] == "Bearer t"
    assert "cookie" not in seen[1]["headers"]  # the first answer's Set-Cookie is not replayed


async def test_a_refused_connection_raises():
    poster = JsonPoster(timeout=5)
    try:
        with pytest.raises(aiohttp.ClientConnectorError):
            await poster.post(f"http://127.0.0.1:{free_port()}/x", json={}, headers={})
    finally:
        await poster.aclose()


async def test_the_relay_delivers_over_it_by_default(tmp_path, receiver):
    url, seen = receiver
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/e.db")
    async with db.write_engine.begin() as conn:
        await conn.run_sync(metadata.create_all)

    async def token() -> str:
        return "svc-token"

    relay = OutboxRelay(db, tables, token)
    assert isinstance(relay.client, JsonPoster)
    try:
        async with db.session() as s:
            await publish(s, tables, {"*": [url]}, event_type="referral.decided", source="t", data={"r": "1"})
        assert await relay.run_once() == 1
        await relay.stop()  # writes the delivery marks it still holds
        async with db.session(write=False) as s:
            delivered = (await s.execute(select(tables.outbox.c.delivered_at))).scalars().all()
    finally:
        await relay.stop()
        await db.dispose()
    assert len(seen) == 1 and seen[0]["headers"]["authorization"] == "Bearer svc-token"
    assert json.loads(seen[0]["body"])["type"] == "referral.decided"
    assert len(delivered) == 1 and delivered[0] is not None
