"""Service-to-service calls with the service's own client credentials.

`ServiceTokenProvider` gets an access token from the gateway's token endpoint and reuses it
until shortly before it expires. `ServiceClient` is a pooled httpx client that adds that
token and the current request id to every call.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from httpx_aiohttp import AiohttpTransport

from shared.logs import new_request_id, request_id_var


def pooled_transport() -> httpx.AsyncBaseTransport:
    """httpx's API over aiohttp's connection pool, for calls between the services.

    httpx's own async transport costs about 1.3 ms of CPU per request here (and, without
    sniffio installed, a failed import on every connection lock); this one about 0.5 ms
    (docs/performance.md). It also holds up under concurrency where httpx's pool does not
    (performance-notes.md), which is why the gateway uses it too."""
    return AiohttpTransport(
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=50), trust_env=False
    )


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
