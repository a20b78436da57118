"""RFC 9457 problem responses for every error, mapped once.

Domain errors subclass `Problem` with a stable `type` URI; handlers turn them, request
validation errors, HTTP exceptions and anything unexpected into `application/problem+json`
(the unexpected case is logged with the request id, never returned as a stack trace).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

PROBLEM_BASE = "https://early-help.example/problems/"
PROBLEM_JSON = "application/problem+json"

log = logging.getLogger("shared.problems")


class Problem(Exception):
    """A domain error with an RFC 9457 representation."""

    status: int = 400
    type_slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.type_slug


class NotFound(Problem):
    status, type_slug, title = 404, "not-found", "Not found"


class Conflict(Problem):
    status, type_slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(Problem):
    status, type_slug, title = 412, "precondition-failed", "Precondition failed"


class PreconditionRequired(Problem):
    status, type_slug, title = 428, "precondition-required", "Precondition required"


class Unauthorized(Problem):
    status, type_slug, title = 401, "unauthorized", "Unauthorized"

    def __init__(
        self, detail: str = "Missing, invalid or expired token", *, credentials: bool = True
    ) -> None:
        # RFC 6750 3.1: a request that sent no credentials gets the challenge without an error code.
        challenge = 'Bearer error="invalid_token"' if credentials else 'Bearer realm="early-help"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(Problem):
    status, type_slug, title = 403, "insufficient-scope", "Insufficient scope"

    def __init__(self, scope: str) -> None:
        super().__init__(
            f"This call needs the scope '{scope}'",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )


class ValidationProblem(Problem):
    """A 422 naming the field(s): used for rules Pydantic cannot express."""

    status, type_slug, title = 422, "validation-error", "Validation failed"

    def __init__(self, field: str, message: str, *, type_slug: str | None = None) -> None:
        loc = field.split(".")
        super().__init__(
            f"{field}: {message}",
            errors=[{"field": field, "loc": loc, "message": message}],
        )
        if type_slug:
            self.type_slug = type_slug


class ServiceUnavailable(Problem):
    status, type_slug, title = 503, "service-unavailable", "Service unavailable"


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    type_: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_ or "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _instance(request: Request) -> str:
    return request.url.path


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        loc = list(err.get("loc", ()))
        out.append(
            {
                "field": _loc_to_field(loc),
                "loc": [str(p) for p in loc],
                "message": str(err.get("msg", "invalid")),
                "code": err.get("type"),
            }
        )
    return out


def _is_busy(exc: Exception) -> bool:
    """A lock wait that ran out (SQLite busy timeout, PostgreSQL lock_timeout, or the wait for
    a connection: SQLite's one writer per process, or a full PostgreSQL pool)."""
    if isinstance(exc, PoolTimeout):
        return True
    text = str(getattr(exc, "orig", exc)).lower()
    return (
        "database is locked" in text
        or "lock timeout" in text
        or "locknotavailable" in type(getattr(exc, "orig", exc)).__name__.lower()
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            type_=exc.type,
            instance=_instance(request),
            errors=exc.errors,
            headers=exc.headers,
            extra=exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(list(exc.errors()))
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            422,
            "Validation failed",
            f"Invalid fields: {fields}",
            type_=PROBLEM_BASE + "validation-error",
            instance=_instance(request),
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        return problem_response(
            exc.status_code,
            title,
            str(exc.detail),
            instance=_instance(request),
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, exc: StaleDataError) -> JSONResponse:
        return problem_response(
            412,
            "Precondition failed",
            "The resource was changed by another request at the same time; fetch it again",
            type_=PROBLEM_BASE + "precondition-failed",
            instance=_instance(request),
        )

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        # Date arithmetic at the edges of the calendar (year 1 or 9999) in a query.
        return problem_response(
            422,
            "Validation failed",
            "A date or number in the request is out of the supported range",
            type_=PROBLEM_BASE + "validation-error",
            instance=_instance(request),
            errors=[{"field": "query", "loc": ["query"], "message": "out of range"}],
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if not _is_busy(exc):
            return await _unexpected(request, exc)
        log.warning("database busy", extra={"request_id": request.scope.get("state", {}).get("request_id")})
        return problem_response(
            503,
            "Service busy",
            "The database is busy; nothing was stored. Retry shortly (with the same Idempotency-Key).",
            type_=PROBLEM_BASE + "database-busy",
            instance=_instance(request),
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Runs outside the request-id middleware, so the id is taken from the scope.
        request_id = request.scope.get("state", {}).get("request_id")
        log.exception("unhandled error", extra={"request_id": request_id})
        return problem_response(
            500,
            "Internal error",
            "An unexpected error occurred; quote the request id to support.",
            type_=PROBLEM_BASE + "internal-error",
            instance=_instance(request),
            extra={"request_id": request_id},
            headers={"X-Request-ID": request_id} if request_id else None,
        )


# The OpenAPI description of every error answer (RFC 9457), and where it goes in a document.
PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An RFC 9457 problem. `errors` names each invalid field (422).",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "loc": {"type": "array", "items": {}},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Make an OpenAPI document say what the service really answers on errors: a 422 is a
    problem naming the field (not FastAPI's `HTTPValidationError` as plain JSON), and every
    other status an operation does not list (401, 403, 404, 409, 412, 428, 503...) is a
    problem too (the `default` response)."""
    ref = {"$ref": "#/components/schemas/Problem"}
    problem = {PROBLEM_MEDIA_TYPE: {"schema": ref}}
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "422" in responses:
                responses["422"] = {
                    "description": "Validation failed: the problem names each field",
                    "content": problem,
                }
            responses.setdefault(
                "default", {"description": "An error, as an RFC 9457 problem", "content": problem}
            )
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    text = str(schema.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}" not in text:
            schemas.pop(unused, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    return schema
