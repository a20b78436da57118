"""The `Context` every rule of this service is given: the shared one (session, runtime,
identity, now) and the caller's consent-checked `Viewer` (access.py), which decides what the
caller may see and notes the disclosures its reads make."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.assessments.access import Viewer
from services.assessments.app_runtime import AssessmentsRuntime
from services.assessments.config import Settings
from shared.clock import utcnow
from shared.context import Context as BaseContext
from shared.context import system_identity


@dataclass
class Context(BaseContext[AssessmentsRuntime]):
    viewer: Viewer

    @classmethod
    def of(cls, session: AsyncSession, runtime: AssessmentsRuntime, viewer: Viewer, now: datetime) -> Context:
        """A request's context: the caller is the viewer's identity."""
        return cls(session, runtime, viewer.identity, now, viewer)

    @classmethod
    def for_system(
        cls, session: AsyncSession, runtime: AssessmentsRuntime, now: datetime | None = None
    ) -> Context:
        """An event handler's or a job's context: the service itself, which sees everything."""
        identity = system_identity(runtime)
        return cls(session, runtime, identity, now or utcnow(), Viewer(identity, runtime))

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def today(self) -> date:
        """The UTC date of `now` (what "in the future" and "in the past" are measured against)."""
        return self.now.date()
