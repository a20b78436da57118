"""RFC 6750 3 `WWW-Authenticate: Bearer` challenges for the gateway's 401s.

No credentials at all (no Authorization header, or one in another scheme such as Basic) is
answered with the bare challenge and no error code (RFC 6750 3.1: "the resource server
SHOULD NOT include an error code or other error information"); a bearer token that is
malformed, expired, revoked or otherwise refused gets `error="invalid_token"` with a
description.
"""

from __future__ import annotations

import re

from shared.problems import Unauthorized

REALM = "early-help"
NO_CREDENTIALS = "A bearer access token is required"
# RFC 6750 3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E (no quote, no
# backslash, printable ASCII only), so a token error's text cannot break the header.
_NOT_ALLOWED = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def bearer_challenge(error: str | None = None, description: str | None = None) -> str:
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
        if description:
            parts.append(f'error_description="{_NOT_ALLOWED.sub("", description)[:200]}"')
    return "Bearer " + ", ".join(parts)


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer` header; None when there is no bearer credential."""
    if header is None or header[:7].lower() != "bearer ":
        return None
    return header[7:].strip()


def unauthorized(detail: str, *, invalid_token: bool) -> Unauthorized:
    """A 401 problem with the challenge RFC 6750 asks for (see the module docstring)."""
    problem = Unauthorized(detail)
    problem.headers = {
        "WWW-Authenticate": bearer_challenge("invalid_token", detail) if invalid_token else bearer_challenge()
    }
    return problem
