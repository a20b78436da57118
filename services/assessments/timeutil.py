"""UTC helpers: SQLite hands back naive datetimes, and every stored moment is UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def aware_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)
