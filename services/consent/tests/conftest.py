"""Fixtures of the consent service's tests: the app on a migrated database, and callers."""

from __future__ import annotations

from typing import Any

import pytest

from services.consent.config import Settings
from services.consent.main import create_app
from services.consent.tests.helpers import SERVICE_DIR, SUBSCRIBERS, WRITER_SCOPES


@pytest.fixture
async def svc(service_factory: Any) -> Any:
    return await service_factory(
        create_app,
        Settings,
        SERVICE_DIR,
        event_subscribers=SUBSCRIBERS,
        expiry_scan_interval_seconds=0,
        relay_interval_seconds=3600,
    )


@pytest.fixture
def eh(svc: Any) -> dict[str, str]:
    """The council's early help team: records consents and decisions."""
    return svc.headers(agency_type="early_help", agency_id="eh-team", scopes=WRITER_SCOPES)


@pytest.fixture
def service_caller(signer: Any) -> dict[str, str]:
    """Another service (assessments, say) with its own credential."""
    return signer.auth_header(
        agency_type="service",
        agency_id="svc-assessments",
        client_id="assessments",
        audience="early-help-api",
        scopes="",
    )
