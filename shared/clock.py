"""The one clock: the current time for every service, the council's time zone, and the one
parser of ISO 8601 dates and times read back from storage, events and cursors.

Every moment the services handle is timezone-aware UTC; local (London) time is only for
what people see and for calendar rules. Code asks `utcnow()` (or `london_today()`) for the
time, never `datetime.now()`, so tests can fake it for the whole process: `clock.set(moment)`,
`clock.advance(delta)`, `clock.reset()` (the `clock` fixture of the root conftest resets it
after every test). Token lifetimes and durations measured with `time.monotonic()` stay on
the real clock.

Request bodies and queries are validated by the types in `shared.validation`; this module's
`parse_datetime`/`parse_date` are for values the services wrote themselves.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


class Clock:
    """Real time, unless a test has set it: then that moment, until advanced or reset."""

    def __init__(self) -> None:
        self._fixed: datetime | None = None

    def now(self) -> datetime:
        fixed = self._fixed
        return datetime.now(UTC) if fixed is None else fixed

    @property
    def faked(self) -> bool:
        return self._fixed is not None

    def set(self, moment: datetime | None) -> None:
        """Stop the clock at `moment` (aware); None lets it run on real time again."""
        if moment is None:
            self._fixed = None
            return
        if moment.tzinfo is None:
            raise ValueError("timezone-aware datetimes only")
        self._fixed = moment.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        """Move the stopped clock on by `delta` (from now, if it was running)."""
        self._fixed = self.now() + delta
        return self._fixed

    def reset(self) -> None:
        self._fixed = None


clock = Clock()


def utcnow() -> datetime:
    """The current moment, aware, in UTC."""
    return clock.now()


def london_today() -> date:
    """Today's date in the council's time zone."""
    return clock.now().astimezone(LONDON).date()


class MissingOffset(ValueError):
    """A date and time without its UTC offset where one is required."""


def parse_datetime(value: str | datetime, *, require_offset: bool = False) -> datetime:
    """An ISO 8601 date and time (`Z` allowed) as aware UTC.

    Without an offset the value is taken as UTC (how every service stores and sends moments),
    unless `require_offset`: then `MissingOffset`. Malformed text is a `ValueError`, anything
    but text or a datetime a `TypeError`.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise TypeError(f"an ISO 8601 date and time is text, not {type(value).__name__}")
    if moment.tzinfo is None:
        if require_offset:
            raise MissingOffset("a date and time needs its UTC offset")
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_date(value: str | date) -> date:
    """An ISO 8601 date (`YYYY-MM-DD`). Malformed text is a `ValueError`."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise TypeError(f"an ISO 8601 date is text, not {type(value).__name__}")
    return date.fromisoformat(value)


def iso_z(moment: datetime) -> str:
    """A moment as ISO 8601 UTC text ending in `Z` (how internal calls and cursors write it)."""
    return parse_datetime(moment).isoformat().replace("+00:00", "Z")
