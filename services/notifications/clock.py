"""Time helpers: every datetime stored is UTC (SQLite keeps no offset, so we never store local)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; a naive value (read back from SQLite) is UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_moment(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return as_utc(moment)


def end_of_day(day: date | str) -> datetime:
    """A deadline "on" a date is met by the end of that day in London: due at 00:00 the next day."""
    d = day if isinstance(day, date) else date.fromisoformat(day)
    return datetime.combine(d + timedelta(days=1), time(0, 0), tzinfo=LONDON).astimezone(UTC)
