"""Every response the end-to-end suite sees is checked against the published contract (issue 23).

An httpx response hook on the suite's gateway client (`Api.http`) finds the operation the
request matched in the gateway's merged `/openapi.json`, and records a violation when the
status is not declared for it (`default` stands only for server faults, 5xx) or when a JSON
body does not validate against the schema declared for that status and media type. The
session fails at its end with the list (`tests/e2e/conftest.py`).

Requests the document does not describe are not checked: paths or methods it does not have
(the 405s, the unknown routes), and everything outside `/v1/`, `/fhir/` and `/oauth/token`. The
FHIR facade's operations are declared in `application/fhir+json` (a generic resource schema, and
every error an OperationOutcome): the shapes themselves are FHIR R4's, checked with
`fhir.resources` in the services' tests and tests/e2e/test_fhir.py.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
from jsonschema import Draft202012Validator

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class Violation:
    operation: str
    status: int
    problem: str

    def __str__(self) -> str:
        return f"{self.operation} -> {self.status}: {self.problem}"


@dataclass
class Conformance:
    doc: dict[str, Any]
    violations: dict[tuple[str, int, str], Violation] = field(default_factory=dict)
    checked: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # Literal segments before templated ones, so /v1/people/merges/... wins over /v1/people/{id}.
        self.paths = sorted(
            (
                (re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"), path)
                for path in self.doc["paths"]
            ),
            key=lambda p: (p[1].count("{"), -len(p[1])),
        )
        self._validators: dict[str, Draft202012Validator] = {}

    @classmethod
    def from_gateway(cls, base_url: str) -> Conformance:
        doc = httpx.get(f"{base_url}/openapi.json", timeout=30).json()
        assert "x-missing-services" not in doc, doc.get("x-missing-services")
        return cls(doc)

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        if not (path.startswith(("/v1/", "/fhir/")) or path == "/oauth/token"):
            return None
        for pattern, template in self.paths:
            if pattern.match(path):
                op = self.doc["paths"][template].get(method.lower())
                return (f"{method.upper()} {template}", op) if op else None
        return None

    def _validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            root = {**schema, "components": self.doc.get("components", {})}
            self._validators[key] = Draft202012Validator(root)
        return self._validators[key]

    def check(self, response: httpx.Response) -> None:
        request = response.request
        found = self.operation(request.method, request.url.path)
        if found is None:
            return
        name, op = found
        status = response.status_code
        responses = op.get("responses", {})
        declared = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
        if declared is None and status >= 500:
            declared = responses.get("default")
        with self._lock:
            self.checked += 1
        if declared is None:
            self._record(name, status, "status not declared")
            return
        media = response.headers.get("content-type", "").split(";")[0].strip()
        if not media.endswith("json") or not response.content:
            return
        content = declared.get("content", {})
        if media not in content:
            self._record(name, status, f"media type {media} not declared ({', '.join(content) or 'none'})")
            return
        schema = content[media].get("schema")
        if not schema:
            return
        try:
            body = response.json()
        except ValueError:
            self._record(name, status, "body is not JSON")
            return
        errors = sorted(self._validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
        for error in errors[:3]:
            where = "/".join(str(p) for p in error.absolute_path) or "(body)"
            self._record(name, status, f"{where}: {error.message[:200]}")

    def _record(self, name: str, status: int, problem: str) -> None:
        # One entry per operation, status and kind of problem (not per value seen).
        kind = re.sub(r"/\d+(/|:)", r"/N\1", problem.split(": ")[0] if ": " in problem else problem)
        with self._lock:
            self.violations.setdefault((name, status, kind), Violation(name, status, problem))

    def report(self) -> str:
        lines = [str(v) for v in sorted(self.violations.values(), key=str)]
        return (
            f"{len(lines)} response(s) not as the OpenAPI document says ({self.checked} checked):\n"
            + "\n".join(f"  {line}" for line in lines)
        )
