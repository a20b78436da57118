"""Settings of the referrals service (environment variables prefixed EH_REFERRALS_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EH_REFERRALS_", extra="ignore")

    service_name: str = "referrals"
    port: int = 8001


@lru_cache
def get_settings() -> Settings:
    return Settings()
