"""Service-to-service calls with the service's own client credentials.

`ServiceTokenProvider` gets an access token from the gateway's token endpoint and reuses it
until shortly before it expires. `ServiceClient` is a pooled httpx client that adds that
token and the current request id to every call.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from shared.logs import new_request_id, request_id_var

# How long an idle pooled connection to one of our services may be reused. Below uvicorn's
# keep-alive timeout (5 s, which no process here changes): the client must drop an idle
# connection before the server closes it. Otherwise a request sent on a connection just as
# the server closes it fails, and aiohttp retries only idempotent methods - a POST through
# the gateway became a 502 (aiohttp's default is 15 s; httpx's 5 s ties with the server).
KEEPALIVE_SECONDS = 4.0


def pooled_transport() -> httpx.AsyncBaseTransport:
    """httpx's API over aiohttp's connection pool, for calls between the services.

    httpx's own async transport costs about 1.3 ms of CPU per request here (and, without
    sniffio installed, a failed import on every connection lock); this one about 0.5 ms
    (docs/performance.md). It also holds up under concurrency where httpx's pool does not
    (performance-notes.md), which is why the gateway uses it too."""
    return AiohttpTransport(
        limits=httpx.Limits(
            max_connections=100, max_keepalive_connections=50, keepalive_expiry=KEEPALIVE_SECONDS
        ),
        trust_env=False,
    )


def pooled_session(*, limit: int, timeout: aiohttp.ClientTimeout, **options: Any) -> aiohttp.ClientSession:
    """An aiohttp session for calls to our own services: pooled, no cookie jar (what one
    answer set must never ride on a later request), no proxy from the environment.
    Idle connections are dropped after `KEEPALIVE_SECONDS`, before the server would close them.
    `options` adds to that (the gateway passes bodies through undecoded, for one)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300, keepalive_timeout=KEEPALIVE_SECONDS),
        timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        **options,
    )


@dataclass(frozen=True)
class PostResult:
    status_code: int


class JsonPoster:
    """POSTs JSON bodies over a pooled aiohttp session, shaped like the part of httpx the
    outbox relay uses (`post(url, json=, headers=)` giving `.status_code`, and `aclose`).

    Every event delivery is one such POST, several per request at load; httpx's request and
    URL models cost about as much CPU as the rest of the delivery (the gateway measured the
    same, docs/performance.md). No cookies kept, no redirects followed, no proxy from the
    environment. The session is made on first use, inside the running event loop.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, *, json: Any, headers: dict[str, str]) -> PostResult:
        if self._session is None:
            self._session = pooled_session(limit=100, timeout=self.timeout)
        body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        async with self._session.post(
            url,
            data=body,
            headers={**headers, "Content-Type": "application/json"},
            allow_redirects=False,
        ) as resp:
            await resp.read()
            return PostResult(resp.status)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class ServiceTokenProvider:
    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self._client = httpx.AsyncClient(timeout=5.0, transport=transport or pooled_transport())

    async def __call__(self) -> str:
        if self._token and time.monotonic() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token and time.monotonic() < self._expires_at:
                return self._token
            resp = await self._client.post(
                self.token_url,
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self.client_secret),
            )
            resp.raise_for_status()
            body = resp.json()
            self._token = str(body["access_token"])
            self._expires_at = time.monotonic() + max(10, int(body.get("expires_in", 300)) - 30)
            return self._token

    def invalidate(self) -> None:
        self._token = None

    async def aclose(self) -> None:
        await self._client.aclose()


class ServiceClient:
    """Calls another service directly (not through the gateway) as this service."""

    def __init__(
        self,
        base_url: str,
        tokens: ServiceTokenProvider,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.tokens = tokens
        self.http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, transport=transport or pooled_transport()
        )

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        headers["X-Request-ID"] = request_id_var.get() or new_request_id()
        for attempt in range(2):
            headers["Authorization"] = f"Bearer {await self.tokens()}"
            resp = await self.http.request(method, path, headers=headers, **kwargs)
            if resp.status_code != 401 or attempt:
                return resp
            self.tokens.invalidate()  # the token was rotated or expired early: get a new one
        return resp

    async def aclose(self) -> None:
        await self.http.aclose()
