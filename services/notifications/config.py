"""Settings of the notifications service (environment variables prefixed EH_NOTIFICATIONS_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EH_NOTIFICATIONS_", extra="ignore")

    service_name: str = "notifications"
    port: int = 8004


@lru_cache
def get_settings() -> Settings:
    return Settings()
