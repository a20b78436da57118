"""Every response of the referrals and consent services is typed in the merged OpenAPI document
(issue 23, item 1): a generated client gets a model for every property, not `Any`.

A property is untyped when it has no `type`, `$ref`, `anyOf`/`oneOf`/`allOf`, `enum` or
`const`, or when it is an object with no properties that is not a map of typed values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.openapi_doc import merged_document

SERVICES = {"referrals", "consent"}
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return merged_document()


def _responses(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, media type, schema) of every 2xx response body of the services' operations."""
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None or op.get("x-service") not in SERVICES:
                continue
            for status, response in op["responses"].items():
                if not status.startswith("2"):
                    continue
                for media, content in response.get("content", {}).items():
                    yield f"{method.upper()} {path} {status} {media}", media, content.get("schema", {})


def _untyped(schema: dict[str, Any]) -> bool:
    if not any(k in schema for k in ("type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const")):
        return True
    if schema.get("type") == "object" and not schema.get("properties"):
        values = schema.get("additionalProperties")
        return not isinstance(values, dict) or not values or _untyped(values)
    return False


def untyped_properties(doc: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    components = doc["components"]["schemas"]
    found: list[str] = []
    seen: set[str] = set()

    def walk(node: dict[str, Any], at: str) -> None:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[1]
            if name not in seen:
                seen.add(name)
                walk(components[name], name)
            return
        if _untyped(node):
            found.append(at)
        for name, prop in (node.get("properties") or {}).items():
            walk(prop, f"{at}.{name}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{at}[]")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{at}{{}}")
        for key in ("anyOf", "oneOf", "allOf"):
            for option in node.get(key, []):
                walk(option, at)

    walk(schema, where)
    return found


def test_the_check_sees_an_untyped_property(doc):
    schema = {"type": "object", "properties": {"a": {"title": "A"}, "b": {"type": "object"}}}
    assert untyped_properties(doc, schema, "X") == ["X.a", "X.b"]
    typed_map = {"type": "object", "additionalProperties": {"type": "string"}}
    assert untyped_properties(doc, typed_map, "X") == []


def test_every_response_property_is_typed(doc):
    found = []
    for where, media, schema in _responses(doc):
        if media.startswith("text/"):
            continue
        found += untyped_properties(doc, schema, where)
    assert found == []


def test_csv_responses_are_text_with_their_columns_described(doc):
    csv = [(where, schema) for where, media, schema in _responses(doc) if media == "text/csv"]
    assert {w.split(" 200")[0] for w, _ in csv} == {
        "GET /v1/reports/referrals",
        "GET /v1/people/{person_id}/disclosures/export",
        "GET /v1/reports/threshold-audit",
        "GET /v1/reports/jsna",  # issue 21
    }
    for where, schema in csv:
        assert schema.get("type") == "string", where
        assert "Columns" in schema.get("description", ""), where
    disclosures = dict(csv)["GET /v1/people/{person_id}/disclosures/export 200 text/csv"]
    from services.consent.export import CSV_COLUMNS

    assert all(f"`{c}`" in disclosures["description"] for c in CSV_COLUMNS)
    from services.referrals.jsna import CSV_COLUMNS as JSNA_COLUMNS

    jsna = dict(csv)["GET /v1/reports/jsna 200 text/csv"]
    assert all(f"`{c}`" in jsna["description"] for c in JSNA_COLUMNS)


def _property(doc: dict[str, Any], schema: str, name: str) -> dict[str, Any]:
    return doc["components"]["schemas"][schema]["properties"][name]


def _enum(doc: dict[str, Any], prop: dict[str, Any]) -> set[str]:
    """The values of an enum property, through arrays, refs and nullable anyOf."""
    if "$ref" in prop:
        return _enum(doc, doc["components"]["schemas"][prop["$ref"].rsplit("/", 1)[1]])
    if "items" in prop:
        return _enum(doc, prop["items"])
    values = set(prop.get("enum", ()))
    for option in prop.get("anyOf", ()):
        values |= _enum(doc, option)
    return values


@pytest.mark.parametrize(
    ("schema", "name", "code_list"),
    [
        ("Referrals_ReferralRead", "needs", "need"),
        ("Referrals_MashQueueItem", "needs", "need"),
        ("Referrals_NeedRead", "code", "need"),
        ("Referrals_NeedRead", "headline", "headline"),
        ("Referrals_ChildRead", "gender", "gender"),
        ("Referrals_PersonRead", "gender", "gender"),
        ("Referrals_ReferralConsentRead", "method", "consent_method"),
        ("Consent_ConsentRead", "competence", "competence"),
        ("Consent_ConsentRead", "purposes", "consent_purpose"),
        ("Consent_GivenByRead", "relationship", "consent_given_by"),
        ("Consent_SharingDecisionRead", "purpose", "consent_purpose"),
        ("Consent_SharingDecisionRead", "decision", "sharing_decision"),
        ("Consent_SharingDecisionRead", "lawful_basis", "lawful_basis"),
        ("Consent_LawfulBasisRead", "code", "lawful_basis"),
    ],
)
def test_fixed_lists_on_read_are_their_code_lists(doc, schema, name, code_list):
    from shared.codes import CODE_LISTS

    assert _enum(doc, _property(doc, schema, name)) == set(CODE_LISTS[code_list].values)


def test_fixed_lists_of_the_services_own_are_enums(doc):
    from services.consent.schemas import DisclosureBasis
    from services.referrals.codes import SOURCE_CODE_BY_AGENCY_TYPE, SOURCE_CODES

    assert _enum(doc, _property(doc, "Consent_DisclosureRead", "basis")) == set(DisclosureBasis.__args__)
    assert set(SOURCE_CODE_BY_AGENCY_TYPE.values()) <= set(SOURCE_CODES)
    for schema in ("Referrals_ReferralRead", "Referrals_ReferralSummary", "Referrals_ReportBySourceCode"):
        assert _enum(doc, _property(doc, schema, "source_code")) == set(SOURCE_CODES), schema
    assert _enum(doc, _property(doc, "Referrals_MatchRead", "reasons"))
    assert "received" in _enum(doc, _property(doc, "Referrals_ReportByOutcome", "outcome"))


def test_stored_json_parts_keep_their_keys(doc):
    """The referrer, address, consent and decision-maker are read as stored: a step-up's
    referrer has no email or phone, so those two are not required."""
    schemas = doc["components"]["schemas"]
    assert set(schemas["Referrals_ReferrerRead"]["required"]) == {"name", "role"}
    assert set(schemas["Referrals_ReferrerRead"]["properties"]) == {"name", "role", "email", "phone"}
    assert set(schemas["Referrals_ReferralAddressRead"]["required"]) == {"line1", "town", "postcode"}
    assert set(schemas["Referrals_ReferralConsentRead"]["required"]) == {
        "obtained",
        "given_by",
        "obtained_at",
        "method",
    }
    assert set(schemas["Referrals_DecidedByRead"]["required"]) == {"name", "role"}
    assert set(schemas["Referrals_AgencyCheckRead"]["required"]) == {"agency_type", "summary"}


def test_the_rules_a_caller_can_break_are_on_the_fields(doc):
    schemas = doc["components"]["schemas"]
    referral = schemas["Referrals_ReferralCreate"]["properties"]
    assert "safeguarding_concern" in referral["consent"]["description"]
    consent = schemas["Referrals_ConsentIn"]["properties"]
    assert all("obtained" in consent[f]["description"] for f in ("given_by", "obtained_at", "method"))
    assert "postcode" in schemas["Referrals_AddressIn"]["properties"]["postcode"]["description"]
    assert "partnership_plus" in schemas["Referrals_DecisionCreate"]["properties"]["outcome"]["description"]
    sharing = schemas["Consent_SharingDecisionCreate"]["properties"]
    assert "other than consent" in sharing["approved_by"]["description"]
    assert "parental" in schemas["Consent_ConsentCreate"]["properties"]["competence"]["description"]
