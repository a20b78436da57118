"""`GET /fhir/metadata`: the FHIR facade's CapabilityStatement, served by the gateway itself.

Built from the route table (`gateway/routes/*.py`): every `/fhir/<Type>` route a service
answers becomes that resource's interactions (`GET /fhir/<Type>/{id}` read, `GET /fhir/<Type>`
search-type, `POST /fhir/<Type>` create), so the statement lists exactly what the gateway
forwards. Public, as FHIR expects of a server's capabilities (no personal data); the scopes
each interaction needs are in its documentation. docs/fhir.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from gateway.routes import Route
from shared.clock import london_today
from shared.fhir import FHIR_JSON, FHIR_VERSION, NHS_NUMBER_SYSTEM, FhirResponse, fhir_responses

router = APIRouter(prefix="/fhir", tags=["fhir"])

# The search parameters each resource type takes (the owning service declares and checks them).
SEARCH_PARAMS: dict[str, list[dict[str, str]]] = {
    "ServiceRequest": [
        {
            "name": "patient",
            "type": "reference",
            "documentation": f"Chained: `patient.identifier={NHS_NUMBER_SYSTEM}|<NHS number>`",
        },
        {
            "name": "subject",
            "type": "reference",
            "documentation": f"With the :identifier modifier: `subject:identifier={NHS_NUMBER_SYSTEM}|<NHS number>`",
        },
        {"name": "_count", "type": "number", "documentation": "At most 50 (the default), newest first"},
    ],
}
# The consent service knows people by person id, not NHS number (docs/fhir.md "Consent").
_BY_PERSON = {"name": "patient", "type": "reference", "documentation": "The person id: `patient=<uuid>`"}
SEARCH_PARAMS["Consent"] = [
    _BY_PERSON,
    {"name": "_count", "type": "number", "documentation": "At most 50 (the default), newest first"},
]
SEARCH_PARAMS["AuditEvent"] = [
    _BY_PERSON,
    {"name": "_count", "type": "number", "documentation": "At most 50 (the default), oldest first"},
]

# Issue 22: plan actions (the assessments service) and deadlines (the notifications service);
# the gateway sends a search to notifications when its query is a deadline's (gateway/routes).
SEARCH_PARAMS["Task"] = [
    {
        "name": "focus",
        "type": "reference",
        "documentation": "`focus=CarePlan/<episode id>`: the actions of that episode's current plan "
        "(assessments); a deadline's subject `ServiceRequest/<referral id>`, `CareTeam/<episode id>` "
        "or `Task/<action id>`: its deadlines (notifications)",
    },
    {
        "name": "code",
        "type": "token",
        "documentation": "Deadlines of this kind (`GET /v1/deadline-rules`; system "
        "`https://early-help.example/fhir/CodeSystem/deadline-kind`)",
    },
    {
        "name": "business-status",
        "type": "token",
        "documentation": "Deadlines: `open` (not yet due), `overdue`, `met`, `cancelled`",
    },
    {
        "name": "status",
        "type": "token",
        "documentation": "Deadlines: `in-progress`, `completed`, `cancelled` (with `code`, "
        "`business-status` or a deadline's `focus`)",
    },
    {
        "name": "_count",
        "type": "number",
        "documentation": "Deadlines: at most 50 (the default), soonest due first",
    },
]


def _interaction(route: Route) -> str | None:
    parts = route.path.strip("/").split("/")
    # `{id}`, or a literal prefix and `{id}` (`deadline-{deadline_id}`: a deadline's Task).
    if route.method == "GET" and len(parts) == 3 and parts[2].endswith("}"):
        return "read"
    if route.method == "GET" and len(parts) == 2:
        return "search-type"
    if route.method == "POST" and len(parts) == 2:
        return "create"
    return None


def _ids(route: Route) -> str:
    """`; ids `deadline-...`` for a read whose id has a literal prefix (it shares its type)."""
    last = route.path.rsplit("/", 1)[-1]
    prefix = last.split("{", 1)[0]
    return f"; ids `{prefix}...`" if prefix and route.method == "GET" and last.endswith("}") else ""


def _when(route: Route) -> str:
    """`; when the query names ...` for a search the gateway routes by its query."""
    rule = route.query
    if rule is None:
        return ""
    names = [f"`{p}`" for p in sorted(rule.params)]
    names += [f"`{rule.reference}={t}/...`" for t in sorted(rule.reference_types)]
    return "; when the query names " + ", ".join(names)


def capability_statement(routes: list[Route], date: str, base_url: str) -> dict[str, Any]:
    by_type: dict[str, list[tuple[str, Route]]] = {}
    for route in routes:
        parts = route.path.strip("/").split("/")
        interaction = _interaction(route)
        if parts[0] != "fhir" or len(parts) < 2 or interaction is None or route.service == "gateway":
            continue
        by_type.setdefault(parts[1], []).append((interaction, route))
    resources = []
    for kind in sorted(by_type):
        entry: dict[str, Any] = {
            "type": kind,
            "interaction": [
                {
                    "code": code,
                    "documentation": f"Scope `{route.scope}` (the {route.service} service){_ids(route)}{_when(route)}",
                }
                for code, route in sorted(by_type[kind], key=lambda x: (x[0], x[1].key))
            ],
        }
        if kind in SEARCH_PARAMS and any(code == "search-type" for code, _ in by_type[kind]):
            entry["searchParam"] = SEARCH_PARAMS[kind]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "Early Help API",
        "kind": "instance",
        "implementation": {
            "description": "Early Help API FHIR R4 facade",
            "url": base_url.rstrip("/") + "/fhir",
        },
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Same scopes, roles and consent checks as the /v1 API; errors are OperationOutcomes.",
                "security": {
                    "description": "OAuth 2.0 bearer tokens from /oauth/token (client credentials or token exchange)"
                },
                "resource": resources,
            }
        ],
    }


@router.get("/metadata", response_class=FhirResponse, responses=fhir_responses("CapabilityStatement"))
async def fhir_metadata(request: Request) -> FhirResponse:
    """The FHIR facade's CapabilityStatement (public: no token needed)."""
    gw = request.app.state.gw
    date = london_today().isoformat()
    return FhirResponse(capability_statement(gw.routes.routes, date, gw.settings.public_url))
