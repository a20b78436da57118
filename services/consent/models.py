"""Tables of the consent service (SQLAlchemy `Mapped[...]` only)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import make_metadata
from shared.platform_tables import platform_tables


class Base(DeclarativeBase):
    metadata = make_metadata()


PLATFORM = platform_tables(Base.metadata)
