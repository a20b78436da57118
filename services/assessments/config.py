"""Settings of the assessments service (environment variables prefixed EH_ASSESSMENTS_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EH_ASSESSMENTS_", extra="ignore")

    service_name: str = "assessments"
    port: int = 8002

    # How long a consent access-check answer is reused. A withdrawal also clears the cache
    # at once (the `consent.withdrawn` event), so it takes effect within this bound anyway.
    access_cache_seconds: float = 1.0
    # Background delivery of disclosures (to consent) and pending step-ups (to referrals).
    delivery_interval_seconds: float = 0.5
    # In-request attempts at creating the step-up referral before it is left to the worker.
    stepup_attempts: int = 3
    stepup_backoff_seconds: float = 0.2

    # Timescales (domain.md): every council sets its own.
    first_contact_hours: int = 72
    assessment_start_working_days: int = 10
    assessment_complete_working_days: int = 45
    joint_visit_working_days: int = 10
    review_max_weeks: int = 12
    reassessment_months: int = 12
    # Review cadence and drift (issue 21; docs/assessments.md, "Timeliness and drift").
    first_review_weeks: int = 6  # of the first plan version being agreed
    review_interval_months: int = 3  # between one review and the next
    drift_open_months: int = 12  # an open episode older than this is drifting

    # Supporting Families (issue 21, docs/assessments.md): how long a met headline must hold
    # to count as sustained, and how many headlines at the start make "multiple needs".
    sf_sustain_months: int = 6
    sf_multiple_needs_headlines: int = 2


@lru_cache
def get_settings() -> Settings:
    return Settings()
