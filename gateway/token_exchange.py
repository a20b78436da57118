"""OAuth 2.0 Token Exchange (RFC 8693) at `/oauth/token`: an agency system acts for a practitioner.

The client authenticates exactly as for client credentials; `subject_token` names one of the
registered, enabled practitioners of the client's own agency (by id or registered email) with
`subject_token_type=urn:early-help:params:oauth:token-type:practitioner`. The answer is a
short-lived access token whose `sub` is the practitioner and whose `act` names the client
(RFC 8693 4.1). Every refusal is an RFC 6749 5.2 / RFC 8693 2.2.2 error, and an unknown, other
agency's or disabled practitioner all get the same `invalid_grant`, so nothing leaks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.auth import issue_practitioner_token
from gateway.clients import token_scopes
from gateway.models import Agency, Client
from gateway.practitioners import find_active
from shared.roles import SERVICE

if TYPE_CHECKING:
    from gateway.main import Gateway

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
PRACTITIONER_TOKEN_TYPE = "urn:early-help:params:oauth:token-type:practitioner"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"


class ExchangeRefused(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


async def exchange(gw: Gateway, client: Client, agency: Agency, fields: dict[str, Any]) -> dict[str, Any]:
    """The token response for an authenticated client's exchange request; raises ExchangeRefused."""
    if agency.type == SERVICE:
        raise ExchangeRefused("unauthorized_client", "Service credentials may not act for a practitioner")
    subject = fields.get("subject_token")
    subject_type = fields.get("subject_token_type")
    if not subject or not subject_type:
        raise ExchangeRefused("invalid_request", "subject_token and subject_token_type are required")
    if subject_type != PRACTITIONER_TOKEN_TYPE:
        raise ExchangeRefused(
            "invalid_request",
            f"subject_token_type {subject_type[:200]} is not supported; use {PRACTITIONER_TOKEN_TYPE}",
        )
    if fields.get("actor_token") or fields.get("actor_token_type"):
        raise ExchangeRefused(
            "invalid_request", "actor_token is not supported: the authenticated client acts"
        )
    requested_type = fields.get("requested_token_type")
    if requested_type and requested_type not in (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE):
        raise ExchangeRefused("invalid_request", f"requested_token_type must be {ACCESS_TOKEN_TYPE}")
    audience = fields.get("audience")
    if audience and audience != gw.settings.api_audience:
        raise ExchangeRefused("invalid_target", "Tokens are issued for this API's audience only")
    scopes = token_scopes(list(client.scopes), agency.type, fields.get("scope"))
    if scopes is None:
        raise ExchangeRefused("invalid_scope", "Requested scope exceeds what this client may have")
    async with gw.db.session(write=False) as session:
        practitioner = await find_active(session, agency.id, subject)
    if practitioner is None:
        raise ExchangeRefused("invalid_grant", "No enabled practitioner of this agency matches subject_token")
    token, ttl = issue_practitioner_token(gw.settings, gw.keys, client, agency, practitioner, scopes)
    return {
        "access_token": token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": " ".join(scopes),
    }
