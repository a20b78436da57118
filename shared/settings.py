"""Settings base shared by every process (pydantic-settings).

Each process subclasses `BaseServiceSettings` with its own env prefix. Outside the `dev`
and `test` environments the validator refuses the well-known development secrets, so a
deployment cannot start with them by accident.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SERVICE_SECRET_SUFFIX = "-secret"
DEFAULT_DATA_DIR = Path("data")


class BaseServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EH_", extra="ignore", env_file=None)

    environment: Literal["dev", "test", "staging", "production"] = "dev"
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    # Where the gateway publishes its signing keys; services verify identity against it.
    gateway_url: str = "http://127.0.0.1:8000"
    gateway_issuer: str = "http://127.0.0.1:8000"
    # Audience of identity the gateway mints for one hop to a service.
    internal_audience: str = "early-help-internal"
    # Audience of access tokens the gateway issues to clients.
    api_audience: str = "early-help-api"

    # The service's own client credentials, for service-to-service calls.
    service_client_id: str = ""
    service_client_secret: str = ""

    # Working-day calendar.
    calendar_nation: Literal["england-and-wales", "scotland", "northern-ireland"] = "england-and-wales"
    local_closure_days: list[str] = []

    # Outbox relay: where events go. Maps event type prefix ("referral.", "*") to URLs.
    event_subscribers: dict[str, list[str]] = {}
    relay_interval_seconds: float = 0.5

    # Allowed request body size in bytes (also enforced at the gateway).
    max_body_bytes: int = 1_000_000

    service_name: str = "service"

    # Partner services, called directly with the service's own credentials.
    referrals_url: str = "http://127.0.0.1:8001"
    assessments_url: str = "http://127.0.0.1:8002"
    consent_url: str = "http://127.0.0.1:8003"
    notifications_url: str = "http://127.0.0.1:8004"

    def default_database_url(self) -> str:
        return f"sqlite+aiosqlite:///{(self.data_dir / (self.service_name + '.db')).as_posix()}"

    @property
    def db_url(self) -> str:
        return self.database_url or self.default_database_url()

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> BaseServiceSettings:
        if self.environment in ("dev", "test"):
            return self
        for name, value in self.model_dump().items():
            if "secret" in name and isinstance(value, str) and value:
                if value.endswith(DEV_SERVICE_SECRET_SUFFIX) or value in {"changeme", "dev", "secret"}:
                    raise ValueError(f"{name} uses a development default; set a real secret outside dev")
        if self.db_url.startswith("sqlite") and self.environment == "production":
            # SQLite is the embedded default for dev and tests; production runs PostgreSQL.
            raise ValueError("database_url must point at PostgreSQL in production")
        return self
