"""Gateway settings (environment variables prefixed EH_GATEWAY_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class TrustedIssuer(BaseModel):
    """A council's own identity provider whose tokens the gateway accepts.

    Agency and scopes come from the token's claims through this mapping; the scopes granted
    are always cut down to what the agency's type may have by default, so an external IdP
    can never grant more than a client of that agency type would get here.

    Every token of a trusted issuer acts for a practitioner: its `sub` is registered in the
    practitioner registry on first sight (a stable id per issuer and subject, the name from
    `name_claim`), and a practitioner disabled there is refused like any other. Roles come
    from `roles_claim` through `role_map` (IdP value -> our roles; without a map the values
    are taken as they are) and are cut to what the agency type may hold.
    """

    issuer: str
    jwks_url: str
    audience: str
    agency_id: str | None = None  # a fixed agency for every token of this issuer
    agency_id_claim: str = "agency_id"
    agency_type: str | None = None
    agency_type_claim: str = "agency_type"
    scope_claim: str = "scope"
    scope_map: dict[str, list[str]] = Field(default_factory=dict)
    require_at_jwt_typ: bool = True
    roles_claim: str = "roles"
    role_map: dict[str, list[str]] = Field(default_factory=dict)
    name_claim: str = "name"


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EH_GATEWAY_", extra="ignore")

    service_name: str = "gateway"
    port: int = 8000

    # Where the four services listen, by name.
    upstreams: dict[str, str] = {
        "referrals": "http://127.0.0.1:8001",
        "assessments": "http://127.0.0.1:8002",
        "consent": "http://127.0.0.1:8003",
        "notifications": "http://127.0.0.1:8004",
    }
    upstream_timeout_seconds: float = 10.0
    upstream_connect_timeout_seconds: float = 2.0

    access_token_ttl_seconds: int = 900
    hop_token_ttl_seconds: int = 120
    # Tokens acting for a practitioner (RFC 8693 token exchange) live briefly.
    practitioner_token_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    trusted_issuers: list[TrustedIssuer] = []

    rate_limit_per_second: float = 50.0
    rate_limit_burst: int = 100
    # Failed client authentications at /oauth/token: this many in the window (from the first
    # failure) block the client id, or the source address, until the window closes (429).
    token_failures_per_client: int = Field(default=10, ge=1)
    token_failures_per_address: int = Field(default=30, ge=1)
    token_failure_window_seconds: float = Field(default=60.0, gt=0, le=3600)
    token_failure_max_keys: int = Field(default=10_000, ge=100)
    # Proxies (addresses or CIDR networks) whose X-Forwarded-For is believed for the source
    # address; empty (the default): the TCP peer is the source, X-Forwarded-For is ignored.
    trusted_proxies: list[str] = []

    audit_flush_interval_seconds: float = 0.2
    # How long a client's (and a practitioner's) enabled status is cached: disabling either
    # takes effect within this many seconds on every replica.
    client_status_cache_seconds: float = 2.0
    # Seed the demo agencies and clients of api.md at start-up (only ever in dev).
    seed_demo: bool = False
    # Where integrators reach the gateway, published as the OpenAPI document's `servers` entry;
    # the default "/" is the host that served the document.
    public_url: str = "/"


@lru_cache
def get_settings() -> Settings:
    return Settings()
