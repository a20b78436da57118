"""The notifications service's runtime: the shared runtime plus the deadline engine on the
configured working-day calendar that the event handlers use."""

from __future__ import annotations

from typing import Any

from services.notifications.config import Settings
from services.notifications.deadlines.service import DeadlineEngine
from shared.runtime import ServiceRuntime


class NotificationsRuntime(ServiceRuntime):
    settings: Settings

    def __init__(self, settings: Settings, *args: Any, **kwargs: Any) -> None:
        super().__init__(settings, *args, **kwargs)
        self.deadlines = DeadlineEngine(self.calendar)
        # Where the early help managers are emailed about an assessment awaiting their
        # approval (setting `early_help_managers_email`; none: feed only).
        self.early_help_managers_email: str | None = settings.early_help_managers_email or None
