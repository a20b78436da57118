"""The OAuth 2.0 endpoints: client credentials token (RFC 6749 4.4), JWKS, RFC 8414 metadata."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import JSONResponse

from gateway.clients import verify_secret
from gateway.models import Agency, Client

router = APIRouter(tags=["oauth"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_error(status: int, error: str, description: str, *, basic: bool = False) -> JSONResponse:
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="early-help", charset="UTF-8"' if basic else "Basic"
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    cid, sep, secret = raw.partition(":")
    if not sep:
        return ("", "")
    # RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote(cid), unquote(secret)


@router.post(
    "/oauth/token",
    summary="Get an access token (OAuth 2.0 client credentials)",
    responses={
        400: {"description": "invalid_request / invalid_scope / unsupported_grant_type"},
        401: {"description": "invalid_client"},
    },
)
async def token(request: Request) -> JSONResponse:
    gw = request.app.state.gw
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("application/x-www-form-urlencoded"):
        return oauth_error(400, "invalid_request", "Use application/x-www-form-urlencoded")
    try:
        form = await request.form()
    except Exception:
        return oauth_error(400, "invalid_request", "Malformed form body")
    fields: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    basic = _basic_credentials(request.headers.get("authorization"))
    if basic is not None and ("client_secret" in fields):
        return oauth_error(400, "invalid_request", "Use one client authentication method, not two")
    if basic is not None:
        client_id, secret = basic
    else:
        client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
    grant = fields.get("grant_type")
    if not grant:
        return oauth_error(400, "invalid_request", "grant_type is required")
    if not client_id or not secret:
        return oauth_error(401, "invalid_client", "Client authentication failed", basic=basic is not None)
    async with gw.db.session(write=False) as session:
        row = (
            await session.execute(
                select(Client, Agency)
                .join(Agency, Agency.id == Client.agency_id)
                .where(Client.client_id == client_id)
            )
        ).first()
    if row is None or row[0].disabled_at is not None or not verify_secret(secret, row[0].secret_hash):
        return oauth_error(401, "invalid_client", "Client authentication failed", basic=basic is not None)
    client, agency = row
    if grant != "client_credentials":
        return oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported")
    requested = fields.get("scope")
    allowed = list(client.scopes)
    if requested is None or not requested.strip():
        scopes = allowed
    else:
        scopes = requested.split()
        if not set(scopes) <= set(allowed):
            return oauth_error(400, "invalid_scope", "Requested scope exceeds what this client may have")
    access_token, ttl = gw.issue_token(client, agency, scopes)
    return JSONResponse(
        {"access_token": access_token, "token_type": "Bearer", "expires_in": ttl, "scope": " ".join(scopes)},
        headers=NO_STORE,
    )


@router.get("/.well-known/jwks.json", summary="The gateway's public signing keys")
async def jwks(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.gw.keys.jwks(), headers={"Cache-Control": "max-age=60"})


@router.get("/.well-known/oauth-authorization-server", summary="Authorization server metadata (RFC 8414)")
async def metadata(request: Request) -> dict[str, Any]:
    gw = request.app.state.gw
    issuer = gw.settings.gateway_issuer
    from gateway.clients import ALL_SCOPES

    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ALL_SCOPES,
        "response_types_supported": [],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "service_documentation": f"{issuer}/docs",
    }
