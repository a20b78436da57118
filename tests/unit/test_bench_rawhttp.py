"""The load generator's HTTP client (bench/rawhttp.py), against a real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bench.rawhttp import RawClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def server() -> AsyncIterator[str]:
    peers: list[str] = []

    async def echo(request: Request) -> JSONResponse:
        peers.append(f"{request.client.port}" if request.client else "?")
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "query": dict(request.query_params),
                "auth": request.headers.get("authorization"),
                "type": request.headers.get("content-type"),
                "body": json.loads(body) if body else None,
                "peer": peers[-1],
            },
            status_code=201 if request.method == "POST" else 200,
        )

    async def chunked(_request: Request) -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            for part in (b'{"a":', b"1", b"}"):
                yield part

        return StreamingResponse(parts(), media_type="application/json")

    async def closing(_request: Request) -> Response:
        return Response(b"bye", headers={"Connection": "close"})

    port = free_port()
    app = Starlette(
        routes=[
            Route("/echo", echo, methods=["GET", "POST"]),
            Route("/chunked", chunked),
            Route("/closing", closing),
        ]
    )
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    task = asyncio.create_task(srv.serve())
    for _ in range(100):
        if srv.started:
            break
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 5)


async def test_requests_and_answers_over_one_kept_alive_connection(server: str) -> None:
    client = RawClient()
    try:
        status, body = await client.request(
            "POST", f"{server}/echo", json={"x": [1, "é"]}, headers={"Authorization": "Bearer t"}
        )
        first = json.loads(body)
        assert status == 201
        assert first["body"] == {"x": [1, "é"]} and first["auth"] == "Bearer t"
        assert first["type"] == "application/json"
        status, body = await client.request("GET", f"{server}/echo", params={"limit": "20", "q": "a b&c"})
        second = json.loads(body)
        assert status == 200 and second["query"] == {"limit": "20", "q": "a b&c"} and second["body"] is None
        assert second["peer"] == first["peer"]  # the same connection, kept alive
    finally:
        await client.close()


async def test_chunked_bodies_and_connections_the_server_closes(server: str) -> None:
    client = RawClient()
    try:
        assert await client.request("GET", f"{server}/chunked") == (200, b'{"a":1}')
        assert await client.request("GET", f"{server}/closing") == (200, b"bye")
        # Not reused after "Connection: close": the next request opens a new one.
        status, body = await client.request("GET", f"{server}/echo")
        assert status == 200 and json.loads(body)["method"] == "GET"
        answers = await asyncio.gather(*(client.request("GET", f"{server}/echo") for _ in range(20)))
        assert all(status == 200 for status, _ in answers)
    finally:
        await client.close()


async def test_a_refused_connection_raises() -> None:
    client = RawClient()
    with pytest.raises(OSError):
        await client.request("GET", f"http://127.0.0.1:{free_port()}/echo")
    await client.close()


async def test_the_connection_limit_is_per_server(server: str) -> None:
    """Up to the limit to one server at once, then an error. The limit is per server: the
    generator's saturation phase can have all its requests in flight to the gateway and then
    all to the consent service, with idle connections to the other kept meanwhile."""
    other = RawClient(limit=4)
    try:
        answers = await asyncio.gather(*(other.request("GET", f"{server}/echo") for _ in range(4)))
        assert all(status == 200 for status, _ in answers)
        with pytest.raises(ConnectionError):
            await asyncio.gather(*(other.request("GET", f"{server}/echo") for _ in range(5)))
    finally:
        await other.close()


async def test_a_connection_idle_past_the_keepalive_is_replaced(server: str) -> None:
    """Reused while fresh; after idling past `keepalive` (below uvicorn's 5 s) a new one is
    opened, so no request goes out on a connection the server may be closing."""
    client = RawClient(keepalive=0.3)
    try:
        peers = [json.loads((await client.request("GET", f"{server}/echo"))[1])["peer"] for _ in range(2)]
        await asyncio.sleep(0.5)
        peers.append(json.loads((await client.request("GET", f"{server}/echo"))[1])["peer"])
        assert peers[0] == peers[1] and peers[2] != peers[0]
        assert sum(client._open.values()) == 1  # the stale one was closed, not kept
    finally:
        await client.close()
    assert RawClient().keepalive < uvicorn.Config(Starlette()).timeout_keep_alive
