"""Every response property of the assessments, notifications and gateway admin operations is
typed in the merged OpenAPI document (issue 23, item 1).

Typed: a `type`, a `$ref`, an `anyOf`/`oneOf`/`allOf` (each branch typed in turn), an `enum`
or a `const`. An object is typed when it has properties, or is a map whose values are typed
(`additionalProperties` a schema). A CSV response is a described string.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.openapi_doc import merged_document
from gateway.clients import ALL_SCOPES
from services.assessments.schemas import AgencyType as TafAgencyType
from services.notifications.channels.feed import WEBHOOK_EVENT_TYPES
from shared.codes import CODE_LISTS
from shared.roles import AGENCY_TYPES, ROLES

METHODS = ("get", "post", "put", "patch", "delete")
# Operation id prefixes of this part; the gateway's own OAuth endpoints are documented apart.
MINE = ("assessments.", "notifications.")
GATEWAY_PATHS = ("/v1/admin/", "/v1/practitioners", "/v1/teams", "/v1/code-lists")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return merged_document()


def _mine(path: str, op: dict[str, Any]) -> bool:
    return op.get("operationId", "").startswith(MINE) or path.startswith(GATEWAY_PATHS)


def _responses(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None or not _mine(path, op):
                continue
            for code, response in op["responses"].items():
                for media, content in (response.get("content") or {}).items():
                    yield f"{method.upper()} {path} {code} {media}", media, content.get("schema") or {}


def _untyped(doc: dict[str, Any], schema: Any, where: str, seen: set[str]) -> Iterator[str]:
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            yield from _untyped(doc, doc["components"]["schemas"][name], name, seen)
        return
    if not any(k in schema for k in ("type", "anyOf", "oneOf", "allOf", "enum", "const")):
        yield where or "(the body)"
        return
    if schema.get("type") == "object" and not schema.get("properties"):
        if not isinstance(schema.get("additionalProperties"), dict) or not schema["additionalProperties"]:
            yield f"{where} (an object with neither properties nor typed values)"
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, []):
            yield from _untyped(doc, branch, where, seen)
    for name, prop in (schema.get("properties") or {}).items():
        yield from _untyped(doc, prop, f"{where}.{name}", seen)
    if isinstance(schema.get("items"), dict):
        yield from _untyped(doc, schema["items"], f"{where}[]", seen)
    if isinstance(schema.get("additionalProperties"), dict) and schema["additionalProperties"]:
        yield from _untyped(doc, schema["additionalProperties"], f"{where}{{}}", seen)


def test_every_response_property_is_typed(doc: dict[str, Any]) -> None:
    found = []
    for at, media, schema in _responses(doc):
        if media == "application/json":
            found += [f"{at}: {w}" for w in _untyped(doc, schema, "", set())]
        elif media.startswith("text/"):
            if schema.get("type") != "string" or not schema.get("description"):
                found.append(f"{at}: a text body is a string with its columns described")
    assert found == [], "\n".join(found)


def _schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["components"]["schemas"][name]


def _enum(prop: dict[str, Any]) -> set[str]:
    for branch in [prop, prop.get("items") or {}, *prop.get("anyOf", [])]:
        if "enum" in branch:
            return set(branch["enum"])
        if "$ref" in branch:
            return set()
    return set()


def test_fixed_lists_on_reads_are_enums_from_the_one_vocabulary(doc: dict[str, Any]) -> None:
    episode = _schema(doc, "Assessments_EpisodeRead")["properties"]
    refs = {p: episode[p] for p in ("status", "origin", "level_of_need", "close_reason")}
    assert all("$ref" in r or "anyOf" in r or "enum" in r for r in refs.values())
    document = doc["components"]["schemas"]

    def values(prop: dict[str, Any]) -> set[str]:
        for branch in [prop, *prop.get("anyOf", [])]:
            if "$ref" in branch:
                return set(document[branch["$ref"].rsplit("/", 1)[-1]].get("enum", []))
            if "enum" in branch:
                return set(branch["enum"])
        return set()

    assert values(episode["status"]) == set(CODE_LISTS["episode_status"].values)
    assert values(episode["origin"]) == set(CODE_LISTS["episode_origin"].values)
    assert values(episode["level_of_need"]) == set(CODE_LISTS["level_of_need"].values)
    assert values(episode["close_reason"]) == set(CODE_LISTS["close_reason"].values)
    taf = _schema(doc, "Assessments_TafMemberRead")["properties"]["agency_type"]
    assert values(taf) == set(CODE_LISTS["agency_type"].values) == set(TafAgencyType.__args__)
    contact = _schema(doc, "Assessments_ContactRead")["properties"]["method"]
    assert values(contact) == set(CODE_LISTS["contact_method"].values)

    client = _schema(doc, "ClientRead")["properties"]
    assert _enum(client["agency_type"]) == set(AGENCY_TYPES)
    assert _enum(client["scopes"]) == set(ALL_SCOPES)
    assert _enum(_schema(doc, "PractitionerRead")["properties"]["roles"]) == set(ROLES)
    subscription = _schema(doc, "Notifications_SubscriptionRead")["properties"]
    assert _enum(subscription["event_types"]) == set(WEBHOOK_EVENT_TYPES)


def test_the_episode_report_declares_its_csv(doc: dict[str, Any]) -> None:
    content = doc["paths"]["/v1/reports/episodes"]["get"]["responses"]["200"]["content"]
    csv = content["text/csv"]
    assert csv["schema"]["type"] == "string"
    assert "section,measure,value" in csv["schema"]["description"]
    assert csv["example"].startswith("section,measure,value")
