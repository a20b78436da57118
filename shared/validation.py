"""Input rules every service shares: dates and times as ISO 8601 text only, bounded dates, and no
NUL characters in any text.

PostgreSQL cannot store a NUL character in text, and no legitimate case note contains one,
so a NUL anywhere in a JSON body or query string is a 422 naming the field, before any
handler runs (rather than a database error half-way through a write).
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.clock import parse_datetime
from shared.problems import PROBLEM_BASE, problem_response

# A number, or text that is only a number ("0", "1.5e9"): what pydantic's lax mode would take
# as Unix time for a date or a date-time.
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _not_a_number(what: str, example: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if isinstance(value, bool | int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
            raise PydanticCustomError(
                "iso_8601", f"must be {what} as ISO 8601 text, e.g. {example}, not a number"
            )
        return value

    return BeforeValidator(check)


# Dates and times in bodies and queries are ISO 8601 text, as the schema says. pydantic's lax
# mode would read a number as Unix time (`0` -> 1970-01-01, in a body or in a query string),
# so a client's mistake would be stored as a record from 1970 instead of refused: these types
# refuse it with a 422 naming the field. Use them for every date or time a client sends.
_DATE_TEXT = _not_a_number("a date", "2026-01-31")
_MOMENT_TEXT = _not_a_number("a date and time", "2026-01-31T09:30:00Z")
IsoDate = Annotated[date, _DATE_TEXT]
IsoDatetime = Annotated[datetime, _MOMENT_TEXT]
IsoAwareDatetime = Annotated[AwareDatetime, _MOMENT_TEXT]


def _in_utc(value: datetime) -> datetime:
    return parse_datetime(value)


# A date and time stored as sent, in UTC: one without an offset is taken as UTC.
IsoUtcDatetime = Annotated[datetime, _MOMENT_TEXT, AfterValidator(_in_utc)]

# Dates a query may ask about: wide enough for any real record, narrow enough that date
# arithmetic (a year either side, working days) cannot overflow.
EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)
BoundedDate = Annotated[date, _DATE_TEXT, Field(ge=EARLIEST, le=LATEST)]


def _nul_path(value: Any, path: list[str]) -> list[str] | None:
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            if "\x00" in str(k):
                return [*path, str(k)]
            found = _nul_path(v, [*path, str(k)])
            if found is not None:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _nul_path(v, [*path, str(i)])
            if found is not None:
                return found
    return None


class NulGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b""):
            await self._reject(scope, receive, send, "query", ["query"])
            return
        if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if b"\\u0000" in body or b"\x00" in body:
            try:
                path = _nul_path(json.loads(body), []) or ["body"]
            except ValueError:
                path = ["body"]
            await self._reject(scope, receive, send, ".".join(path), ["body", *path])
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, field: str, loc: list[str]) -> None:
        resp = problem_response(
            422,
            "Validation failed",
            f"{field}: text may not contain NUL characters",
            type_=PROBLEM_BASE + "validation-error",
            instance=scope.get("path"),
            errors=[{"field": field, "loc": loc, "message": "text may not contain NUL characters"}],
        )
        await resp(scope, receive, send)


# ---- names as people type them ----
# Bidirectional embeddings, overrides and isolates reorder what a reader sees (a name that
# displays as "Smith" can be stored as something else), so they are refused; invisible
# characters (zero-width space, word joiner, byte-order mark, soft hyphen) are dropped so two
# spellings of one name compare equal. The joiners U+200C/U+200D are kept: Persian and Indic
# scripts need them (matching drops them, see `name_key`).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad"))
JOINERS = dict.fromkeys(map(ord, "\u200c\u200d"))


def clean_name(value: Any) -> Any:
    """NFC, no bidi controls (ValueError), no invisible characters, no other control codes."""
    if not isinstance(value, str):
        return value
    value = unicodedata.normalize("NFC", value).translate(INVISIBLE)
    if any(ch in BIDI_CONTROLS for ch in value):
        raise ValueError("must not contain bidirectional control characters (U+202A-U+202E, U+2066-U+2069)")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("must not contain control characters")
    return value


def name_key(value: str) -> str:
    """What two names are compared on: cleaned, without joiners, case-folded."""
    return unicodedata.normalize("NFC", value).translate(INVISIBLE).translate(JOINERS).casefold()


# The characters `clean_name` refuses, as the JSON Schema `pattern` the OpenAPI shows on every
# name field (ECMA-262 syntax): control codes (category Cc) and the bidirectional controls.
NAME_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069\\u200e\\u200f\\u061c]*$"
NAME_RULES = (
    "A name: stored in Unicode NFC without invisible characters (zero-width space, word joiner, "
    "byte-order mark, soft hyphen); control codes and bidirectional control characters are refused (422)"
)


class _CleanName:
    """`clean_name` before the string's own checks, and its rule stated in the JSON Schema: the
    `pattern` of what it refuses (a field's own description, where it has one, stays)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(clean_name, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        js = handler(schema)
        js.setdefault("pattern", NAME_PATTERN)
        js.setdefault("description", NAME_RULES)
        return js


CleanName = _CleanName()
