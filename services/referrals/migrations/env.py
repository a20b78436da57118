"""Alembic environment of the referrals service."""

from services.referrals.config import get_settings
from services.referrals.models import Base
from shared.migrations import run_migrations

run_migrations(Base.metadata, get_settings().db_url)
