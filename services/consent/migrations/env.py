"""Alembic environment of the consent service."""

from services.consent.config import get_settings
from services.consent.models import Base
from shared.migrations import run_migrations

run_migrations(Base.metadata, get_settings().db_url)
