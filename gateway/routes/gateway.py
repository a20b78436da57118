"""Routes the gateway answers itself (admin, the practitioner registry, code lists). Listed so
the matrix and OpenAPI see them. An empty scope: any valid token (no personal data)."""

from gateway.clients import PRACTITIONERS_SCOPE
from gateway.routes import Route

ROUTES = [
    Route("GET", "/v1/code-lists", "", summary="Every fixed list of the API, with labels"),
    Route("GET", "/v1/code-lists/{name}", "", summary="One code list"),
    Route("POST", "/v1/admin/clients", "admin", summary="Create an agency client"),
    Route("GET", "/v1/admin/clients", "admin", summary="List agency clients"),
    Route("POST", "/v1/admin/clients/{client_ref}/rotate-secret", "admin", summary="Rotate a client secret"),
    Route("POST", "/v1/admin/clients/{client_ref}/disable", "admin", summary="Disable a client"),
    Route("GET", "/v1/admin/audit", "admin", summary="Query the audit trail"),
    Route("POST", "/v1/teams", PRACTITIONERS_SCOPE, summary="Register a team"),
    Route("GET", "/v1/teams", PRACTITIONERS_SCOPE, summary="List teams"),
    Route("GET", "/v1/teams/{team_id}", PRACTITIONERS_SCOPE, summary="Get a team"),
    Route("POST", "/v1/practitioners", PRACTITIONERS_SCOPE, summary="Register a practitioner"),
    Route("GET", "/v1/practitioners", PRACTITIONERS_SCOPE, summary="List practitioners"),
    Route("GET", "/v1/practitioners/{practitioner_id}", PRACTITIONERS_SCOPE, summary="Get a practitioner"),
    Route(
        "PATCH", "/v1/practitioners/{practitioner_id}", PRACTITIONERS_SCOPE, summary="Change a practitioner"
    ),
    Route(
        "POST",
        "/v1/practitioners/{practitioner_id}/disable",
        PRACTITIONERS_SCOPE,
        summary="Disable a practitioner",
    ),
    Route(
        "POST",
        "/v1/practitioners/{practitioner_id}/enable",
        PRACTITIONERS_SCOPE,
        summary="Enable a practitioner",
    ),
]

# Issue 22: the FHIR facade's CapabilityStatement, built from this table (gateway/fhir_metadata.py).
# Public, as FHIR servers' capabilities are: no personal data.
ROUTES += [Route("GET", "/fhir/metadata", "", summary="The FHIR R4 CapabilityStatement")]
