"""Settings of the referrals service (environment variables prefixed EH_REFERRALS_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EH_REFERRALS_", extra="ignore")

    service_name: str = "referrals"
    port: int = 8001

    # The front-door decision is due this many working days after a request is received.
    decision_working_days: int = Field(1, ge=0, le=30)
    # Person matching (docs/referrals.md): at or above `certain` (with every component
    # agreeing) a referral links to the existing person; at or above `possible` the MASH is
    # asked to confirm or reject.
    match_certain_threshold: float = Field(0.92, ge=0, le=1)
    match_possible_threshold: float = Field(0.75, ge=0, le=1)
    # The journey asks the assessments service for its part; past this it is marked incomplete.
    journey_timeout_seconds: float = Field(3.0, gt=0)
    # How often the background worker posts pending disclosures to the consent service (it
    # is also woken as soon as a read stores one).
    disclosure_interval_seconds: float = Field(0.5, gt=0)
    # The JSNA feed (jsna.py): counts from 1 to this less one are suppressed. At least 3: at 2
    # a suppressed cell could only be a 1.
    jsna_suppression_threshold: int = Field(5, ge=3, le=100)


@lru_cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]
