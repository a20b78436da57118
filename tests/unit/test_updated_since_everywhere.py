"""`updated_since` on every list endpoint (issue 20, item 4): each GET answering a list (an
array, or an object with `items`) in the merged OpenAPI declares it, but for the few that are
no record of changes (each with its reason)."""

from __future__ import annotations

from typing import Any

from devtools.openapi_doc import merged_document

# Lists that are not a copy a partner keeps up to date.
EXEMPT = {
    "/v1/code-lists": "fixed reference data (changes with a release, see CHANGELOG.md)",
    "/v1/lawful-bases": "fixed reference data",
    "/v1/people": "a ranked search by identifiers, not a list of records",
    "/v1/reports/drift": "a report as of now (drift is a matter of time passing), not a list of records",
}


def _lists(doc: dict[str, Any]) -> dict[str, set[str]]:
    schemas = doc["components"]["schemas"]

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    out = {}
    for path, item in doc["paths"].items():
        op = item.get("get")
        if not op:
            continue
        schema = op["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            continue
        schema = resolve(schema)
        if schema.get("type") == "array" or "items" in schema.get("properties", {}):
            out[path] = {p["name"] for p in op.get("parameters", [])}
    return out


def test_every_list_takes_updated_since():
    lists = _lists(merged_document())
    assert len(lists) >= 25  # the check sees the lists at all
    missing = sorted(
        path for path, params in lists.items() if "updated_since" not in params and path not in EXEMPT
    )
    assert not missing, f"lists without updated_since: {missing}"
    assert set(EXEMPT) <= set(lists), "an exemption names a path that is no longer a list"
