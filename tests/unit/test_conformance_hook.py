"""The e2e suite's contract check (tests/e2e/conformance.py) catches what it should."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conformance import Conformance

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
DOC: dict[str, Any] = {
    "paths": {
        "/v1/things/{thing_id}": {
            "get": {
                "responses": {
                    "200": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}
                    },
                    "404": {"content": PROBLEM},
                    "default": {"content": PROBLEM},
                }
            }
        },
        "/v1/things/special": {"get": {"responses": {"200": {"content": {"application/json": {}}}}}},
    },
    "components": {
        "schemas": {
            "Thing": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
            "Problem": {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "integer"}},
            },
        }
    },
}


def answer(
    path: str, status: int, body: Any, media: str = "application/json", method: str = "GET"
) -> httpx.Response:
    return httpx.Response(
        status, json=body, headers={"content-type": media}, request=httpx.Request(method, f"http://gw{path}")
    )


def test_declared_statuses_and_valid_bodies_pass():
    c = Conformance(DOC)
    c.check(answer("/v1/things/1", 200, {"id": "1"}))
    c.check(answer("/v1/things/1", 404, {"status": 404}, "application/problem+json"))
    c.check(answer("/v1/things/1", 503, {"status": 503}, "application/problem+json"))  # default: 5xx
    c.check(answer("/v1/things/special", 200, {"anything": 1}))  # literal path wins, no schema
    c.check(answer("/v1/things/1", 405, {"status": 405}, method="DELETE"))  # no such operation
    c.check(answer("/internal/events", 500, {}))  # not the public contract
    assert c.violations == {}
    assert c.checked == 4


def test_undeclared_status_wrong_body_and_media_type_are_listed():
    c = Conformance(DOC)
    c.check(answer("/v1/things/1", 409, {"status": 409}, "application/problem+json"))
    c.check(answer("/v1/things/1", 200, {"id": 7}))
    c.check(answer("/v1/things/1", 404, {"status": 404}))
    report = c.report()
    assert "GET /v1/things/{thing_id} -> 409: status not declared" in report
    assert "GET /v1/things/{thing_id} -> 200: id: 7 is not of type 'string'" in report
    assert "-> 404: media type application/json not declared" in report
    assert len(c.violations) == 3
