"""The request path through the gateway for every `/v1` and `/fhir` route of the four services.

A pure ASGI layer (no per-request FastAPI overhead): match the route table (no match: 404,
never forwarded), authenticate the bearer token (401), check the route's scope (403), apply
the client's rate limit (429), then forward with a pooled client per upstream, replacing
whatever identity headers the caller sent with a hop identity the service verifies itself.
Upstream timeouts are 504 problems, unreachable upstreams 502. Every call is audited.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

import aiohttp
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.audit import Entry
from gateway.challenges import NO_CREDENTIALS, bearer_challenge
from gateway.ratelimit import retry_after_header
from shared.clock import utcnow
from shared.fhir import is_fhir_path
from shared.identity import Identity
from shared.problems import PROBLEM_BASE, problem_response
from shared.service_client import pooled_session
from shared.tokens import TokenInvalid

if TYPE_CHECKING:
    from gateway.main import Gateway

log = logging.getLogger("gateway.proxy")

# RFC 9110 7.6.1 hop-by-hop headers, plus what the gateway itself sets.
HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"trailers",
    b"transfer-encoding",
    b"upgrade",
    b"proxy-connection",
}
DROP_REQUEST = HOP_BY_HOP | {b"host", b"content-length", b"authorization", b"x-request-id", b"cookie"}
# Anything that looks like identity asserted by the caller is removed: services take identity
# only from the verified hop token.
IDENTITY_PREFIXES = (
    b"x-identity",
    b"x-agency",
    b"x-client",
    b"x-user",
    b"x-scope",
    b"x-eh-",
    b"x-forwarded-user",
    b"x-auth",
    b"x-remote-user",
    b"x-service",
)
DROP_RESPONSE = HOP_BY_HOP | {b"content-length", b"server", b"date", b"x-request-id"}


class Upstream:
    """One service behind the gateway, over a pooled aiohttp session of its own.

    aiohttp directly, not httpx over its aiohttp transport: the httpx layer (URL parsing,
    header models, decoding) cost the gateway as much CPU per request as the rest of the
    proxy path together (docs/performance.md). The session keeps no cookies (a cookie one
    caller's response set must never ride on another caller's request), adds no headers of
    its own (no Content-Type guessed for a body the caller sent without one, no
    Accept-Encoding), and passes bodies through undecoded with their Content-Encoding.
    The session is made on first use, inside the running event loop; `close` ends it.
    """

    def __init__(self, base_url: str, timeout: float, connect_timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = pooled_session(
                limit=256,
                timeout=self.timeout,
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Status, raw response headers and body; aiohttp's errors are the caller's to map."""
        async with self.session.request(
            method, self.base_url + target, headers=headers, data=body or None, allow_redirects=False
        ) as resp:
            content = await resp.read()
            return resp.status, list(resp.raw_headers), content

    async def get_json(self, target: str, timeout: float) -> Any:
        """A JSON document from the service (the merged OpenAPI); raises on any failure."""
        async with self.session.get(
            self.base_url + target, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
        ) as resp:
            resp.raise_for_status()
            return json.loads(await resp.read())


def _bearer(scope: Scope) -> str | None:
    for k, v in scope["headers"]:
        if k == b"authorization":
            value = v.decode("latin-1")
            if value[:7].lower() == "bearer ":
                return value[7:].strip()
            return None
    return None


class GatewayProxy:
    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gw = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (
            scope["path"].startswith("/v1/") or scope["path"] == "/v1" or is_fhir_path(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path, method = scope["path"], scope["method"]
        route, known = self.gw.routes.match(method, path, scope.get("query_string", b""))
        request_id = scope.get("state", {}).get("request_id", "")
        identity: Identity | None = None
        status = 500

        async def reply(resp: object) -> None:
            nonlocal status
            status = resp.status_code  # type: ignore[attr-defined]
            await resp(scope, receive, send)  # type: ignore[operator]

        try:
            if route is None:
                if known:
                    await reply(
                        problem_response(
                            405,
                            "Method not allowed",
                            f"{method} is not allowed here",
                            type_=PROBLEM_BASE + "method-not-allowed",
                            instance=path,
                            headers={"Allow": ", ".join(self.gw.routes.allowed(path))},
                        )
                    )
                else:
                    await reply(
                        problem_response(
                            404, "Not found", "No such route", type_=PROBLEM_BASE + "not-found", instance=path
                        )
                    )
                return
            if route.service == "gateway":
                # Answered by the gateway's own routers (admin), which authenticate themselves.
                status = await self._local(scope, receive, send)
                identity = scope.get("state", {}).get("identity")
                return
            token = _bearer(scope)
            if token is None:
                await reply(self._unauthorized(path, NO_CREDENTIALS, invalid_token=False))
                return
            try:
                identity = await self.gw.auth.identify(token)
            except TokenInvalid as exc:
                await reply(self._unauthorized(path, str(exc), invalid_token=True))
                return
            scope.setdefault("state", {})["identity"] = identity
            scope["route"] = route  # for the access log and metrics: the template, not the path
            if not identity.has(route.scope):
                await reply(
                    problem_response(
                        403,
                        "Insufficient scope",
                        f"This call needs the scope '{route.scope}'",
                        type_=PROBLEM_BASE + "insufficient-scope",
                        instance=path,
                        headers={
                            "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{route.scope}"'
                        },
                    )
                )
                return
            wait = self.gw.limiter.check(identity.client_id, self.gw.client_rate(identity.client_id))
            if wait > 0:
                await reply(
                    problem_response(
                        429,
                        "Too many requests",
                        "Rate limit exceeded for this client",
                        type_=PROBLEM_BASE + "rate-limited",
                        instance=path,
                        headers={"Retry-After": retry_after_header(wait)},
                    )
                )
                return
            status = await self._forward(scope, receive, send, route.service, identity, request_id)
        finally:
            if route is not None:
                self.gw.audit.record(
                    Entry(
                        at=utcnow(),
                        client_id=identity.client_id if identity else None,
                        agency_id=identity.agency_id if identity else None,
                        practitioner_id=identity.practitioner_id if identity else None,
                        method=method,
                        route=route.path,
                        resource_id=route.resource_id(path),
                        status=status,
                        latency_ms=(time.perf_counter() - started) * 1000,
                        request_id=request_id,
                    )
                )

    async def _local(self, scope: Scope, receive: Receive, send: Send) -> int:
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, capture)
        return status

    def _unauthorized(self, path: str, detail: str, *, invalid_token: bool) -> object:
        """RFC 6750 3.1: no error code when no bearer credentials came (gateway/challenges.py)."""
        challenge = bearer_challenge("invalid_token", detail) if invalid_token else bearer_challenge()
        return problem_response(
            401,
            "Unauthorized",
            detail,
            type_=PROBLEM_BASE + "unauthorized",
            instance=path,
            headers={"WWW-Authenticate": challenge},
        )

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, service: str, identity: Identity, request_id: str
    ) -> int:
        client = self.gw.upstreams.get(service)
        path = scope["path"]
        if client is None:
            resp = problem_response(
                502,
                "Bad gateway",
                "No upstream configured for this route",
                type_=PROBLEM_BASE + "bad-gateway",
                instance=path,
            )
            await resp(scope, receive, send)
            return 502
        body = bytearray()
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                return 499
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k not in DROP_REQUEST and not k.startswith(IDENTITY_PREFIXES)
        ]
        headers.append(("authorization", "Bearer " + self.gw.hops.for_identity(identity)))
        headers.append(("x-request-id", request_id))
        query = scope.get("query_string", b"")
        target = path + ("?" + query.decode("latin-1") if query else "")
        try:
            status, raw_headers, content = await client.request(scope["method"], target, headers, bytes(body))
        except (aiohttp.ClientError, TimeoutError) as exc:
            # A refused connection is the upstream being down, whatever its exception's type;
            # any other timeout (connect or total) is the upstream being slow.
            refused = isinstance(exc, aiohttp.ClientConnectorError)
            if isinstance(exc, TimeoutError) and not refused:
                code, title, detail, slug = (
                    504,
                    "Gateway timeout",
                    "did not answer in time",
                    "upstream-timeout",
                )
            else:
                code, title, detail, slug = 502, "Bad gateway", "is unavailable", "upstream-unavailable"
            resp = problem_response(
                code, title, f"The {service} service {detail}", type_=PROBLEM_BASE + slug, instance=path
            )
            await resp(scope, receive, send)
            return code
        out_headers = [(k.lower(), v) for k, v in raw_headers if k.lower() not in DROP_RESPONSE]
        out_headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": content})
        return status
