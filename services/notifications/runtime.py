"""The notifications service's runtime: the shared runtime (its working-day calendar counts
the deadlines, `deadlines/service.py`) plus where the early help managers are emailed."""

from __future__ import annotations

from typing import Any

from services.notifications.config import Settings
from shared.runtime import ServiceRuntime


class NotificationsRuntime(ServiceRuntime):
    settings: Settings

    def __init__(self, settings: Settings, *args: Any, **kwargs: Any) -> None:
        super().__init__(settings, *args, **kwargs)
        # Where the early help managers are emailed about an assessment awaiting their
        # approval (setting `early_help_managers_email`; none: feed only).
        self.early_help_managers_email: str | None = settings.early_help_managers_email or None
