"""The merged OpenAPI document is a contract clients can be generated from (issue 23).

Built the way the gateway serves it (`devtools.openapi_doc`), without starting a process.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.openapi_doc import merged_document

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return merged_document()


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def test_operation_ids_are_readable_and_unique(doc):
    ids = [op.get("operationId") for _, _, op in operations(doc)]
    assert all(ids), "every operation has an id"
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    unreadable = [
        i
        for i in ids
        if not re.fullmatch(r"(gateway|referrals|assessments|consent|notifications)\.[a-z][a-z0-9_]*", i)
    ]
    assert unreadable == []


def test_operation_ids_name_the_service_that_answers(doc):
    for method, path, op in operations(doc):
        service = op.get("x-service", "gateway")
        assert op["operationId"].startswith(service + "."), (method, path, op["operationId"])


def problem_ref(op: dict[str, Any], status: str) -> str | None:
    content = op["responses"].get(status, {}).get("content", {})
    return content.get("application/problem+json", {}).get("schema", {}).get("$ref")


def test_every_problem_schema_is_distinct_and_named(doc):
    schemas = doc["components"]["schemas"]
    titles = Counter(s.get("title") for s in schemas.values() if s.get("title"))
    assert [t for t, n in titles.items() if n > 1] == [], "generators keep one schema per title"
    for prefix in ("", "Referrals_", "Assessments_", "Consent_", "Notifications_"):
        problem = schemas[f"{prefix}Problem"]
        assert problem["title"] == f"{prefix}Problem"
        assert problem["properties"]["errors"]["items"] == {
            "$ref": f"#/components/schemas/{prefix}ProblemError"
        }
        item = schemas[f"{prefix}ProblemError"]["properties"]
        assert {"field", "loc", "message", "code"} <= set(item)
        assert item["code"]["description"]


def test_every_operation_documents_its_problems(doc):
    missing = []
    for method, path, op in operations(doc):
        if not path.startswith("/v1/"):
            continue
        service = op["x-service"]
        ref = (
            "#/components/schemas/" + ("" if service == "gateway" else service.capitalize() + "_") + "Problem"
        )
        wanted = {"401", "422", "429"}
        if op["x-required-scope"]:
            wanted.add("403")
        if "{" in path:
            wanted.add("404")
        if "requestBody" in op:
            wanted.add("413")
        missing += [f"{method.upper()} {path} {s}" for s in sorted(wanted) if problem_ref(op, s) != ref]
        assert "405" not in op["responses"]
    assert missing == []


def test_operations_honouring_if_match_document_412(doc):
    """Read from the code (`check_if_match` reached from the endpoint)."""
    for method, path in [
        ("patch", "/v1/assessments/{assessment_id}"),
        ("patch", "/v1/actions/{action_id}"),
        ("post", "/v1/referrals/{referral_id}/decision"),
        ("put", "/v1/deadline-rules/{kind}"),
    ]:
        op = doc["paths"][path][method]
        assert problem_ref(op, "412"), (method, path)
    assert "412" not in doc["paths"]["/v1/referrals"]["post"]["responses"]


def test_conflicts_name_their_problem_types(doc):
    op = doc["paths"]["/v1/referrals/{referral_id}/decision"]["post"]
    assert "decision-already-made" in op["responses"]["409"]["description"]
    assert problem_ref(op, "409") == "#/components/schemas/Referrals_Problem"


def test_no_http_validation_error_is_advertised(doc):
    """Every 422 (the gateway's admin endpoints included) is answered as problem+json."""
    text = str(doc["paths"])
    assert "HTTPValidationError" not in text
    assert "HTTPValidationError" not in doc["components"]["schemas"]
