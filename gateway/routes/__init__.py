"""The declarative route table: method + path template -> service + required scope.

Each service's public routes are listed in `gateway/routes/<service>.py` as `ROUTES`. A
request that matches no entry is 404 at the gateway and never forwarded. The table also
drives the merged OpenAPI document and the authorization matrix test.

`objects` says what kind of object the path's id names ("own" rules are enforced by the
owning service; the gateway only checks the scope). It is documentation for the
authorization matrix: "agency" = object-level rules apply, "none" = no object in the path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import import_module
from urllib.parse import parse_qsl

SERVICE_NAMES = ("referrals", "assessments", "consent", "notifications", "gateway")


@dataclass(frozen=True)
class QueryRule:
    """What a query must carry for a route to take it from the plain route of the same method
    and path (the one exception: FHIR's `GET /fhir/Task`, searched in two services, docs/fhir.md
    "Task <-> deadline"). The query matches when it names one of `params`, or a `reference`
    parameter whose value is a reference to one of `reference_types` (`ServiceRequest/<id>`,
    or a full URL ending so). `name` keys the route beside its plain sibling: `path?name`."""

    name: str
    params: frozenset[str] = frozenset()
    reference: str = ""
    reference_types: frozenset[str] = frozenset()

    def matches(self, query: bytes) -> bool:
        for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if key in self.params:
                return True
            if key == self.reference:
                kind = value.rstrip("/").rsplit("/", 2)[-2:]
                if len(kind) == 2 and kind[0] in self.reference_types:
                    return True
        return False


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    scope: str
    service: str = ""
    summary: str = ""
    query: QueryRule | None = None
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\{[a-z_]+\}", r"[A-Za-z0-9._~:-]+", self.path)
        object.__setattr__(self, "regex", re.compile(f"^{pattern}$"))

    @property
    def key(self) -> tuple[str, str]:
        """How the matrices and checks name the route: (method, path template), with
        `?<query rule>` for a query-routed one (`("GET", "/fhir/Task?deadlines")`)."""
        return (self.method, self.path if self.query is None else f"{self.path}?{self.query.name}")

    def resource_id(self, path: str) -> str | None:
        """The last path parameter's value (for the audit), if the template has one."""
        names = re.findall(r"\{([a-z_]+)\}", self.path)
        if not names:
            return None
        parts_t = self.path.strip("/").split("/")
        parts_p = path.strip("/").split("/")
        for t, p in zip(reversed(parts_t), reversed(parts_p), strict=False):
            if t.startswith("{"):
                return p
        return None


def load_routes() -> list[Route]:
    routes: list[Route] = []
    for name in SERVICE_NAMES:
        try:
            module = import_module(f"gateway.routes.{name}")
        except ModuleNotFoundError:
            continue
        for r in getattr(module, "ROUTES", []):
            routes.append(Route(r.method, r.path, r.scope, r.service or name, r.summary, r.query))
    seen: set[tuple[str, str]] = set()
    for r in routes:
        if r.key in seen:
            raise ValueError(f"route {r.method} {r.path} is declared twice")
        seen.add(r.key)
    return routes


class RouteTable:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        # Literal segments win over parameters: sort templates with fewer params first; a
        # query-routed route before its plain sibling.
        self._ordered = sorted(routes, key=lambda r: (r.path.count("{"), -len(r.path), r.query is None))

    def match(self, method: str, path: str, query: bytes = b"") -> tuple[Route | None, bool]:
        """(route, path_known): path_known tells 405 from 404. A route with a `QueryRule`
        takes the request only when the query matches it; else its plain sibling does."""
        path_known = False
        for r in self._ordered:
            if r.regex.match(path):
                path_known = True
                if r.method == method and (r.query is None or r.query.matches(query)):
                    return r, True
        return None, path_known

    def allowed(self, path: str) -> list[str]:
        """The methods some route answers on this path (the `Allow` of a 405, RFC 9110 15.5.6)."""
        return sorted({r.method for r in self.routes if r.regex.match(path)})
