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
from gateway.routes import RouteTable

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
    out["components"]["schemas"] = {f"{prefix}{k}": v for k, v in out["components"]["schemas"].items()}
    return out


def gateway_document(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """The gateway's own operations (OAuth, admin, practitioners, teams, code lists), the base
    the services' documents are merged into."""
    return get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)


def merge(base: dict[str, Any], services: dict[str, dict[str, Any]], table: RouteTable) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    doc.setdefault("components", {}).setdefault("schemas", {})
    doc["components"]["securitySchemes"] = {
        "oauth2": {
            "type": "oauth2",
            "description": "Client credentials; scopes per agency type (see api.md).",
            "flows": {
                "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {s: s for s in ALL_SCOPES}}
            },
        }
    }
    paths: dict[str, Any] = {}
    wanted = {(r.method.lower(), r.path): r for r in table.routes}
    sources = dict(services)
    sources["gateway"] = {"paths": {p: v for p, v in base.get("paths", {}).items() if p.startswith("/v1/")}}
    for service, sdoc in sources.items():
        sdoc = _prefix_schemas(sdoc, "" if service == "gateway" else service.capitalize() + "_")
        doc["components"]["schemas"].update(sdoc.get("components", {}).get("schemas", {}))
        for path, item in sdoc.get("paths", {}).items():
            for method in METHODS:
                op = item.get(method)
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
                responses = {
                    "401": {"description": "Missing, invalid or expired token (problem+json)"},
                    "429": {"description": "Rate limit exceeded; see Retry-After"},
                }
                if route.scope:
                    responses["403"] = {
                        "description": f"Token lacks the scope `{route.scope}` (problem+json)"
                    }
                op.setdefault("responses", {}).update(responses)
                paths.setdefault(path, {})[method] = op
    base_paths = {p: v for p, v in base.get("paths", {}).items() if not p.startswith("/v1/")}
    doc["paths"] = {**base_paths, **dict(sorted(paths.items()))}
    published = {(m, p) for p, item in paths.items() for m in item}
    doc["x-unpublished-routes"] = sorted(f"{m.upper()} {p}" for (m, p) in wanted if (m, p) not in published)
    return doc


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
