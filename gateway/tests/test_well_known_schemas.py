"""The JWK set and the RFC 8414 metadata are answered as their OpenAPI models say (issue 23):
every member the gateway sends is declared, and every declared member is sent."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gateway.oauth import AuthorizationServerMetadata, Jwk, JwkSet


def _exactly(model: type[BaseModel], body: dict[str, Any]) -> None:
    assert set(body) == set(model.model_fields), model.__name__
    assert model.model_validate(body).model_dump(mode="json") == body


async def test_the_jwk_set_is_its_model(gwh):
    resp = await gwh.client.get("/.well-known/jwks.json")
    assert resp.status_code == 200 and resp.headers["cache-control"] == "max-age=60"
    body = resp.json()
    _exactly(JwkSet, {"keys": []})
    assert body["keys"]
    for key in body["keys"]:
        _exactly(Jwk, key)


async def test_the_metadata_is_its_model(gwh):
    body = (await gwh.client.get("/.well-known/oauth-authorization-server")).json()
    _exactly(AuthorizationServerMetadata, body)
    assert body["jwks_uri"] == body["issuer"] + "/.well-known/jwks.json"
