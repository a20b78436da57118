"""Working days: weekends, the bank holidays of the council's nation, local closure days.

Holidays come from the maintained `holidays` package (England and Wales by default;
Scotland and Northern Ireland selectable). Hour-based durations are computed in
Europe/London local time, so "72 hours" across a clock change is still 72 hours of wall time
as the family experiences it.

Counting rule for working days: a deadline N working days after a moment falls on the Nth
working day after that moment's local date, at the same local time. A moment on a
non-working day counts as the start (00:00) of the next working day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal

import holidays

from shared.clock import LONDON, parse_date

Nation = Literal["england-and-wales", "scotland", "northern-ireland"]
_SUBDIV = {"england-and-wales": "ENG", "scotland": "SCT", "northern-ireland": "NIR"}
Unit = Literal["working_days", "calendar_days", "hours"]


@lru_cache(maxsize=16)
def _holidays(nation: Nation, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv=_SUBDIV[nation], years=year).keys())


class WorkingCalendar:
    def __init__(self, nation: Nation = "england-and-wales", closure_days: Iterable[date | str] = ()) -> None:
        if nation not in _SUBDIV:
            raise ValueError(f"unknown nation {nation!r}")
        self.nation = nation
        self.closure_days = frozenset(parse_date(d) for d in closure_days)

    def is_working_day(self, day: date) -> bool:
        if day.weekday() >= 5:
            return False
        if day in self.closure_days:
            return False
        return day not in _holidays(self.nation, day.year)

    def next_working_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days_to_date(self, day: date, n: int) -> date:
        for _ in range(n):
            day = self.next_working_day(day)
        return day

    def add_working_days(self, moment: datetime, n: int) -> datetime:
        local = _local(moment)
        day, clock = local.date(), local.timetz().replace(tzinfo=None)
        if not self.is_working_day(day):
            day = self.next_working_day(day)
            clock = time(0, 0)
        target = self.add_working_days_to_date(day, n)
        return datetime.combine(target, clock, tzinfo=LONDON).astimezone(moment.tzinfo or LONDON)

    def add(self, moment: datetime, amount: int, unit: Unit) -> datetime:
        if unit == "working_days":
            return self.add_working_days(moment, amount)
        local = _local(moment)
        if unit == "calendar_days":
            # Same wall-clock time N days later, whatever the clocks did in between.
            naive = local.replace(tzinfo=None) + timedelta(days=amount)
        elif unit == "hours":
            # Elapsed hours: 72 hours is 72 hours, across a clock change too.
            return _elapsed(moment, timedelta(hours=amount))
        else:
            raise ValueError(f"unknown unit {unit!r}")
        return naive.replace(tzinfo=LONDON).astimezone(moment.tzinfo or LONDON)

    def working_days_between(self, start: date, end: date) -> int:
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("timezone-aware datetimes only")
    return moment.astimezone(LONDON)


def _elapsed(moment: datetime, delta: timedelta) -> datetime:
    return (moment.astimezone(UTC) + delta).astimezone(moment.tzinfo)
