"""What issue 23 left to the merged OpenAPI document: the well-known endpoints' schemas and
409 on every operation that can answer it."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.openapi_doc import merged_document


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return merged_document()


def _ok_schema(doc: dict[str, Any], path: str) -> dict[str, Any]:
    ref = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_the_jwk_set_is_typed_as_rfc_7517(doc):
    keys = _ok_schema(doc, "/.well-known/jwks.json")
    assert keys["required"] == ["keys"]
    jwk = doc["components"]["schemas"][keys["properties"]["keys"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert set(jwk["required"]) == {"kty", "use", "alg", "kid", "n", "e"}
    assert jwk["properties"]["kty"]["const"] == "RSA" and jwk["properties"]["alg"]["const"] == "RS256"


def test_the_metadata_is_typed_as_rfc_8414(doc):
    meta = _ok_schema(doc, "/.well-known/oauth-authorization-server")
    assert {"issuer", "token_endpoint", "jwks_uri", "response_types_supported"} <= set(meta["required"])
    props = meta["properties"]
    assert "client_credentials" in props["grant_types_supported"]["items"]["enum"]
    assert "client_secret_basic" in props["token_endpoint_auth_methods_supported"]["items"]["enum"]
    assert "referrals:create" in props["scopes_supported"]["items"]["enum"]
