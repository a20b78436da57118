"""Dates and times a client sends are ISO 8601 text, never numbers.

pydantic's lax mode reads a number - or text that is only a number - as Unix time for a
`date` or `datetime` (`0` -> 1970-01-01), in a JSON body and in a query string alike. So a
client's mistake would be stored as a record from 1970, or a report asked for from 1970,
instead of refused. `shared.validation`'s IsoDate / IsoDatetime / IsoAwareDatetime /
BoundedDate refuse it; the last test here walks every route the services and the gateway
publish and fails for any date or time a client can send without one of them.
"""

from __future__ import annotations

import importlib
import typing
from datetime import date
from typing import Annotated, Any, get_args, get_origin

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import (
    AwareDatetime,
    BaseModel,
    FutureDate,
    FutureDatetime,
    NaiveDatetime,
    PastDate,
    PastDatetime,
    TypeAdapter,
    ValidationError,
)

from shared.validation import _DATE_TEXT, _MOMENT_TEXT, BoundedDate, IsoAwareDatetime, IsoDate, IsoDatetime

GUARDS = (_DATE_TEXT, _MOMENT_TEXT)
PYDANTIC_TEMPORAL = (AwareDatetime, NaiveDatetime, PastDate, FutureDate, PastDatetime, FutureDatetime)
ROUTERS = (
    "services.referrals.router",
    "services.assessments.router",
    "services.consent.router",
    "services.notifications.router",
    "gateway.admin",
    "gateway.oauth",
)
NUMBERS = [0, 0.0, 1700000000, -1, 1.5e9, True, "0", "0.0", "1700000000", " 12 ", "1e9", "-3"]


@pytest.mark.parametrize("kind", [IsoDate, BoundedDate])
@pytest.mark.parametrize("value", NUMBERS, ids=repr)
def test_a_number_is_not_a_date(kind, value):
    with pytest.raises(ValidationError) as err:
        TypeAdapter(kind).validate_python(value)
    (error,) = err.value.errors()
    assert error["type"] == "iso_8601"
    assert error["msg"] == "must be a date as ISO 8601 text, e.g. 2026-01-31, not a number"


@pytest.mark.parametrize("kind", [IsoDatetime, IsoAwareDatetime])
@pytest.mark.parametrize("value", NUMBERS, ids=repr)
def test_a_number_is_not_a_date_and_time(kind, value):
    with pytest.raises(ValidationError) as err:
        TypeAdapter(kind).validate_python(value)
    assert err.value.errors()[0]["type"] == "iso_8601"


def test_text_dates_and_times_still_parse_and_keep_their_other_rules():
    assert TypeAdapter(IsoDate).validate_python("2026-01-31") == date(2026, 1, 31)
    assert TypeAdapter(IsoDate).validate_json('"2026-01-31"') == date(2026, 1, 31)
    assert TypeAdapter(IsoDatetime).validate_python("2026-01-31T09:30:00Z").hour == 9
    aware = TypeAdapter(IsoAwareDatetime)
    assert aware.validate_python("2026-01-31T09:30:00+01:00").utcoffset() is not None
    with pytest.raises(ValidationError, match="timezone"):
        aware.validate_python("2026-01-31T09:30:00")  # still must carry its offset
    with pytest.raises(ValidationError, match="greater than or equal"):
        TypeAdapter(BoundedDate).validate_python("0001-01-01")  # still bounded
    with pytest.raises(ValidationError):
        TypeAdapter(IsoDate).validate_python("31/01/2026")


def test_the_published_schema_is_unchanged():
    """Only the parsing is stricter: the contract already said a date string."""
    assert TypeAdapter(IsoDate).json_schema() == {"format": "date", "type": "string"}
    assert TypeAdapter(IsoDatetime).json_schema() == {"format": "date-time", "type": "string"}


# --- every date or time a client can send ---------------------------------------------------


def _temporal(tp: Any) -> bool:
    return tp in PYDANTIC_TEMPORAL or (isinstance(tp, type) and issubclass(tp, date))


def _unguarded(tp: Any, where: str, guarded: bool, found: dict[str, bool], seen: set[Any]) -> None:
    """Record in `found` every date/time reachable from annotation `tp`: where -> guarded."""
    if get_origin(tp) is Annotated:
        base, *meta = get_args(tp)
        _unguarded(base, where, guarded or any(m in GUARDS for m in meta), found, seen)
    elif _temporal(tp):
        found[where] = guarded
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp in seen:
            return
        seen.add(tp)
        for name, field in tp.model_fields.items():
            mine = any(m in GUARDS for m in field.metadata)
            _unguarded(field.annotation, f"{tp.__name__}.{name}", mine, found, seen)
    else:
        for arg in get_args(tp):
            _unguarded(arg, where, guarded, found, seen)


def _inputs(dependant: Any, route: str, found: dict[str, bool], seen: set[Any]) -> None:
    for field in [*dependant.query_params, *dependant.body_params, *dependant.header_params]:
        info = field.field_info
        mine = any(m in GUARDS for m in info.metadata)
        _unguarded(info.annotation, f"{route} {field.name}", mine, found, seen)
    for sub in dependant.dependencies:
        _inputs(sub, route, found, seen)


def _every_input() -> dict[str, bool]:
    found: dict[str, bool] = {}
    seen: set[Any] = set()
    for module in ROUTERS:
        mod = importlib.import_module(module)
        for router in (r for r in vars(mod).values() if isinstance(r, APIRouter)):
            for route in router.routes:
                if isinstance(route, APIRoute):
                    _inputs(route.dependant, f"{sorted(route.methods)[0]} {route.path}", found, seen)
    return found


def test_every_date_or_time_a_client_sends_refuses_numbers():
    found = _every_input()
    # The walk reaches bodies, nested models and query parameters (else it proves nothing).
    for expected in (
        "ChildIn.date_of_birth",
        "ConsentIn.obtained_at",
        "ReviewCreate.next_review_on",
        "ActionIn.due_on",
        "SharingDecisionCreate.decided_at",
        "DisclosureCreate.disclosed_at",
    ):
        assert found.get(expected) is True, expected
    queries = [where for where in found if " " in where]
    assert any(where.endswith(" date_of_birth") for where in queries), queries
    assert any(where.endswith(" at_from") for where in queries), queries
    assert any(where.endswith(" opened_from") for where in queries), queries
    unguarded = sorted(where for where, guarded in found.items() if not guarded)
    assert not unguarded, f"dates or times that would take a number as Unix time: {unguarded}"


def test_the_walk_finds_an_unguarded_date():
    class Probe(BaseModel):
        plain: date | None = None
        fine: IsoDate
        nested: list[dict[str, typing.Optional[AwareDatetime]]]  # noqa: UP045 - the old spelling too

    found: dict[str, bool] = {}
    _unguarded(Probe, "Probe", False, found, set())
    assert found == {"Probe.plain": False, "Probe.fine": True, "Probe.nested": False}
