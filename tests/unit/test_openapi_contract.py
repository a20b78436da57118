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
