"""The gateway process: `create_app()` for uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.middleware import Middleware
from starlette.responses import HTMLResponse, JSONResponse

from gateway import admin, code_lists_api, dashboard, fhir_metadata, oauth, practitioners_api
from gateway.audit import AuditWriter
from gateway.auth import Authenticator, HopTokens, issue_access_token
from gateway.config import Settings, get_settings
from gateway.keys import KeyStore
from gateway.models import Agency, Client
from gateway.openapi import OpenAPIMerger, gateway_document
from gateway.proxy import GatewayProxy, Upstream
from gateway.ratelimit import RateLimiter, TokenThrottle
from gateway.routes import RouteTable, load_routes
from gateway.seed import seed_demo
from shared.app import create_service_app
from shared.db import Database
from shared.logs import configure_logging


class Gateway:
    """Everything the gateway's request path needs, built once per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.db_url)
        self.keys = KeyStore(self.db)
        self.routes = RouteTable(load_routes())
        self.limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        self.token_throttle = TokenThrottle(
            per_client=settings.token_failures_per_client,
            per_address=settings.token_failures_per_address,
            window=settings.token_failure_window_seconds,
            max_keys=settings.token_failure_max_keys,
            trusted_proxies=settings.trusted_proxies,
        )
        self.audit = AuditWriter(self.db, settings.audit_flush_interval_seconds)
        self.upstreams: dict[str, Upstream] = {}
        self.auth: Authenticator
        self.hops: HopTokens
        self.openapi: OpenAPIMerger

    async def start(self) -> None:
        if self.settings.seed_demo:
            await seed_demo(self.db, self.settings.environment)
        await self.keys.load()
        self.auth = Authenticator(self.settings, self.db, self.keys)
        self.hops = HopTokens(self.settings, self.keys)
        for name, url in self.settings.upstreams.items():
            self.upstreams[name] = Upstream(
                url, self.settings.upstream_timeout_seconds, self.settings.upstream_connect_timeout_seconds
            )
        self.openapi = OpenAPIMerger(self.upstreams, self.routes)
        self.audit.start()

    async def stop(self) -> None:
        await self.audit.stop()
        for upstream in self.upstreams.values():
            await upstream.close()
        await self.db.dispose()

    def issue_token(self, client: Client, agency: Agency, scopes: list[str]) -> tuple[str, int]:
        return issue_access_token(self.settings, self.keys, client, agency, scopes)

    def client_rate(self, client_id: str) -> float | None:
        return self.auth.status.rate(client_id)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging("gateway", settings.log_level)
    gw = Gateway(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await gw.start()
        try:
            yield
        finally:
            await gw.stop()

    async def ready(_app: FastAPI) -> bool:
        return await gw.db.ping()

    app = create_service_app(
        title="Early Help API",
        service="gateway",
        description=(
            "The Early Help API: requests for support, MASH triage, early help episodes, consent "
            "and information sharing, deadlines and alerts. Every call needs an OAuth 2.0 access "
            "token from `/oauth/token` (client credentials, or a token exchange (RFC 8693) acting for "
            "one of the agency's registered practitioners); each operation names its scope."
        ),
        lifespan=lifespan,
        ready_check=ready,
        max_body_bytes=settings.max_body_bytes,
        openapi_url=None,  # the merged document below replaces FastAPI's own
    )
    app.state.gw = gw
    app.include_router(oauth.router)
    app.include_router(admin.router)
    app.include_router(practitioners_api.router)
    app.include_router(code_lists_api.router)
    app.include_router(dashboard.router)
    app.include_router(fhir_metadata.router)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(await gw.openapi.document(gateway_document(app, settings)))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Early Help API")

    # Innermost: after request ids, access log and the body limit have run.
    app.user_middleware.append(Middleware(GatewayProxy, gateway=gw))
    return app
