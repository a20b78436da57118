"""Settings of the consent service (environment variables prefixed EH_CONSENT_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EH_CONSENT_", extra="ignore")

    service_name: str = "consent"
    port: int = 8003


@lru_cache
def get_settings() -> Settings:
    return Settings()
