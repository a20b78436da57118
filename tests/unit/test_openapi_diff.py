"""devtools.openapi_diff on small hand-made documents: one per kind of breaking change, and
the additions that are not breaking."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from devtools.openapi_diff import breaking_changes, changelog_section, diff, unexplained


def base() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1.0.0"},
        "paths": {
            "/v1/things": {
                "get": {
                    "parameters": [
                        {
                            "in": "query",
                            "name": "status",
                            "required": False,
                            "schema": {"type": "string", "enum": ["a", "b"]},
                        }
                    ],
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/ThingList"}}
                            }
                        }
                    },
                },
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ThingCreate"}}
                        },
                    },
                    "responses": {
                        "201": {
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                            }
                        },
                        "422": {"description": "problem"},
                    },
                },
            },
            "/v1/things/{id}": {
                "get": {
                    "parameters": [
                        {"in": "path", "name": "id", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                            }
                        }
                    },
                },
            },
        },
        "components": {
            "schemas": {
                "Thing": {
                    "type": "object",
                    "required": ["id", "kind", "count"],
                    "properties": {
                        "id": {"type": "string"},
                        "kind": {"type": "string", "enum": ["x", "y"]},
                        "count": {"type": "integer"},
                        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    },
                },
                "ThingList": {
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}
                    },
                },
                "ThingCreate": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["kind"],
                    "properties": {
                        "kind": {"type": "string", "enum": ["x", "y"]},
                        "name": {"type": "string", "maxLength": 100, "minLength": 1},
                        "size": {"type": "integer", "maximum": 10},
                        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
                        "code": {"type": "string"},
                    },
                },
            }
        },
    }


def schemas(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["components"]["schemas"]  # type: ignore[no-any-return]


def edit(fn: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    doc = copy.deepcopy(base())
    fn(doc)
    return doc


BREAKING: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    "path removed": (lambda d: d["paths"].pop("/v1/things/{id}"), "path-removed", ""),
    "operation removed": (lambda d: d["paths"]["/v1/things"].pop("post"), "operation-removed", ""),
    "success response removed": (
        lambda d: d["paths"]["/v1/things"]["post"]["responses"].pop("201"),
        "response-removed",
        "response 201",
    ),
    "response field removed": (
        lambda d: schemas(d)["Thing"]["properties"].pop("count"),
        "field-removed",
        "response 201 body.count",
    ),
    "response field in a list item removed": (
        lambda d: schemas(d)["Thing"]["properties"].pop("id"),
        "field-removed",
        "response 200 body.items[].id",
    ),
    "response field type changed": (
        lambda d: schemas(d)["Thing"]["properties"].update(count={"type": "string"}),
        "response-type-changed",
        "response 201 body.count",
    ),
    "response field became nullable": (
        lambda d: schemas(d)["Thing"]["properties"].update(
            count={"anyOf": [{"type": "integer"}, {"type": "null"}]}
        ),
        "response-type-changed",
        "response 201 body.count",
    ),
    "response field no longer required": (
        lambda d: schemas(d)["Thing"].update(required=["id", "kind"]),
        "response-field-became-optional",
        "response 201 body.count",
    ),
    "new required request field": (
        lambda d: (
            schemas(d)["ThingCreate"]["properties"].update(colour={"type": "string"}),
            schemas(d)["ThingCreate"]["required"].append("colour"),
        ),
        "field-added",
        "request body.colour",
    ),
    "request field became required": (
        lambda d: schemas(d)["ThingCreate"]["required"].append("name"),
        "request-field-became-required",
        "request body.name",
    ),
    "request field removed": (
        lambda d: schemas(d)["ThingCreate"]["properties"].pop("code"),
        "field-removed",
        "request body.code",
    ),
    "new required parameter": (
        lambda d: d["paths"]["/v1/things"]["get"]["parameters"].append(
            {"in": "query", "name": "since", "required": True, "schema": {"type": "string"}}
        ),
        "parameter-added",
        "query parameter since",
    ),
    "parameter became required": (
        lambda d: d["paths"]["/v1/things"]["get"]["parameters"][0].update(required=True),
        "parameter-became-required",
        "query parameter status",
    ),
    "parameter removed": (
        lambda d: d["paths"]["/v1/things"]["get"]["parameters"].clear(),
        "parameter-removed",
        "query parameter status",
    ),
    "request enum value removed": (
        lambda d: schemas(d)["ThingCreate"]["properties"]["kind"].update(enum=["x"]),
        "enum-value-removed",
        "request body.kind",
    ),
    "parameter enum value removed": (
        lambda d: d["paths"]["/v1/things"]["get"]["parameters"][0]["schema"].update(enum=["a"]),
        "enum-value-removed",
        "query parameter status",
    ),
    "request values newly limited to an enum": (
        lambda d: schemas(d)["ThingCreate"]["properties"]["code"].update(enum=["c1"]),
        "request-enum-added",
        "request body.code",
    ),
    "request type narrowed": (
        lambda d: schemas(d)["ThingCreate"]["properties"].update(size={"type": "string"}),
        "request-type-narrowed",
        "request body.size",
    ),
    "maxLength lowered": (
        lambda d: schemas(d)["ThingCreate"]["properties"]["name"].update(maxLength=50),
        "request-bound-tightened",
        "request body.name",
    ),
    "minLength raised": (
        lambda d: schemas(d)["ThingCreate"]["properties"]["name"].update(minLength=3),
        "request-bound-tightened",
        "request body.name",
    ),
    "maximum lowered": (
        lambda d: schemas(d)["ThingCreate"]["properties"]["size"].update(maximum=5),
        "request-bound-tightened",
        "request body.size",
    ),
    "maxItems lowered": (
        lambda d: schemas(d)["ThingCreate"]["properties"]["tags"].update(maxItems=2),
        "request-bound-tightened",
        "request body.tags",
    ),
    "pattern added": (
        lambda d: schemas(d)["ThingCreate"]["properties"]["code"].update(pattern="^[A-Z]+$"),
        "request-pattern-changed",
        "request body.code",
    ),
    "request body became required": (
        lambda d: (
            d["paths"]["/v1/things"]["post"]["requestBody"].update(required=True)
            or d["paths"]["/v1/things"]["post"].update(
                requestBody={**d["paths"]["/v1/things"]["post"]["requestBody"]}
            )
        ),
        "",
        "",
    ),
}
# Built from a document whose body was optional, below.
BREAKING.pop("request body became required")


@pytest.mark.parametrize("case", list(BREAKING))
def test_each_breaking_kind_is_found(case: str) -> None:
    change, kind, where = BREAKING[case]
    found = breaking_changes(base(), edit(change))
    # One per operation that reads or sends the schema (`Thing` is in three).
    assert found and {c.kind for c in found} == {kind}, [str(c) for c in found]
    if where:
        assert where in {c.where for c in found}, [str(c) for c in found]


def test_a_request_body_that_became_required_is_breaking() -> None:
    old = edit(lambda d: d["paths"]["/v1/things"]["post"]["requestBody"].update(required=False))
    [change] = breaking_changes(old, base())
    assert change.kind == "request-body-became-required"


ADDITIVE: dict[str, Callable[[dict[str, Any]], None]] = {
    "new path": lambda d: d["paths"].update({"/v1/other": {"get": {"responses": {"200": {}}}}}),
    "new operation": lambda d: d["paths"]["/v1/things/{id}"].update(delete={"responses": {"204": {}}}),
    "new response field": lambda d: schemas(d)["Thing"]["properties"].update(extra={"type": "string"}),
    "new optional request field": lambda d: schemas(d)["ThingCreate"]["properties"].update(
        extra={"type": "string"}
    ),
    "new optional parameter": lambda d: d["paths"]["/v1/things"]["get"]["parameters"].append(
        {"in": "query", "name": "updated_since", "required": False, "schema": {"type": "string"}}
    ),
    "request enum value added": lambda d: schemas(d)["ThingCreate"]["properties"]["kind"].update(
        enum=["x", "y", "z"]
    ),
    "response enum value added": lambda d: schemas(d)["Thing"]["properties"]["kind"].update(
        enum=["x", "y", "z"]
    ),
    "response enum value removed": lambda d: schemas(d)["Thing"]["properties"]["kind"].update(enum=["x"]),
    "request field may be null": lambda d: schemas(d)["ThingCreate"]["properties"].update(
        code={"anyOf": [{"type": "string"}, {"type": "null"}]}
    ),
    "request field no longer required": lambda d: schemas(d)["ThingCreate"].update(required=[]),
    "bounds loosened": lambda d: schemas(d)["ThingCreate"]["properties"]["name"].update(maxLength=200),
    "error response removed": lambda d: d["paths"]["/v1/things"]["post"]["responses"].pop("422"),
    "new response status": lambda d: d["paths"]["/v1/things"]["post"]["responses"].update({"200": {}}),
}


@pytest.mark.parametrize("case", list(ADDITIVE))
def test_additions_are_not_breaking(case: str) -> None:
    assert breaking_changes(base(), edit(ADDITIVE[case])) == []


def test_additions_are_listed() -> None:
    changes = diff(base(), edit(ADDITIVE["new response field"]))
    # Every operation returning a Thing: the list's items, the create and the read.
    assert [(c.kind, c.breaking) for c in changes] == [("field-added", False)] * 3


def test_the_same_document_has_no_changes() -> None:
    assert diff(base(), base()) == []


def test_a_self_referencing_schema_terminates() -> None:
    def tree(d: dict[str, Any]) -> None:
        schemas(d)["Thing"]["properties"]["children"] = {
            "type": "array",
            "items": {"$ref": "#/components/schemas/Thing"},
        }

    assert breaking_changes(edit(tree), edit(tree)) == []


CHANGELOG = """# Changelog

## 2.0.0 - things

### Breaking
- `/v1/things/{id}` is gone: read `/v1/things?id=` instead.

## 1.0.0
- first
"""


def test_a_breaking_change_needs_a_version_step_and_a_changelog_entry() -> None:
    new = edit(lambda d: d["paths"].pop("/v1/things/{id}"))
    assert any("info.version is still 1.0.0" in r for r in unexplained(base(), new, CHANGELOG))
    new["info"]["version"] = "3.0.0"
    assert any("no section for version 3.0.0" in r for r in unexplained(base(), new, CHANGELOG))
    new["info"]["version"] = "2.0.0"
    assert unexplained(base(), new, CHANGELOG) == []
    other = edit(lambda d: d["paths"]["/v1/things"].pop("post"))
    other["info"]["version"] = "2.0.0"
    other["paths"].pop("/v1/things/{id}")
    [reason] = unexplained(base(), other, CHANGELOG.replace("`/v1/things/{id}` is gone", "gone"))
    assert "/v1/things" in reason
    assert "things" in changelog_section(CHANGELOG, "2.0.0") and "first" not in changelog_section(
        CHANGELOG, "2.0.0"
    )
