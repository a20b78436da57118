"""The base application every process is built on.

`create_service_app` gives a FastAPI app with: problem+json for every error, request ids,
JSON access logs (route templates only), Prometheus `/metrics`, `/healthz`, `/readyz`
(database reachable), a body size limit, `Cache-Control: no-store` on every response that
sets no caching policy of its own, and `app.state.auth` for verifying callers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import heap
from shared.fhir import FhirOutcomeMiddleware, document_fhir
from shared.logs import RequestIdMiddleware
from shared.problems import document_problems, install_problem_handlers, problem_response
from shared.strict_query import reject_unknown_query_parameters
from shared.validation import NulGuardMiddleware

access_log = logging.getLogger("access")


class Metrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["service", "method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.service = service

    def counter(self, name: str, doc: str, labels: list[str]) -> Counter:
        return Counter(name, doc, labels, registry=self.registry)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class ObserveMiddleware:
    """Access log and metrics per request, with the route template rather than the path."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - start
            route = route_template(scope)
            method = scope["method"]
            if route not in ("/metrics", "/healthz", "/readyz"):
                self.metrics.requests.labels(self.metrics.service, method, route, str(status)).inc()
                self.metrics.latency.labels(self.metrics.service, method, route).observe(elapsed)
                state = scope.get("state", {})
                identity = state.get("identity")
                access_log.info(
                    "request",
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client_id": getattr(identity, "client_id", None),
                        "agency_id": getattr(identity, "agency_id", None),
                    },
                )


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every response that does not set its own Cache-Control.

    Responses carry children's personal data; no browser, proxy or client cache may keep them
    (RFC 9111 5.2.2.5). A response that chose its own policy (the JWKS's max-age) keeps it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_no_store)


class BodyLimitMiddleware:
    """413 for bodies over the limit, whether or not Content-Length is honest."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope["headers"]:
            if k == b"content-length":
                try:
                    too_big = int(v) > self.max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await self._reject(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        resp = problem_response(
            413,
            "Payload too large",
            f"Request bodies are limited to {self.max_bytes} bytes",
            type_="https://early-help.example/problems/payload-too-large",
            instance=scope.get("path"),
        )
        await resp(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def standard_keywords(node: Any) -> Any:
    """Pydantic writes a bound on a non-number (a date's `ge`/`le`) as a keyword JSON Schema
    does not have; validators and generators ignore or reject it. A number's bound becomes
    minimum/maximum; any other is said in the description (`From 1900-01-01 to 2199-12-31`)."""
    if isinstance(node, list):
        for item in node:
            standard_keywords(item)
    elif isinstance(node, dict):
        bounds = {k: node.pop(k) for k in list(_BOUNDS) if k in node and not isinstance(node[k], dict)}
        if bounds and node.get("type") in ("integer", "number"):
            node.update({_BOUNDS[k]: v for k, v in bounds.items()})
        elif bounds:
            low = bounds.get("ge", bounds.get("gt"))
            high = bounds.get("le", bounds.get("lt"))
            if low is not None and high is not None:
                text = f"From {low} to {high}"
            else:
                text = f"Not before {low}" if low is not None else f"Not after {high}"
            if any(k in bounds for k in ("gt", "lt")):
                text += " (exclusive)"
            node["description"] = f"{node['description']} ({text})" if node.get("description") else text
        for value in node.values():
            standard_keywords(value)
    return node


def operation_id(service: str) -> Callable[[APIRoute], str]:
    """Readable, stable operation ids, `<service>.<endpoint function>` (`referrals.create_referral`):
    generated clients name their methods after them, so they change only when an endpoint is
    renamed (not when its path or method does). A trailing `_endpoint` (a name kept apart from
    the rule it calls) is dropped."""

    def generate(route: APIRoute) -> str:
        return f"{service}.{route.name.removesuffix('_endpoint')}"

    return generate


def create_service_app(
    *,
    title: str,
    service: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    ready_check: Callable[[FastAPI], Any] | None = None,
    max_body_bytes: int = 1_000_000,
    description: str = "",
    version: str = "1.0.0",
    openapi_url: str | None = "/openapi.json",
) -> FastAPI:
    inner = lifespan or noop_lifespan

    @asynccontextmanager
    async def settled(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            heap.settle()  # started: what exists now lives as long as the process
            yield

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=settled,
        openapi_url=openapi_url,
        docs_url="/docs" if openapi_url else None,
        redoc_url=None,
        dependencies=[Depends(reject_unknown_query_parameters)],
        generate_unique_id_function=operation_id(service),
    )
    metrics = Metrics(service)
    app.state.metrics = metrics
    install_problem_handlers(app)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = standard_keywords(document_fhir(document_problems(generate(), app.routes)))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        ok = True
        if ready_check is not None:
            ok = bool(await ready_check(request.app))
        if ok:
            return JSONResponse({"status": "ready", "service": service})
        return problem_response(
            503,
            "Not ready",
            "A dependency (the database) is not reachable",
            type_="https://early-help.example/problems/not-ready",
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # Outermost first: no-store, request id, then observation, then the body limit, then NULs.
    app.add_middleware(NulGuardMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(ObserveMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(NoStoreMiddleware)
    # Outermost: on /fhir paths every problem leaves as a FHIR OperationOutcome (shared/fhir.py).
    app.add_middleware(FhirOutcomeMiddleware)
    return app


@asynccontextmanager
async def noop_lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
