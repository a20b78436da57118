"""Routes the gateway answers itself (admin). Listed so the matrix and OpenAPI see them."""

from gateway.routes import Route

ROUTES = [
    Route("POST", "/v1/admin/clients", "admin", summary="Create an agency client"),
    Route("GET", "/v1/admin/clients", "admin", summary="List agency clients"),
    Route("POST", "/v1/admin/clients/{client_ref}/rotate-secret", "admin", summary="Rotate a client secret"),
    Route("POST", "/v1/admin/clients/{client_ref}/disable", "admin", summary="Disable a client"),
    Route("GET", "/v1/admin/audit", "admin", summary="Query the audit trail"),
]
