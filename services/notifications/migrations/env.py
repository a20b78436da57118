"""Alembic environment of the notifications service."""

from services.notifications.config import get_settings
from services.notifications.models import Base
from shared.migrations import run_migrations

run_migrations(Base.metadata, get_settings().db_url)
