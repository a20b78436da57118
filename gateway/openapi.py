"""One OpenAPI document for the whole `/v1` API, merged from the services at the gateway.

Only operations in the route table are published (what the gateway would forward), each
with its required scope as an OAuth2 security requirement and an `x-required-scope`
extension. Component schemas are prefixed with the service name so two services' `Page`
models cannot collide. The merged document is cached; a service that is down is retried on
the next request and noted in `x-missing-services`.
"""

from __future__ import annotations

import copy
import json
import time
from typing import TYPE_CHECKING, Any

import aiohttp
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gateway.clients import ALL_SCOPES
from gateway.routes import Route, RouteTable
from shared.app import standard_keywords
from shared.fhir import document_fhir
from shared.problems import PROBLEM_MEDIA_TYPE, PROBLEM_STATUSES, document_problems

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.proxy import Upstream

CACHE_SECONDS = 60.0
METHODS = ("get", "post", "put", "patch", "delete")


def _prefix_schemas(doc: dict[str, Any], prefix: str) -> dict[str, Any]:
    schemas = doc.get("components", {}).get("schemas", {})
    if not schemas:
        return doc
    text = json.dumps(doc)
    for name in sorted(schemas, key=len, reverse=True):
        text = text.replace(f'"#/components/schemas/{name}"', f'"#/components/schemas/{prefix}{name}"')
    out = json.loads(text)
    renamed = {}
    for name, schema in out["components"]["schemas"].items():
        if schema.get("title") == name:
            # Generators name classes by title: two services' `Problem` (or `Page`) would be one.
            schema["title"] = f"{prefix}{name}"
        renamed[f"{prefix}{name}"] = schema
    out["components"]["schemas"] = renamed
    return out


def gateway_document(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """The gateway's own operations (OAuth, admin, practitioners, teams, code lists), the base
    the services' documents are merged into."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        servers=[{"url": settings.public_url, "description": "The gateway"}],
    )
    return standard_keywords(document_problems(doc, app.routes))


def _gateway_responses(responses: dict[str, Any], scope: str | None, prefix: str) -> dict[str, Any]:
    """What the gateway itself answers before a call reaches the service: 401 (token), 403
    (scope, when the route needs one) and 429 (rate limit), as the service's problem schema."""
    out = dict(responses)
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{prefix}Problem"}}}
    gateway = {401: PROBLEM_STATUSES[401], 429: PROBLEM_STATUSES[429]}
    if scope:
        gateway[403] = f"The token lacks the scope `{scope}`"
    for status, text in gateway.items():
        own = out.get(str(status), {}).get("description", "")
        if status == 403 and own.startswith(PROBLEM_STATUSES[403]):
            text = f"{text}, or {own[0].lower()}{own[1:]}"  # the service's own refusals too
        out[str(status)] = {"description": text, "content": problem}
    return dict(sorted(out.items()))


def merge(base: dict[str, Any], services: dict[str, dict[str, Any]], table: RouteTable) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    doc.setdefault("components", {}).setdefault("schemas", {})
    doc["components"]["securitySchemes"] = {
        "oauth2": {
            "type": "oauth2",
            "description": (
                "An access token from `/oauth/token`: client credentials, or a token exchange "
                "(RFC 8693) acting for one of the agency's practitioners. Which scopes each agency "
                "type may hold, and who sees what: docs/security.md."
            ),
            "flows": {
                "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {s: s for s in ALL_SCOPES}}
            },
        },
        "clientBasic": {
            "type": "http",
            "scheme": "basic",
            "description": "The client's id and secret, at `/oauth/token` only (RFC 6749 2.3.1)",
        },
    }
    paths: dict[str, Any] = {}
    wanted = {(r.method.lower(), r.path): r for r in table.routes if r.query is None}
    # A query-routed route (`GET /fhir/Task` for deadlines) shares its plain sibling's operation.
    alternates = {(r.method.lower(), r.path, r.service): r for r in table.routes if r.query is not None}
    alternate_ops: list[tuple[str, str, Any, Any]] = []
    sources = dict(services)
    sources["gateway"] = {"paths": {p: v for p, v in base.get("paths", {}).items() if p.startswith("/v1/")}}
    for service, sdoc in sources.items():
        prefix = "" if service == "gateway" else service.capitalize() + "_"
        sdoc = _prefix_schemas(sdoc, prefix)
        doc["components"]["schemas"].update(sdoc.get("components", {}).get("schemas", {}))
        for path, item in sdoc.get("paths", {}).items():
            for method in METHODS:
                op = item.get(method)
                alternate = alternates.get((method, path, service))
                if op is not None and alternate is not None:
                    alternate_ops.append((method, path, alternate, op))
                    continue
                route = wanted.get((method, path))
                if op is None or route is None or route.service != service:
                    continue
                op = dict(op)
                op["security"] = [{"oauth2": [route.scope] if route.scope else []}]
                op["x-required-scope"] = route.scope
                op["x-service"] = service
                needs = (
                    f"Required scope: `{route.scope}`" if route.scope else "Any valid token (no scope needed)"
                )
                op["description"] = (op.get("description", "") + f"\n\n{needs}").strip()
                op["responses"] = _gateway_responses(op.get("responses", {}), route.scope, prefix)
                paths.setdefault(path, {})[method] = op
    for method, path, route, alt in alternate_ops:
        if method in paths.get(path, {}):
            paths[path][method] = with_alternate(paths[path][method], route, alt)
    base_paths = {p: v for p, v in base.get("paths", {}).items() if not p.startswith("/v1/")}
    doc["paths"] = {**base_paths, **dict(sorted(paths.items()))}
    published = {(m, p) for p, item in paths.items() for m in item}
    doc["x-unpublished-routes"] = sorted(
        f"{m.upper()} {p}"
        for (m, p) in [*wanted, *((m, p) for m, p, _ in alternates)]
        if (m, p) not in published
    )
    # The /fhir operations answer errors (the gateway's 401/403/429 too) as OperationOutcomes.
    return document_fhir(doc)


def with_alternate(op: dict[str, Any], route: Route, alt: dict[str, Any]) -> dict[str, Any]:
    """One operation for a path two services answer, told apart by the query (`route.query`):
    the first's operation, with the other's parameters added, either scope accepted, and the
    rule in its description and in `x-query-routes`."""
    op = dict(op)
    rule = route.query
    assert rule is not None
    names = {p.get("name") for p in op.get("parameters", [])}
    op["parameters"] = [
        *op.get("parameters", []),
        *(p for p in alt.get("parameters", []) if p.get("name") not in names),
    ]
    for p in op["parameters"]:
        p["required"] = False  # which are needed depends on which service the query reaches
    op["security"] = [*op.get("security", []), {"oauth2": [route.scope]}]
    when = sorted(rule.params) + [f"{rule.reference}={t}/<id>" for t in sorted(rule.reference_types)]
    op["x-query-routes"] = [{"service": route.service, "scope": route.scope, "when-any-of": when}]
    op["description"] = (
        op.get("description", "")
        + f"\n\nA query naming any of {', '.join(f'`{w}`' for w in when)} is answered by the "
        + f"{route.service} service instead: {alt.get('summary', '')}. Required scope: `{route.scope}`."
    )
    for status, response in alt.get("responses", {}).items():
        op["responses"].setdefault(status, response)
    op["responses"] = dict(sorted(op["responses"].items()))
    return op


class OpenAPIMerger:
    def __init__(self, upstreams: dict[str, Upstream], table: RouteTable) -> None:
        self.upstreams = upstreams
        self.table = table
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def document(self, base: dict[str, Any]) -> dict[str, Any]:
        now = time.monotonic()
        if self._cached and now - self._cached[0] < CACHE_SECONDS:
            return self._cached[1]
        services: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        for name, upstream in self.upstreams.items():
            try:
                services[name] = await upstream.get_json("/openapi.json", timeout=5.0)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                missing.append(name)
        doc = merge(base, services, self.table)
        if missing:
            doc["x-missing-services"] = missing
        else:
            self._cached = (now, doc)
        return doc
