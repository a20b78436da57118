"""Working days on real dates: weekends, bank holidays by nation, local closures, clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.calendar import LONDON, WorkingCalendar

ENG = WorkingCalendar()
SCO = WorkingCalendar("scotland")


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def test_christmas_eve_request_is_due_the_tuesday_after():
    due = ENG.add_working_days(london(2026, 12, 24, 23, 40), 1)
    assert due.date() == date(2026, 12, 29)


def test_easter_in_england_and_scotland():
    assert not ENG.is_working_day(date(2026, 4, 3)) and not ENG.is_working_day(date(2026, 4, 6))
    assert not SCO.is_working_day(date(2026, 4, 3))
    assert SCO.is_working_day(date(2026, 4, 6))  # Scotland keeps Easter Monday


def test_second_of_january_is_a_holiday_in_scotland_only():
    assert ENG.is_working_day(date(2026, 1, 2))
    assert not SCO.is_working_day(date(2026, 1, 2))


def test_step_down_joint_visit_ten_working_days_over_easter():
    assert ENG.add_working_days_to_date(date(2026, 4, 1), 10) == date(2026, 4, 17)
    assert SCO.add_working_days_to_date(date(2026, 4, 1), 10) == date(2026, 4, 16)


def test_local_closure_days_are_skipped():
    cal = WorkingCalendar(closure_days=["2026-06-15"])
    assert cal.add_working_days_to_date(date(2026, 6, 12), 1) == date(2026, 6, 16)


def test_a_request_on_saturday_counts_from_monday():
    assert ENG.add_working_days(london(2026, 6, 13, 10, 0), 1) == london(2026, 6, 16, 0, 0)


def test_72_hours_across_the_spring_clock_change_is_elapsed_time():
    start = london(2026, 3, 28, 12, 0)  # clocks go forward at 01:00 on Sunday 29 March
    due = ENG.add(start, 72, "hours")
    # (compare in UTC: Python subtracts two datetimes of the same zone by wall clock)
    assert due.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=72)
    assert due.astimezone(LONDON).hour == 13  # one wall-clock hour later than the start time


def test_calendar_days_keep_the_wall_clock_time():
    start = london(2026, 10, 20, 9, 0)
    due = ENG.add(start, 14, "calendar_days")  # across the autumn change on 25 October
    assert due.astimezone(LONDON).hour == 9 and due.astimezone(LONDON).date() == date(2026, 11, 3)


def test_working_days_between_and_naive_datetimes_refused():
    assert ENG.working_days_between(date(2026, 12, 24), date(2026, 12, 31)) == 3
    with pytest.raises(ValueError):
        ENG.add_working_days(datetime(2026, 1, 1), 1)
    with pytest.raises(ValueError):
        WorkingCalendar("wales-only")  # type: ignore[arg-type]


def test_utc_input_comes_back_in_utc():
    due = ENG.add_working_days(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), 1)
    assert due.tzinfo == UTC and due == datetime(2026, 7, 2, 12, 0, tzinfo=UTC)
