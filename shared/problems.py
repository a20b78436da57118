"""RFC 9457 problem responses for every error, mapped once.

Domain errors subclass `Problem` with a stable `type` URI; handlers turn them, request
validation errors, HTTP exceptions and anything unexpected into `application/problem+json`
(the unexpected case is logged with the request id, never returned as a stack trace).
"""

from __future__ import annotations

import inspect
import logging
from types import CodeType
from typing import Any

from fastapi import FastAPI, Request, routing
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
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
PROBLEM_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ProblemError",
    "type": "object",
    "description": "One invalid field or parameter of the request.",
    "required": ["field", "loc", "message"],
    "properties": {
        "field": {"type": "string", "description": "The field, dotted (`family_members.0.name`)."},
        "loc": {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "description": (
                "Where it is: `body`, `query`, `path` or `header`, then the field's path (a list "
                "item by its index)."
            ),
        },
        "message": {"type": "string", "description": "What is wrong, for a person to read."},
        "code": {
            "type": "string",
            "description": (
                "For request validation, the machine-readable error type (Pydantic's: `missing`, "
                "`extra_forbidden`, `string_too_long`, `string_pattern_mismatch`, `enum`, ...)."
            ),
        },
    },
}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": (
        "An RFC 9457 problem. `type` names the problem (a stable URI under "
        f"{PROBLEM_BASE}); `errors` names each invalid field (422)."
    ),
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": f"`{PROBLEM_BASE}<slug>`, or `about:blank`"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The request path"},
        "request_id": {"type": "string", "description": "Quote it to support (500s)"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ProblemError"}},
    },
}

# The error answers every operation may give, by status (the gateway adds 401, 403 and 429).
PROBLEM_STATUSES: dict[int, str] = {
    400: "Bad request: the body could not be read (malformed, or nested too deeply to parse)",
    401: "Missing, invalid or expired token",
    403: "The caller may not do this",
    404: "Not found, or not visible to the caller",
    409: "Conflict with the resource's current state",
    412: "If-Match does not match the current ETag: fetch the resource again",
    413: "The request body is too large",
    422: "Validation failed: the problem names each field",
    428: "This update needs If-Match with the current ETag",
    429: "Rate limit exceeded: retry after Retry-After seconds",
    503: "Busy or a partner service is unavailable: retry after Retry-After seconds",
}
# `default`: what no operation lists, a fault on the server's side (an unexpected error, the
# database busy, a service down or slow behind the gateway). Every 4xx is listed by status.
SERVER_FAULT = "A server-side fault (500, 502, 503 with Retry-After, 504), as an RFC 9457 problem"
_PROJECT = ("services.", "shared.", "gateway.")


def _names(code: CodeType) -> set[str]:
    names: set[str] = set()
    pending = [code]
    while pending:
        c = pending.pop()
        names.update(c.co_names)
        pending.extend(k for k in c.co_consts if isinstance(k, CodeType))
    return names


def _reached(func: Any, depth: int, seen: dict[CodeType, int], found: set[Any]) -> None:
    """What a function can raise or call, read from its code: Problem classes and the
    project's functions it names (followed `depth` calls deep), collected in `found`. The
    same whatever the order of the walk, so the document is the same in every process."""
    code = getattr(func, "__code__", None)
    if code is None or seen.get(code, -1) >= depth:
        return
    seen[code] = depth
    names = sorted(_names(code))
    found.update(n for n in names if n == "check_if_match")
    scope = getattr(func, "__globals__", {})
    for name in names:
        obj = scope.get(name)
        targets = [getattr(obj, n, None) for n in names] if inspect.ismodule(obj) else [obj]
        for target in targets:
            if inspect.isclass(target) and issubclass(target, Problem):
                found.add(target)
            elif depth > 0 and inspect.isfunction(target) and target.__module__.startswith(_PROJECT):
                _reached(target, depth - 1, seen, found)


def route_errors(route: Any, depth: int = 3) -> tuple[set[type[Problem]], bool]:
    """The Problem classes an operation can raise (its endpoint, its dependencies and what they
    call) and whether it honours If-Match: read from the code, so the document follows it."""
    found: set[Any] = set()
    seen: dict[CodeType, int] = {}
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if dependant.call is not None:
            _reached(dependant.call, depth, seen, found)
        pending.extend(dependant.dependencies)
    problems = {p for p in found if inspect.isclass(p) and issubclass(p, Problem)}
    return problems, "check_if_match" in found


def _problem_response(description: str, ref: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": ref}}}}


def _describe(status: int, problems: set[type[Problem]]) -> str:
    types = sorted({p.type_slug for p in problems if p.status == status and p.type_slug})
    text = PROBLEM_STATUSES.get(status, "Error")
    return text + (f" (`type`: {', '.join(types)})" if types else "")


def document_problems(schema: dict[str, Any], routes: list[Any] | None = None) -> dict[str, Any]:
    """Make an OpenAPI document say what the service really answers on errors, each as an
    RFC 9457 problem (`Problem`): 404 where the path names a resource, 412/428 where the
    operation honours If-Match, 400 and 413 where it takes a body, 422 everywhere (a field or an unknown
    query parameter; not FastAPI's `HTTPValidationError`), every status a Problem it can raise
    carries (read from the code, `route_errors`), and server faults (5xx) as `default`.

    Statuses an operation documents itself (the OAuth token endpoint's RFC 6749 errors) stay."""
    ref = "#/components/schemas/Problem"
    raised: dict[tuple[str, str], tuple[set[type[Problem]], bool]] = {}
    for route in routing.iter_route_contexts(routes or []):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            errors = route_errors(route)
            for method in route.methods or ():
                raised[(method.lower(), str(route.path_format))] = errors
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            problems, if_match = raised.get((method, path), (set(), False))
            statuses = {p.status for p in problems if p.status >= 400}
            statuses.add(422)
            if "{" in path:
                statuses.add(404)
            if if_match:
                statuses |= {412, 428}
            if "requestBody" in operation:
                statuses |= {400, 413}
            responses = operation["responses"]
            for status in sorted(statuses):
                key = str(status)
                ours = key not in responses or "HTTPValidationError" in str(responses[key])
                if ours:
                    responses[key] = _problem_response(_describe(status, problems), ref)
            responses.setdefault("default", _problem_response(SERVER_FAULT, ref))
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    text = str(schema.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}" not in text:
            schemas.pop(unused, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["ProblemError"] = PROBLEM_ERROR_SCHEMA
    return schema
