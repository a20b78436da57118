"""Alembic environment of the gateway."""

from gateway.config import get_settings
from gateway.models import Base
from shared.migrations import run_migrations

run_migrations(Base.metadata, get_settings().db_url)
