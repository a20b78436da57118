"""The FHIR R4 facade's common parts (docs/fhir.md): media type, OperationOutcome, searchset
Bundles, identifiers and search tokens.

Each service answers FHIR for the resources it owns under `/fhir/<ResourceType>` (referrals:
`ServiceRequest`; consent: `Consent`, `AuditEvent`; ...), calling its own rule and policy
functions, so a FHIR read is checked exactly as a `/v1` read is. This module holds nothing
domain-specific: it turns the services' errors into `OperationOutcome`s and wraps resources.

Errors: every error answer on a `/fhir` path is an RFC 9457 problem inside the service (the
same `Problem` classes and handlers as `/v1`); `FhirOutcomeMiddleware`, installed in every
app (`shared.app`), rewrites it on the way out into an `OperationOutcome` in
`application/fhir+json` with the same status and headers. Each issue has the FHIR issue code
for the status, `diagnostics` naming the field, `expression` the element, and `details` the
problem's type (system `https://early-help.example/problems`, code the slug).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.problems import PROBLEM_BASE, PROBLEM_JSON, Problem, ValidationProblem

FHIR_JSON = "application/fhir+json"
FHIR_PREFIX = "/fhir"
FHIR_VERSION = "4.0.1"
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
# This API's own naming systems and code systems (stable URIs, documented in docs/fhir.md).
EH_BASE = "https://early-help.example/fhir/"
PROBLEM_SYSTEM = PROBLEM_BASE.rstrip("/")


def eh_system(kind: str) -> str:
    """An identifier system or code system of this API: `.../Id/<kind>` or `.../CodeSystem/<kind>`."""
    return EH_BASE + kind


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


# HTTP status -> the OperationOutcome issue code (http://hl7.org/fhir/R4/valueset-issue-type.html).
ISSUE_CODES = {
    400: "structure",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "invalid",
    428: "required",
    429: "throttled",
    500: "exception",
    502: "transient",
    503: "transient",
    504: "timeout",
}


def issue_code(status: int, error_code: str | None = None) -> str:
    if status == 422 and error_code == "missing":
        return "required"
    if status == 422 and error_code in ("extra_forbidden", "not-supported"):
        return "not-supported"
    return ISSUE_CODES.get(status, "exception" if status >= 500 else "processing")


def operation_outcome(
    status: int,
    detail: str,
    *,
    type_: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An OperationOutcome for an error answer: one issue per invalid field, else one issue."""
    details: dict[str, Any] = {"text": detail}
    if type_ and type_.startswith(PROBLEM_BASE):
        details["coding"] = [{"system": PROBLEM_SYSTEM, "code": type_.removeprefix(PROBLEM_BASE)}]
    severity = "error" if status < 500 else "fatal"
    issues: list[dict[str, Any]] = []
    for err in errors or []:
        field = str(err.get("field") or "")
        issue: dict[str, Any] = {
            "severity": severity,
            "code": issue_code(status, err.get("code")),
            "details": details,
            "diagnostics": f"{field}: {err.get('message', 'invalid')}" if field else str(err.get("message")),
        }
        if field:
            issue["expression"] = [field]
        issues.append(issue)
    if not issues:
        issues.append(
            {"severity": severity, "code": issue_code(status), "details": details, "diagnostics": detail}
        )
    return {"resourceType": "OperationOutcome", "issue": issues}


def outcome_from_problem(status: int, body: bytes) -> dict[str, Any]:
    try:
        problem = json.loads(body)
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    return operation_outcome(
        status,
        str(problem.get("detail") or problem.get("title") or "Error"),
        type_=problem.get("type"),
        errors=problem.get("errors") if isinstance(problem.get("errors"), list) else None,
    )


def is_fhir_path(path: str) -> bool:
    return path == FHIR_PREFIX or path.startswith(FHIR_PREFIX + "/")


class FhirOutcomeMiddleware:
    """On `/fhir` paths, every `application/problem+json` answer (from a handler, the body
    limit, the gateway's checks) leaves as an `OperationOutcome` in `application/fhir+json`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_fhir_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if ctype.split(b";")[0].strip() == PROBLEM_JSON.encode():
                    start = message
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            status = start["status"]
            body = json.dumps(outcome_from_problem(status, b"".join(chunks))).encode()
            kept = [
                (k, v)
                for k, v in start.get("headers", ())
                if k.lower() not in (b"content-type", b"content-length")
            ]
            kept += [(b"content-type", FHIR_JSON.encode()), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": kept})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)


class UnreadableResource(Problem):
    status, type_slug, title = 400, "bad-request", "Bad request"


async def resource_body(request: Request) -> Any:
    """The request's FHIR resource (JSON, `application/fhir+json` or `application/json`)."""
    try:
        return json.loads(await request.body())
    except (ValueError, RecursionError):
        raise UnreadableResource("The body is not a JSON FHIR resource") from None


def request_body(resource: str) -> dict[str, Any]:
    """The `openapi_extra` of an operation that takes a FHIR resource."""
    schema = {"$ref": "#/components/schemas/FhirResource"}
    return {
        "requestBody": {
            "required": True,
            "description": f"A FHIR R4 {resource}",
            "content": {FHIR_JSON: {"schema": schema}, "application/json": {"schema": schema}},
        }
    }


def searchset(resources: list[dict[str, Any]], self_url: str, base_url: str = "") -> dict[str, Any]:
    """A `searchset` Bundle of these resources (every one a match)."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [
            {
                "fullUrl": f"{base_url}{FHIR_PREFIX}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def token(value: str, param: str) -> tuple[str | None, str]:
    """A FHIR token search value, `system|code` (or a bare `code`): (system, code)."""
    system, bar, code = value.partition("|")
    if not bar:
        return None, value
    if not code:
        raise ValidationProblem(param, "a token is system|value: the value is missing")
    return system or None, code


def nhs_number_token(value: str, param: str) -> str:
    """The NHS number a `...identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919` names
    (10 digits; the check digit is the service's to verify)."""
    system, code = token(value, param)
    if system != NHS_NUMBER_SYSTEM:
        raise ValidationProblem(param, f"search by the NHS number: {NHS_NUMBER_SYSTEM}|<10 digits>")
    digits = code.replace(" ", "").replace("-", "")
    if len(digits) != 10 or not digits.isdigit():
        raise ValidationProblem(param, "an NHS number is 10 digits")
    return digits


def fhir_responses(resource: str, *, created: bool = False, bundle: bool = False) -> dict[int | str, Any]:
    """The OpenAPI `responses` of a FHIR operation: the resource (or a Bundle) in
    `application/fhir+json`; errors are OperationOutcomes (see `document_fhir`)."""
    what = "A searchset Bundle of " + resource if bundle else "The " + resource
    ok = {
        "description": what,
        "content": {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/FhirResource"}}},
    }
    return {201 if created else 200: ok}


FHIR_RESOURCE_SCHEMA: dict[str, Any] = {
    "title": "FhirResource",
    "type": "object",
    "description": "A FHIR R4 resource (http://hl7.org/fhir/R4): its `resourceType` says which.",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string"}},
    "additionalProperties": True,
}


def document_fhir(schema: dict[str, Any]) -> dict[str, Any]:
    """The `/fhir` operations answer errors as OperationOutcomes in `application/fhir+json`,
    not problems: rewrite what `document_problems` wrote for them."""
    fhir_paths = {p: item for p, item in schema.get("paths", {}).items() if is_fhir_path(p)}
    if not fhir_paths:
        return schema
    ref = {"$ref": "#/components/schemas/FhirResource"}
    for item in fhir_paths.values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if PROBLEM_JSON in content:
                    response["content"] = {FHIR_JSON: {"schema": ref}}
                    response["description"] += " (an OperationOutcome)"
    schema.setdefault("components", {}).setdefault("schemas", {})["FhirResource"] = FHIR_RESOURCE_SCHEMA
    return schema
