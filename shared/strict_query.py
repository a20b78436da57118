"""Unknown query parameters are a 422, as unknown body fields are.

A misspelt or unsupported filter (`GET /v1/referrals?reference=RFS-1`) used to be ignored, so
the caller received the whole list and believed it filtered. Every documented operation now
refuses query parameters it does not declare, naming each one and listing what it accepts.

Installed once per app (`create_service_app`) as an app-wide dependency: it reads the matched
route's declared query parameters (its own and its dependencies', including query models) and
compares them with the request's. Routes left out of the OpenAPI (internal calls, the
gateway's pass-through) are not checked: their parameters are not a public contract.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel

_ACCEPTED: dict[int, frozenset[str]] = {}


def _names(dependant: Dependant, seen: set[int]) -> set[str]:
    if id(dependant) in seen:
        return set()
    seen.add(id(dependant))
    names: set[str] = set()
    for field in dependant.query_params:
        annotation: Any = getattr(field.field_info, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= {info.alias or name for name, info in annotation.model_fields.items()}
        else:
            names.add(field.alias)
    for sub in dependant.dependencies:
        names |= _names(sub, seen)
    return names


def accepted_query_parameters(route: APIRoute) -> frozenset[str]:
    """The query parameters a route declares (computed once per route)."""
    key = id(route)
    if key not in _ACCEPTED:
        _ACCEPTED[key] = frozenset(_names(route.dependant, set()))
    return _ACCEPTED[key]


async def reject_unknown_query_parameters(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema or not request.query_params:
        return
    accepted = accepted_query_parameters(route)
    unknown = sorted({name for name in request.query_params if name not in accepted})
    if not unknown:
        return
    allowed = ", ".join(sorted(accepted)) or "none"
    raise RequestValidationError(
        [
            {
                "type": "extra_forbidden",
                "loc": ("query", name),
                "msg": f"Unknown query parameter; this operation accepts: {allowed}",
                "input": request.query_params.get(name),
            }
            for name in unknown
        ]
    )
