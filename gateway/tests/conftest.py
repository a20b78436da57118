"""Gateway test fixtures: the real gateway app on a migrated database, in front of a real
HTTP upstream (a small echo server on a loopback port) so proxying is exercised for real."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as SRoute

from gateway import clients as client_ops
from gateway.config import Settings
from gateway.main import create_app
from gateway.routes import Route, RouteTable
from shared.testing import SchemaTemplates, TestSigner, drop_test_database

GATEWAY_DIR = Path(__file__).resolve().parent.parent
ISSUER = "http://gateway.test"

TEST_ROUTES = [
    Route("GET", "/v1/things", "referrals:read", service="referrals"),
    Route("POST", "/v1/things", "referrals:create", service="referrals"),
    Route("GET", "/v1/things/{thing_id}", "referrals:read", service="referrals"),
    Route("GET", "/v1/slow", "referrals:read", service="referrals"),
    Route("GET", "/v1/triage", "triage:write", service="referrals"),
    Route("POST", "/v1/admin/clients", "admin"),
    Route("GET", "/v1/admin/clients", "admin"),
    Route("POST", "/v1/admin/clients/{client_ref}/rotate-secret", "admin"),
    Route("POST", "/v1/admin/clients/{client_ref}/disable", "admin"),
    Route("GET", "/v1/admin/audit", "admin"),
]
TEST_ROUTES = [Route(r.method, r.path, r.scope, r.service or "gateway") for r in TEST_ROUTES]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Upstream:
    """Records what reached it; serves an echo, a slow route, an OpenAPI doc and a JWKS."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.jwks: dict[str, Any] = {"keys": []}

        async def echo(request: Request) -> JSONResponse:
            body = await request.body()
            self.calls.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
            return JSONResponse(
                {
                    "path": request.url.path,
                    "query": request.url.query,
                    "headers": dict(request.headers),
                    "body": body.decode() if body else "",
                },
                headers={
                    "Connection": "keep-alive",
                    "Keep-Alive": "timeout=5",
                    "X-Upstream": "yes",
                    # A cookie the gateway passes back but must never replay to anyone.
                    "Set-Cookie": "upstream-session=abc; Path=/",
                },
            )

        async def gzipped(request: Request) -> Response:
            self.calls.append({"path": request.url.path, "headers": dict(request.headers)})
            return Response(
                gzip.compress(b'{"packed": true}'),
                headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            )

        async def slow(request: Request) -> JSONResponse:
            self.calls.append({"path": request.url.path, "headers": dict(request.headers)})
            await asyncio.sleep(3)
            return JSONResponse({"late": True})

        async def openapi(_request: Request) -> JSONResponse:
            return JSONResponse(
                {
                    "openapi": "3.1.0",
                    "info": {"title": "x", "version": "1"},
                    "paths": {
                        "/v1/things": {
                            "get": {
                                "summary": "List things",
                                "responses": {
                                    "200": {
                                        "description": "ok",
                                        "content": {
                                            "application/json": {
                                                "schema": {"$ref": "#/components/schemas/Page"}
                                            }
                                        },
                                    }
                                },
                            },
                            "post": {"summary": "Make a thing", "responses": {"201": {"description": "ok"}}},
                        },
                        "/v1/hidden": {"get": {"summary": "not in the route table", "responses": {}}},
                    },
                    "components": {"schemas": {"Page": {"type": "object"}}},
                }
            )

        async def jwks(_request: Request) -> JSONResponse:
            return JSONResponse(self.jwks)

        self.app = Starlette(
            routes=[
                SRoute("/v1/slow", slow),
                SRoute("/v1/things/packed", gzipped),
                SRoute("/openapi.json", openapi),
                SRoute("/jwks.json", jwks),
                SRoute("/{path:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ]
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Upstream:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off")
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        for _ in range(100):
            if self.server.started:
                break
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 5)


class GatewayHarness:
    def __init__(self, app: Any, client: httpx.AsyncClient, upstream: Upstream, db_url: str) -> None:
        self.app = app
        self.client = client
        self.upstream = upstream
        self.db_url = db_url

    @property
    def gw(self) -> Any:
        return self.app.state.gw

    async def make_client(
        self,
        agency_type: str,
        *,
        client_id: str | None = None,
        scopes: list[str] | None = None,
        agency_id: str | None = None,
        rate: float | None = None,
    ) -> tuple[str, str, str]:
        async with self.gw.db.session() as session:
            made = await client_ops.create_client(
                session,
                client_id=client_id,
                name=f"{agency_type} client",
                agency_type=agency_type,
                agency_id=agency_id,
                scopes=scopes,
                rate_limit_per_second=rate,
            )
        return made.client.client_id, made.secret, made.agency.id

    async def token(self, client_id: str, secret: str, scope: str | None = None) -> str:
        data = {"grant_type": "client_credentials"}
        if scope:
            data["scope"] = scope
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        resp = await self.client.post("/oauth/token", data=data, headers={"Authorization": f"Basic {basic}"})
        assert resp.status_code == 200, resp.text
        return resp.json()["access_token"]

    async def bearer(self, agency_type: str, **kw: Any) -> dict[str, str]:
        cid, secret, _ = await self.make_client(agency_type, **kw)
        return {"Authorization": f"Bearer {await self.token(cid, secret)}"}


@pytest.fixture
async def gateway_factory(tmp_path: Path, schema_templates: SchemaTemplates) -> AsyncIterator[Any]:
    async with contextlib.AsyncExitStack() as stack:
        urls: list[str] = []

        async def make(**overrides: Any) -> GatewayHarness:
            upstream = await stack.enter_async_context(Upstream())
            url = await schema_templates.database(tmp_path, GATEWAY_DIR, "gateway")
            urls.append(url)
            params: dict[str, Any] = {
                "database_url": url,
                "environment": "test",
                "data_dir": tmp_path,
                "gateway_issuer": ISSUER,
                "upstreams": {"referrals": upstream.url},
                "upstream_timeout_seconds": 1.0,
                "audit_flush_interval_seconds": 0.05,
            }
            params.update(overrides)
            app = create_app(Settings(**params))
            await stack.enter_async_context(app.router.lifespan_context(app))
            app.state.gw.routes = RouteTable(TEST_ROUTES)
            app.state.gw.openapi.table = app.state.gw.routes
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test")
            stack.push_async_callback(client.aclose)
            return GatewayHarness(app, client, upstream, url)

        yield make
    for url in urls:
        await drop_test_database(url)


@pytest.fixture
async def gwh(gateway_factory: Any) -> GatewayHarness:
    return await gateway_factory()


@pytest.fixture
def other_signer() -> TestSigner:
    return TestSigner(kid="idp-key-1")
