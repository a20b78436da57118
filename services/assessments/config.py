"""Settings of the assessments service (environment variables prefixed EH_ASSESSMENTS_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EH_ASSESSMENTS_", extra="ignore")

    service_name: str = "assessments"
    port: int = 8002


@lru_cache
def get_settings() -> Settings:
    return Settings()
