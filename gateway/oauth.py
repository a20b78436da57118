"""The OAuth 2.0 endpoints: client credentials token (RFC 6749 4.4), JWKS, RFC 8414 metadata."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy import select
from starlette.responses import JSONResponse

from gateway import token_exchange
from gateway.clients import ALL_SCOPES, token_scopes, verify_secret
from gateway.models import Agency, Client
from gateway.ratelimit import retry_after_header
from gateway.token_exchange import (
    ACCESS_TOKEN_TYPE,
    JWT_TOKEN_TYPE,
    PRACTITIONER_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
)

router = APIRouter(tags=["oauth"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


# What the token endpoint takes and answers, for the OpenAPI document only: the endpoint reads
# the form itself, so a malformed request gets an RFC 6749 error rather than a 422 problem.
OAuthErrorCode = Literal[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
]
TOKEN_REQUEST: dict[str, Any] = {
    "title": "TokenRequest",
    "type": "object",
    "description": (
        "Client credentials (RFC 6749 4.4), or a token exchange (RFC 8693) acting for one of the "
        "agency's registered practitioners. Authenticate with HTTP Basic (client_id:client_secret, "
        "each form-urlencoded first), or with client_id and client_secret in the form - not both."
    ),
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials", TOKEN_EXCHANGE_GRANT]},
        "scope": {
            "type": "string",
            "description": "Space-separated scopes wanted; at most what the client may have (default: all of them)",
        },
        "client_id": {"type": "string", "description": "With client_secret, instead of HTTP Basic"},
        "client_secret": {"type": "string", "description": "With client_id, instead of HTTP Basic"},
        "subject_token": {
            "type": "string",
            "description": "Token exchange: the practitioner, by id or registered email",
        },
        "subject_token_type": {
            "type": "string",
            "enum": [PRACTITIONER_TOKEN_TYPE],
            "description": "Token exchange: required with subject_token",
        },
        "requested_token_type": {
            "type": "string",
            "enum": [ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE],
            "description": "Token exchange: optional; an access token is issued either way",
        },
        "audience": {"type": "string", "description": "Token exchange: optional; only this API's audience"},
    },
}


class TokenResponse(BaseModel):
    """RFC 6749 5.1 (and RFC 8693 2.2.1 for a token exchange)."""

    access_token: str = Field(description="An RS256 JWT access token (RFC 9068)")
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Seconds until the token expires")
    scope: str = Field(description="The scopes granted, space-separated")
    issued_token_type: Literal["urn:ietf:params:oauth:token-type:access_token"] | SkipJsonSchema[None] = (
        Field(default=None, description="Token exchange only (RFC 8693): what was issued, an access token")
    )


class OAuthError(BaseModel):
    """RFC 6749 5.2 (and RFC 8693 2.2.2)."""

    error: OAuthErrorCode
    error_description: str = Field(description="What went wrong, for a person to read")


class Jwk(BaseModel):
    """One public signing key (RFC 7517 4; an RSA key's members: RFC 7518 6.3.1)."""

    kty: Literal["RSA"] = Field(description="Key type")
    use: Literal["sig"] = Field(description="Public key use: verifying signatures")
    alg: Literal["RS256"] = Field(description="The algorithm the key signs with")
    kid: str = Field(description="Key id: the `kid` header of the tokens it signed")
    n: str = Field(description="The modulus, base64url-encoded (unsigned big-endian)")
    e: str = Field(description="The public exponent, base64url-encoded (unsigned big-endian)")


class JwkSet(BaseModel):
    """The keys that verify the gateway's access tokens (RFC 7517 5): the current key and any
    not yet retired after a rotation. Cache for `Cache-Control: max-age` (60 s); on an unknown
    `kid`, fetch again."""

    keys: list[Jwk]


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414 2: where to get and check tokens."""

    issuer: str = Field(description="The `iss` of every token; the URLs below start with it")
    token_endpoint: str = Field(description="`{issuer}/oauth/token`")
    jwks_uri: str = Field(description="`{issuer}/.well-known/jwks.json`")
    grant_types_supported: list[
        Literal["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"]
    ]
    token_endpoint_auth_methods_supported: list[Literal["client_secret_basic", "client_secret_post"]]
    scopes_supported: list[Annotated[str, WithJsonSchema({"type": "string", "enum": list(ALL_SCOPES)})]] = (
        Field(description="Every scope a client may be given")
    )
    response_types_supported: list[str] = Field(
        description="Empty: there is no authorization endpoint (client credentials and token exchange only)"
    )
    token_endpoint_auth_signing_alg_values_supported: list[Literal["RS256"]]
    service_documentation: str = Field(description="Human-readable documentation of the API")


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


def _source_address(request: Request) -> str:
    peer = request.client.host if request.client else None
    return str(request.app.state.gw.token_throttle.source(peer, request.headers.get("x-forwarded-for")))


def _throttled(gw: Any, client_id: str, address: str) -> JSONResponse | None:
    """429 while the client id or the address has failed too often, before any secret is
    checked (an attacker's guesses cost no scrypt work). The error code stays RFC 6749 5.2's
    `invalid_client`: client authentication is refused, and every OAuth client handles that
    code; `slow_down` is registered only for the device grant's polling (RFC 8628 3.5), where
    it means "keep polling, more slowly". The status and Retry-After say when to try again."""
    wait = gw.token_throttle.blocked(client_id, address)
    if wait <= 0:
        return None
    resp = oauth_error(429, "invalid_client", "Too many failed client authentications; try again later")
    resp.headers["Retry-After"] = retry_after_header(wait)
    return resp


@router.post(
    "/oauth/token",
    summary="Get an access token (OAuth 2.0 client credentials, or RFC 8693 token exchange for a practitioner)",
    response_model=TokenResponse,
    response_model_exclude_none=True,
    responses={
        400: {
            "model": OAuthError,
            "description": (
                "invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type, "
                "invalid_scope or invalid_target (RFC 6749 5.2, RFC 8693 2.2.2)"
            ),
        },
        401: {"model": OAuthError, "description": "invalid_client: client authentication failed"},
        429: {
            "model": OAuthError,
            "description": "invalid_client: too many failed client authentications; retry after Retry-After",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": TOKEN_REQUEST}},
        },
        "security": [{"clientBasic": []}, {}],
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
    address = _source_address(request)
    throttled = _throttled(gw, client_id, address)
    if throttled is not None:
        return throttled
    if not client_id or not secret:
        gw.token_throttle.failed(client_id, address)
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
        gw.token_throttle.failed(client_id, address)
        return oauth_error(401, "invalid_client", "Client authentication failed", basic=basic is not None)
    gw.token_throttle.succeeded(client_id)
    client, agency = row
    if grant == TOKEN_EXCHANGE_GRANT:
        return await _token_exchange(gw, client, agency, fields)
    if grant != "client_credentials":
        return oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported")
    scopes = token_scopes(list(client.scopes), agency.type, fields.get("scope"))
    if scopes is None:
        return oauth_error(400, "invalid_scope", "Requested scope exceeds what this client may have")
    access_token, ttl = gw.issue_token(client, agency, scopes)
    return JSONResponse(
        {"access_token": access_token, "token_type": "Bearer", "expires_in": ttl, "scope": " ".join(scopes)},
        headers=NO_STORE,
    )


async def _token_exchange(gw: Any, client: Client, agency: Agency, fields: dict[str, Any]) -> JSONResponse:
    """RFC 8693: the authenticated client acts for one of its agency's practitioners."""
    try:
        body = await token_exchange.exchange(gw, client, agency, fields)
    except token_exchange.ExchangeRefused as exc:
        return oauth_error(exc.status, exc.error, exc.description)
    return JSONResponse(body, headers=NO_STORE)


@router.get("/.well-known/jwks.json", summary="The gateway's public signing keys", response_model=JwkSet)
async def jwks(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.gw.keys.jwks(), headers={"Cache-Control": "max-age=60"})


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="Authorization server metadata (RFC 8414)",
    response_model=AuthorizationServerMetadata,
)
async def metadata(request: Request) -> dict[str, Any]:
    gw = request.app.state.gw
    issuer = gw.settings.gateway_issuer
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials", TOKEN_EXCHANGE_GRANT],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ALL_SCOPES,
        "response_types_supported": [],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "service_documentation": f"{issuer}/docs",
    }
