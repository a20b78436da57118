"""Settings of the notifications service and its worker (environment variables prefixed EH_NOTIFICATIONS_)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings

_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")


class Settings(BaseServiceSettings):
    # A refused value is never echoed (the Notify key may be among them).
    model_config = SettingsConfigDict(
        env_prefix="EH_NOTIFICATIONS_", extra="ignore", hide_input_in_errors=True
    )

    service_name: str = "notifications"
    port: int = 8004

    # The worker process (`python -m services.notifications.worker`).
    worker_port: int = 8005
    worker_tick_seconds: float = 5.0
    worker_batch_size: int = 500
    # A claimed email/webhook delivery is leased for this long; a worker killed mid-send
    # leaves the lease to expire and another pass sends it again (at-least-once).
    delivery_lease_seconds: float = 60.0

    # Email over SMTP.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "early-help-noreply@council.example"
    email_max_attempts: int = 8
    # The early help managers' shared mailbox: told when an assessment awaits approval
    # (empty: the early help feed and webhooks only).
    early_help_managers_email: str = ""

    # Webhooks.
    # Key that encrypts subscription signing secrets at rest (the dev default is refused
    # outside dev/test by the base settings validator).
    webhook_secret_key: str = "dev-webhook-secret"
    webhook_allowed_hosts: list[str] = []
    webhook_max_consecutive_failures: int = 5
    webhook_max_attempts: int = 8
    webhook_backoff_base_seconds: float = 2.0
    webhook_timeout_seconds: float = 5.0

    # How an emailed alert goes out: over SMTP (the default), through GOV.UK Notify, or both
    # (docs/notifications.md, "GOV.UK Notify").
    alert_channels: Literal["smtp", "notify", "both"] = "smtp"
    # The council's Notify API key (`{name}-{service id}-{secret}`): never logged, never shown.
    notify_api_key: SecretStr = SecretStr("")
    notify_base_url: str = "https://api.notifications.service.gov.uk"
    notify_timeout_seconds: float = 10.0
    # Alert kind (e.g. `deadline.overdue`) -> Notify template id. A kind without an email
    # template goes over SMTP; a kind without an SMS template is not texted.
    notify_email_templates: dict[str, str] = {}
    notify_sms_templates: dict[str, str] = {}
    # Who is texted: an alert's recipient email address -> their mobile number.
    notify_sms_numbers: dict[str, str] = {}
    notify_max_attempts: int = 8
    # Unfinished Notify statuses are polled with backoff from this delay, at most this often.
    notify_poll_base_seconds: float = 60.0
    notify_max_polls: int = 12

    @field_validator("early_help_managers_email")
    @classmethod
    def _one_address(cls, value: str) -> str:
        value = value.strip()
        if value and not _EMAIL.fullmatch(value):
            raise ValueError("must be one email address (or empty)")
        return value

    @model_validator(mode="after")
    def _notify_configured(self) -> Settings:
        if self.alert_channels != "smtp":
            key = self.notify_api_key.get_secret_value()
            if len(key) < 74:  # `{name}-{service id}-{secret}`: two UUIDs at its end
                raise ValueError(
                    "alert_channels uses Notify: set notify_api_key to the council's Notify API key"
                )
        return self

    @property
    def uses_smtp(self) -> bool:
        return self.alert_channels in ("smtp", "both")

    @property
    def uses_notify(self) -> bool:
        return self.alert_channels in ("notify", "both")


@lru_cache
def get_settings() -> Settings:
    return Settings()
