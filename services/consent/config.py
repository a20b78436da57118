"""Settings of the consent service (environment variables prefixed EH_CONSENT_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EH_CONSENT_", extra="ignore")

    service_name: str = "consent"
    port: int = 8003

    # How often the background scan looks for consents nearing expiry (0 turns it off).
    expiry_scan_interval_seconds: float = 3600.0
    # `consent.expiring` is published this many days before `expires_on`.
    expiry_notice_days: int = 30


@lru_cache
def get_settings() -> Settings:
    return Settings()
