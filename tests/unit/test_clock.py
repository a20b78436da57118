"""The one clock (shared.clock): faking it, parsing stored moments, and UTC on every column."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime

from shared.clock import LONDON, MissingOffset, iso_z, london_today, parse_date, parse_datetime, utcnow
from shared.db import UTCDateTime
from shared.events import EventEnvelope

MODELS = (
    "services.referrals.models",
    "services.assessments.models",
    "services.consent.models",
    "services.notifications.models",
    "gateway.models",
)


def test_the_clock_runs_on_real_time_until_a_test_sets_it(clock):
    before = datetime.now(UTC)
    now = utcnow()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert before <= now <= datetime.now(UTC)
    assert not clock.faked


def test_a_set_clock_moves_everything_that_asks_for_the_time(clock):
    clock.set(datetime(2026, 12, 31, 23, 30, tzinfo=LONDON))
    assert utcnow() == datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert utcnow().tzinfo is UTC
    assert london_today() == date(2026, 12, 31)
    assert EventEnvelope(type="x.y", source="test").occurred_at == utcnow()
    clock.advance(timedelta(hours=1))
    assert utcnow() == datetime(2027, 1, 1, 0, 30, tzinfo=UTC)
    assert london_today() == date(2027, 1, 1)
    clock.reset()
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=5)
    assert not clock.faked


def test_the_clock_is_set_with_an_aware_moment_only(clock):
    with pytest.raises(ValueError):
        clock.set(datetime(2026, 1, 1, 9, 0))


@pytest.mark.parametrize(
    "text",
    ["2026-03-29T01:30:00Z", "2026-03-29T01:30:00+00:00", "2026-03-29T02:30:00+01:00", "2026-03-29T01:30:00"],
)
def test_parse_datetime_gives_aware_utc(text):
    moment = parse_datetime(text)
    assert moment == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert moment.tzinfo is UTC


def test_parse_datetime_normalises_a_datetime_too():
    assert parse_datetime(datetime(2026, 6, 1, 10, tzinfo=timezone(timedelta(hours=1)))) == datetime(
        2026, 6, 1, 9, tzinfo=UTC
    )
    assert parse_datetime(datetime(2026, 6, 1, 10)).tzinfo is UTC


def test_parse_datetime_refuses_what_is_not_a_moment():
    with pytest.raises(MissingOffset):
        parse_datetime("2026-06-01T10:00:00", require_offset=True)
    with pytest.raises(ValueError):
        parse_datetime("not a time")
    with pytest.raises(TypeError):
        parse_datetime(1700000000)  # type: ignore[arg-type]


def test_parse_date():
    assert parse_date("2026-02-28") == date(2026, 2, 28)
    assert parse_date(date(2026, 2, 28)) == date(2026, 2, 28)
    with pytest.raises(ValueError):
        parse_date("2026-02-30")
    with pytest.raises(TypeError):
        parse_date(20260228)  # type: ignore[arg-type]


def test_iso_z():
    assert iso_z(datetime(2026, 6, 1, 10, tzinfo=LONDON)) == "2026-06-01T09:00:00Z"
    assert iso_z(datetime(2026, 6, 1, 9, 0, 0, 5, tzinfo=UTC)) == "2026-06-01T09:00:00.000005Z"


def test_every_timestamp_column_is_utc_datetime():
    """Aware UTC in and out on SQLite and PostgreSQL alike, so no service fixes values up."""
    plain = []
    for name in MODELS:
        module = importlib.import_module(name)
        for table in module.Base.metadata.tables.values():
            for column in table.columns:
                if isinstance(column.type, DateTime):
                    plain.append(f"{name}: {table.name}.{column.name}")
                elif column.name.endswith("_at"):
                    assert isinstance(column.type, UTCDateTime), f"{table.name}.{column.name}"
    assert plain == []
