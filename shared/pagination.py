"""Cursor pagination: `?limit=` (default 50, max 200) and an opaque `?cursor=`.

Lists are ordered by a (timestamp, id) key; the cursor carries the last key seen, so a page
is one indexed range scan however deep the client goes.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from shared.clock import parse_datetime
from shared.problems import ValidationProblem

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (max 200)")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500, description="Opaque cursor from next_cursor")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageDep = Annotated[PageParams, Depends(page_params)]


def page_params_up_to(max_limit: int) -> Any:
    """A page dependency allowing pages up to `max_limit` (a list whose items are small and
    read whole, such as an episode's chronology); the default page size is unchanged."""

    async def params(limit: int = DEFAULT_LIMIT, cursor: str | None = None) -> PageParams:
        return PageParams(limit=limit, cursor=cursor)

    # Real objects, not the strings `from __future__ import annotations` leaves: the bound is
    # this call's, which FastAPI could not resolve from the module's names.
    params.__annotations__ = {
        "limit": Annotated[int, Query(ge=1, le=max_limit, description=f"Page size (max {max_limit})")],
        "cursor": Annotated[str | None, Query(max_length=500, description="Opaque cursor from next_cursor")],
        "return": PageParams,
    }
    return params


def encode_cursor(sort_value: Any, id_value: Any) -> str:
    if isinstance(sort_value, datetime):
        sort_value = sort_value.isoformat()
    raw = json.dumps([sort_value, str(id_value)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError
        return value[0], str(value[1])
    except Exception as exc:
        raise ValidationProblem("cursor", "not a cursor this API issued") from exc


def keyset(
    stmt: Any,
    sort_col: InstrumentedAttribute[Any],
    id_col: InstrumentedAttribute[Any],
    params: PageParams,
    *,
    descending: bool = True,
) -> Any:
    """Apply ordering, the cursor position and limit+1 (to know if there is a next page)."""
    if params.cursor:
        sort_value, id_value = decode_cursor(params.cursor)
        if isinstance(sort_value, str):
            try:
                sort_value = parse_datetime(sort_value)
            except ValueError:
                pass
        try:
            if id_col.type.python_type is int:
                id_value = int(id_value)  # type: ignore[assignment]
        except (NotImplementedError, ValueError) as exc:
            raise ValidationProblem("cursor", "not a cursor this API issued") from exc
        if descending:
            cond = or_(sort_col < sort_value, and_(sort_col == sort_value, id_col < id_value))
        else:
            cond = or_(sort_col > sort_value, and_(sort_col == sort_value, id_col > id_value))
        stmt = stmt.where(cond)
    if descending:
        stmt = stmt.order_by(sort_col.desc(), id_col.desc())
    else:
        stmt = stmt.order_by(sort_col.asc(), id_col.asc())
    return stmt.limit(params.limit + 1)


def page_of(
    rows: list[Any], params: PageParams, sort_attr: str, id_attr: str = "id"
) -> tuple[list[Any], str | None]:
    """Split limit+1 rows into a page and the cursor for the next one."""
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1]
        return rows, encode_cursor(getattr(last, sort_attr), getattr(last, id_attr))
    return rows, None
