"""A small HTTP/1.1 client for the load generator: keep-alive connections to loopback servers,
responses parsed by httptools (the parser uvicorn uses), nothing else.

The generator shares the 2 cores with the servers it measures. aiohttp's client cost about
0.9 ms of CPU per request there, the same as the gateway's whole proxying; a tool like wrk
costs a small fraction of that. This client is for the benchmark only: plain HTTP to
127.0.0.1, no TLS, no redirects, no cookies, no proxies, bodies read whole.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import httptools

from shared.service_client import KEEPALIVE_SECONDS


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.closed = False
        self.keep_alive = True
        self.peer: tuple[str, int] = ("", 0)
        self.idle_since = 0.0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("connection closed by the server"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        body, self.body = b"".join(self.body), []
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, body))

    def _fail(self, exc: BaseException) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class RawClient:
    """`await client.request(method, url, json=, params=, headers=)` -> (status, body bytes).

    Keeps idle connections per host and port, at most `limit` to each (more raises: the
    generator bounds what it has in flight below that); a connection the server closed is
    dropped, and a request on it fails (the generator counts that as an error, as it would
    aiohttp's). A connection idle for more than `keepalive` seconds is closed rather than
    reused: uvicorn closes idle ones after 5 s, and a request sent as it does fails with a
    connection reset that is the client's doing, not the server's (the same bound as the
    pools between the services, `shared.service_client.KEEPALIVE_SECONDS`)."""

    def __init__(
        self, *, timeout: float = 30.0, limit: int = 256, keepalive: float = KEEPALIVE_SECONDS
    ) -> None:
        self.timeout = timeout
        self.limit = limit
        self.keepalive = keepalive
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._all: set[_Connection] = set()
        self._open: dict[tuple[str, int], int] = {}

    async def _connection(self, host: str, port: int) -> _Connection:
        idle = self._idle.setdefault((host, port), [])
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since <= self.keepalive:
                return conn
            self._drop(conn)
        if self._open.get((host, port), 0) >= self.limit:
            raise ConnectionError(f"more than {self.limit} connections to {host}:{port}")
        loop = asyncio.get_running_loop()
        _transport, conn = await loop.create_connection(_Connection, host, port)
        conn.peer = (host, port)
        self._all.add(conn)
        self._open[conn.peer] = self._open.get(conn.peer, 0) + 1
        return conn

    def _drop(self, conn: _Connection) -> None:
        conn.close()
        if conn in self._all:
            self._all.discard(conn)
            self._open[conn.peer] -= 1

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        target = parts.path or "/"
        if params:
            target += "?" + urlencode(params)
        elif parts.query:
            target += "?" + parts.query
        body = b"" if json is None else jsonlib.dumps(json, separators=(",", ":")).encode()
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
        if json is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        conn = await self._connection(host, port)
        conn.waiter = asyncio.get_running_loop().create_future()
        assert conn.transport is not None
        conn.transport.write(head + body)
        try:
            async with asyncio.timeout(self.timeout):
                status, data = await conn.waiter
        except BaseException:
            self._drop(conn)
            raise
        finally:
            conn.waiter = None
        if conn.keep_alive and not conn.closed:
            conn.idle_since = time.monotonic()
            self._idle[(host, port)].append(conn)
        else:
            self._drop(conn)
        return status, data

    async def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._open.clear()
        self._idle.clear()
