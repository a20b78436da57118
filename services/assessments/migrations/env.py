"""Alembic environment of the assessments service."""

from services.assessments.config import get_settings
from services.assessments.models import Base
from shared.migrations import run_migrations

run_migrations(Base.metadata, get_settings().db_url)
