"""The one context every service function is given: who is asking, when, and with what.

A service function's first argument is a `Context` (or a service's subclass of it that adds
what only that service needs, such as referrals' per-request row caches or assessments'
consent-checked `Viewer`). The router builds it once per request from its dependencies;
event handlers and jobs build it with `Context.for_system`, acting as the service itself.

    session   the request's (or the job's) transaction; service functions flush, never commit
    runtime   the service's `ServiceRuntime`: settings, calendar, clients, publishing
    identity  the caller (a practitioner, an agency system, or the service for handlers/jobs)
    now       the moment of the request, read once from `shared.clock` so tests can move it
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from shared.clock import utcnow
from shared.identity import SERVICE_AGENCY_TYPE, Identity
from shared.runtime import ServiceRuntime

RuntimeT = TypeVar("RuntimeT", bound=ServiceRuntime)


async def now_of() -> datetime:
    """The current time, once per request (tests move it with `shared.clock`)."""
    return utcnow()


Now = Annotated[datetime, Depends(now_of)]


def system_identity(runtime: ServiceRuntime) -> Identity:
    """The service acting on its own behalf (an event handler or a background job)."""
    client_id = runtime.settings.service_client_id
    return Identity(
        sub=client_id,
        client_id=client_id,
        agency_id=client_id,
        agency_type=SERVICE_AGENCY_TYPE,
        via_gateway=False,
    )


@dataclass
class Context(Generic[RuntimeT]):
    """Who is asking, when, and with what: the first argument of every service function."""

    session: AsyncSession
    runtime: RuntimeT
    identity: Identity
    now: datetime

    @classmethod
    def for_system(
        cls, session: AsyncSession, runtime: RuntimeT, now: datetime | None = None
    ) -> Context[RuntimeT]:
        """The context of an event handler or a job: the service itself, at `now`."""
        return cls(session, runtime, system_identity(runtime), now or utcnow())

    async def publish(self, event_type: str, data: dict[str, Any]) -> None:
        """Publish in this context's transaction (sent once it commits)."""
        await self.runtime.publish(self.session, event_type, data)

    async def publish_all(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Publish several events (type, data), in order, in this context's transaction."""
        await self.runtime.publish_all(self.session, events)
