"""Wiring one service process: database, caller verification, outbox relay, event receiver.

A service's `main.py` builds a `ServiceRuntime` from its settings and metadata, then calls
`build_service_app` with its routers and event handlers. Everything the endpoints need is
reached through `request.app.state.runtime` via the dependencies in `shared.deps`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import MetaData
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from shared.app import create_service_app
from shared.background import PeriodicTask
from shared.calendar import WorkingCalendar
from shared.db import Database
from shared.events import EventEnvelope, Handler, OutboxRelay, publish_all, receive
from shared.idempotency import install_replay_handler
from shared.identity import ServiceAuth, current_identity
from shared.logs import configure_logging
from shared.platform_tables import platform_tables
from shared.problems import Forbidden
from shared.service_client import ServiceClient, ServiceTokenProvider
from shared.settings import BaseServiceSettings
from shared.tokens import KeySet, http_jwks_fetcher


class ServiceRuntime:
    def __init__(
        self,
        settings: BaseServiceSettings,
        metadata: MetaData,
        *,
        source: str,
        event_handlers: dict[str, Handler] | None = None,
        keys: KeySet | None = None,
        relay_enabled: bool = True,
    ) -> None:
        self.settings = settings
        self.source = source
        self.db = Database(settings.db_url)
        self.tables = platform_tables(metadata)
        self.tokens = ServiceTokenProvider(
            f"{settings.gateway_url}/oauth/token",
            settings.service_client_id,
            settings.service_client_secret,
        )
        self.keys = keys or KeySet(http_jwks_fetcher(f"{settings.gateway_url}/.well-known/jwks.json"))
        self.auth = ServiceAuth(
            keys=self.keys,
            issuer=settings.gateway_issuer,
            internal_audience=settings.internal_audience,
            api_audience=settings.api_audience,
        )
        self.relay = OutboxRelay(self.db, self.tables, self.tokens, interval=settings.relay_interval_seconds)
        self.relay_enabled = relay_enabled
        self.calendar = WorkingCalendar(settings.calendar_nation, settings.local_closure_days)
        self.event_handlers: dict[str, Handler] = dict(event_handlers or {})
        self.clients: dict[str, ServiceClient] = {}

    def client(self, name: str, base_url: str) -> ServiceClient:
        """One pooled client per partner service, created on first use."""
        if name not in self.clients:
            self.clients[name] = ServiceClient(base_url, self.tokens)
        return self.clients[name]

    async def publish(self, session: AsyncSession, event_type: str, data: dict[str, Any]) -> EventEnvelope:
        """Publish in the session's transaction; this process's relay sends the event as soon
        as the transaction commits (the rows are leased to it meanwhile, see shared.events)."""
        (envelope,) = await self.publish_all(session, [(event_type, data)])
        return envelope

    async def publish_all(
        self, session: AsyncSession, events: list[tuple[str, dict[str, Any]]]
    ) -> list[EventEnvelope]:
        """`publish` for several events (type, data), in order, with one outbox statement."""
        rows: list[dict[str, Any]] = []
        envelopes = await publish_all(
            session,
            self.tables,
            self.settings.event_subscribers,
            events=events,
            source=self.source,
            lease_seconds=self.relay.lease_seconds if self.relay_enabled else 0.0,
            handed_over=rows,
        )
        if rows and self.relay_enabled:
            relay = self.relay

            def _hand_over(_session: Any) -> None:
                relay.hand_over(rows)

            sa_event.listen(session.sync_session, "after_commit", _hand_over, once=True)
        return envelopes

    async def start(self) -> None:
        if self.relay_enabled:
            self.relay.start()

    async def stop(self) -> None:
        await self.relay.stop()
        for c in self.clients.values():
            await c.aclose()
        await self.tokens.aclose()
        await self.db.dispose()


RuntimeHandler = Callable[[Any, AsyncSession, EventEnvelope], Awaitable[None]]
"""An event handler that also needs the runtime (its settings, clients, calendar): called
with the runtime first, then the receiver's session and the envelope."""


def bind_handlers(runtime: ServiceRuntime, handlers: Mapping[str, RuntimeHandler]) -> dict[str, Handler]:
    """A service's `HANDLERS` table of module-level `RuntimeHandler`s, each bound to `runtime`
    for `ServiceRuntime.event_handlers`."""
    return {event_type: partial(handler, runtime) for event_type, handler in handlers.items()}


Job = Callable[[Any], Awaitable[object]]  # called with the runtime
T = TypeVar("T")


class WorkerRuntime(ServiceRuntime):
    """The platform runtime plus one background worker that runs the service's `jobs` in turn,
    every `interval` seconds or at once when woken (`wake_worker`); a failing job is logged
    and does not stop the others. Like the relay, it runs only when `relay_enabled`."""

    def __init__(
        self,
        settings: BaseServiceSettings,
        metadata: MetaData,
        *,
        worker: str,
        interval: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(settings, metadata, **kwargs)
        self.jobs: list[Job] = []
        # Passes never overlap in one process: a pass called directly (tests) waits for a woken
        # one that is still sending, instead of finding its rows leased and returning early.
        self._jobs_lock = asyncio.Lock()
        self._worker = PeriodicTask(worker, self.run_jobs_once, interval)
        self._worker_log = logging.getLogger(f"{self.source}.worker")

    def wake_worker(self) -> None:
        self._worker.wake()

    async def run_jobs_once(self) -> None:
        async with self._jobs_lock:
            for job in self.jobs:
                try:
                    await job(self)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self._worker_log.exception(
                        "background job failed", extra={"job": getattr(job, "__name__", "job")}
                    )

    async def run_job(self, job: Callable[[], Awaitable[T]]) -> T:
        """One job now, between passes; its errors are the caller's."""
        async with self._jobs_lock:
            return await job()

    async def start(self) -> None:
        await super().start()
        if self.relay_enabled:
            self._worker.start()

    async def stop(self) -> None:
        await self._worker.stop()
        await super().stop()


@dataclass(frozen=True)
class _RouteLabel:
    path: str


_EVENTS_ROUTE = _RouteLabel("/internal/events")


def events_endpoint(runtime: ServiceRuntime) -> Callable[[Request], Awaitable[JSONResponse]]:
    """`POST /internal/events`: a plain Starlette endpoint, not a FastAPI route.

    Every event delivery is a request here, about half of one per API request at load, and
    FastAPI's route machinery (dependency solving, body and response models) cost more than
    acknowledging an event nothing here acts on. The checks are the same ones, in the same
    order: a verified service identity (401, then 403: `current_identity`), then the
    envelope (422 naming the field, through the app's validation problem handler); errors
    raised meanwhile (database busy: 503, so the relay tries again) reach the app's problem
    handlers as from any route."""

    async def receive_event(request: Request) -> JSONResponse:
        # FastAPI's router names only its own routes in the scope; the access log and the
        # metrics read the route from there (shared.app.route_template).
        request.scope["route"] = _EVENTS_ROUTE
        identity = await current_identity(request)
        if not identity.is_service:
            raise Forbidden("service")
        try:
            envelope = EventEnvelope.model_validate_json(await request.body())
        except ValidationError as exc:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            raise RequestValidationError(errors) from None
        handler = runtime.event_handlers.get(envelope.type)
        if handler is None:
            # Nothing here acts on this type: acknowledge it without touching the database.
            return JSONResponse({"id": envelope.id, "applied": False, "handled": False}, status_code=202)
        applied = await receive(runtime.db, runtime.tables, envelope, handler)
        return JSONResponse({"id": envelope.id, "applied": applied, "handled": True}, status_code=202)

    return receive_event


def build_service_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: list[APIRouter],
) -> FastAPI:
    settings = runtime.settings
    configure_logging(runtime.source, settings.log_level)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    async def ready(_app: FastAPI) -> bool:
        return await runtime.db.ping()

    app = create_service_app(
        title=title,
        service=runtime.source,
        description=description,
        lifespan=lifespan,
        ready_check=ready,
        max_body_bytes=settings.max_body_bytes,
    )
    app.state.runtime = runtime
    app.state.auth = runtime.auth
    install_replay_handler(app)
    for router in routers:
        app.include_router(router)
    app.add_route(_EVENTS_ROUTE.path, events_endpoint(runtime), methods=["POST"], include_in_schema=False)
    return app


async def runtime_of(request: Request) -> ServiceRuntime:
    # `async def`, as every dependency here: FastAPI runs a plain `def` one in a worker thread.
    return request.app.state.runtime  # type: ignore[no-any-return]
