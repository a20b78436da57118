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
from devtools.stack import ROOT

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
            wanted |= {"400", "413"}
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


def test_no_non_standard_bound_keywords(doc):
    """`ge`/`le` are not JSON Schema: a date's range is in its description."""
    found = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            found.extend(
                f"{where}.{k}"
                for k in ("ge", "le", "gt", "lt")
                if k in node and not isinstance(node[k], dict)
            )
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(doc, "")
    assert found == []
    day = doc["paths"]["/v1/reports/referrals"]["get"]["parameters"][0]["schema"]["anyOf"][0]
    assert day["format"] == "date" and "1900-01-01" in day["description"]


def test_servers_and_security_scheme(doc):
    assert doc["servers"][0]["url"] == "/"
    oauth2 = doc["components"]["securitySchemes"]["oauth2"]
    for named in re.findall(r"[\w/]+\.md", oauth2["description"]):
        assert (ROOT / named).is_file(), named
    assert "docs/security.md" in oauth2["description"]


def test_servers_name_the_public_url():
    from devtools.openapi_doc import _app
    from devtools.stack import GATEWAY
    from gateway.config import Settings
    from gateway.openapi import gateway_document

    base = gateway_document(_app(GATEWAY.app), Settings(public_url="https://api.early-help.example"))
    assert base["servers"][0]["url"] == "https://api.early-help.example"


def test_the_token_endpoint_is_documented(doc):
    op = doc["paths"]["/oauth/token"]["post"]
    form = op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == ["grant_type"]
    assert set(form["properties"]["grant_type"]["enum"]) == {
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    }
    assert {"scope", "client_id", "client_secret", "subject_token", "subject_token_type"} <= set(
        form["properties"]
    )
    schemas = doc["components"]["schemas"]
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schemas[ok]["required"]) == {"access_token", "token_type", "expires_in", "scope"}
    assert "issued_token_type" in schemas[ok]["properties"]
    for status in ("400", "401", "429"):
        ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert set(schemas[ref]["required"]) == {"error", "error_description"}
        assert "invalid_client" in schemas[ref]["properties"]["error"]["enum"]
    assert {"clientBasic": []} in op["security"]
    assert doc["components"]["securitySchemes"]["clientBasic"]["scheme"] == "basic"
