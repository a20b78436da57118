"""Pooled connections between our processes are dropped before the server closes them.

uvicorn closes an idle keep-alive connection after 5 s. A client that still holds it can send
a request on it just as the server closes it; aiohttp retries that only for idempotent
methods, so a POST through the gateway answered 502. Every pool to our own services (the
gateway's upstreams, the outbox relay, service-to-service calls) must therefore give up an
idle connection first. These tests hold one real uvicorn server and watch which client port
each request arrives from.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devtools.launcher import PROCESSES, command
from gateway.proxy import Upstream
from shared.service_client import KEEPALIVE_SECONDS, JsonPoster, pooled_transport

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[int], uvicorn.Config]]:
    """A uvicorn server with its default keep-alive timeout; records each request's client port."""
    ports: list[int] = []

    async def echo(request: Request) -> JSONResponse:
        assert request.client is not None
        ports.append(request.client.port)
        return JSONResponse({"ok": True}, status_code=201)

    port = free_port()
    app = Starlette(routes=[Route("/things", echo, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    for _ in range(100):
        if srv.started:
            break
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}", ports, config
    srv.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 5)


def test_the_pools_give_up_idle_connections_before_uvicorn_closes_them():
    default = uvicorn.Config(Starlette()).timeout_keep_alive
    assert KEEPALIVE_SECONDS < default, (KEEPALIVE_SECONDS, default)


def test_no_process_changes_uvicorns_keep_alive_timeout():
    """The margin above holds only while every server keeps uvicorn's default."""
    commands = [" ".join(command(proc)) for proc in PROCESSES]
    files = [*ROOT.glob("**/Dockerfile"), *(ROOT / "deploy").rglob("*"), ROOT / "docker-compose.yml"]
    texts = commands + [f.read_text() for f in files if f.is_file() and ".venv" not in f.parts]
    assert len(texts) > len(commands)
    assert not [t for t in texts if "keep-alive" in t.replace("_", "-") and "timeout" in t]


async def test_an_idle_connection_is_replaced_not_reused_after_the_keepalive(server):
    """Two POSTs in a row share a connection; after an idle spell past KEEPALIVE_SECONDS (still
    inside the server's own timeout) the next POST opens a new one, from each kind of pool."""
    base, ports, config = server
    assert KEEPALIVE_SECONDS + 0.4 < config.timeout_keep_alive
    upstream = Upstream(base, timeout=5, connect_timeout=2)
    poster = JsonPoster(timeout=5)
    client = httpx.AsyncClient(transport=pooled_transport(), timeout=5)

    async def by_gateway() -> None:
        status, _headers, _body = await upstream.request("POST", "/things", [], b"{}")
        assert status == 201

    async def by_relay() -> None:
        assert (await poster.post(base + "/things", json={}, headers={})).status_code == 201

    async def by_service_client() -> None:
        assert (await client.post(base + "/things", json={})).status_code == 201

    try:
        seen: dict[str, list[int]] = {}
        for name, send in (("gateway", by_gateway), ("relay", by_relay), ("service", by_service_client)):
            start = len(ports)
            await send()
            await send()
            seen[name] = ports[start:]
        await asyncio.sleep(KEEPALIVE_SECONDS + 0.3)
        for name, send in (("gateway", by_gateway), ("relay", by_relay), ("service", by_service_client)):
            start = len(ports)
            await send()
            seen[name] += ports[start:]
    finally:
        await upstream.close()
        await poster.aclose()
        await client.aclose()
    for name, (first, again, after_idle) in seen.items():
        assert first == again, f"{name}: a fresh connection was not reused"
        assert after_idle != first, f"{name}: an idle connection was reused past the keep-alive"
