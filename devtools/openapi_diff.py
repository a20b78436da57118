"""Breaking changes for clients between two OpenAPI documents (issue 20 item 6, issue 23 item 3).

    python -m devtools.openapi_diff OLD.json NEW.json   # the changes; exit 1 if any breaks clients
    python -m devtools.openapi_diff OLD.json --current  # against the gateway's merged document now
    python -m devtools.openapi_diff --write docs/openapi/v1-released.json   # store the current one

`current_document()` builds the gateway's merged `/openapi.json` in-process (the gateway's own
operations, each service's document, the route table: `gateway.openapi.merge`), so no stack
is needed. `tests/unit/test_openapi_compat.py` compares it with the last released document,
`docs/openapi/v1-released.json`, on every `make test`.

What breaks a client (each a `Change` with `breaking=True`):
- a path or an operation removed; a success (2xx) response removed;
- a response field removed, no longer always present (required -> optional), or its type
  changed - including newly `null`;
- a request field or parameter removed (unknown fields and query parameters are refused);
  a new required request field or parameter, or one that became required; a request body
  that became required;
- a request value refused that was accepted: an enum value removed, a type narrowed, a
  bound tightened (`maxLength`, `minLength`, `maximum`, `minimum`, `maxItems`, `minItems`),
  a `pattern` added or changed.
Additions are not breaking (listed with `breaking=False`): new paths, operations, responses,
optional request fields and parameters, response fields, enum values, looser bounds.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
SERVICES = ("referrals", "assessments", "consent", "notifications")
# Bounds that refuse more when they grow (min*) or shrink (max*).
LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")


@dataclass(frozen=True)
class Change:
    breaking: bool
    kind: str
    operation: str  # "GET /v1/referrals" (or the path alone for a removed path)
    where: str  # e.g. "response 200 body.items[].status", "query parameter status"
    detail: str

    @property
    def path(self) -> str:
        return self.operation.split(" ", 1)[-1]

    def __str__(self) -> str:
        flag = "BREAKING" if self.breaking else "additive"
        where = f" {self.where}" if self.where else ""
        return f"[{flag}] {self.kind}: {self.operation}{where}: {self.detail}"


class _Doc:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def resolve(self, schema: Any) -> tuple[dict[str, Any], str | None]:
        """The schema with its `$ref` (a chain of them) followed; and the last ref name."""
        ref = None
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 50:
            ref = schema["$ref"]
            node: Any = self.doc
            for part in ref.lstrip("#/").split("/"):
                node = node.get(part, {}) if isinstance(node, dict) else {}
            schema = node
            seen += 1
        return (schema if isinstance(schema, dict) else {}), ref


def _types(doc: _Doc, schema: dict[str, Any]) -> set[str]:
    """The JSON types a schema admits (`anyOf`/`oneOf` members joined; `nullable` adds null)."""
    schema, _ = doc.resolve(schema)
    out: set[str] = set()
    members = schema.get("anyOf") or schema.get("oneOf")
    if members:
        for m in members:
            out |= _types(doc, m)
    t = schema.get("type")
    if isinstance(t, list):
        out |= set(t)
    elif isinstance(t, str):
        out.add(t)
    elif not members:
        if "properties" in schema:
            out.add("object")
        elif "enum" in schema or "const" in schema:
            values = schema.get("enum", [schema.get("const")])
            out |= {_json_type(v) for v in values}
        elif "allOf" not in schema:
            out.add("any")
    if schema.get("nullable"):
        out.add("null")
    if "integer" in out and "number" in out:
        out.discard("integer")
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _single(doc: _Doc, schema: dict[str, Any]) -> dict[str, Any]:
    """The one non-null member of an `anyOf`/`oneOf` (an optional field), else the schema."""
    schema, _ = doc.resolve(schema)
    members = schema.get("anyOf") or schema.get("oneOf")
    if members:
        real = [m for m in members if doc.resolve(m)[0].get("type") != "null"]
        if len(real) == 1:
            return _single(doc, real[0])
    if schema.get("allOf") and len(schema["allOf"]) == 1:
        return _single(doc, schema["allOf"][0])
    return schema


def _enum(doc: _Doc, schema: dict[str, Any]) -> set[Any] | None:
    schema = _single(doc, schema)
    if "enum" in schema:
        return {json.dumps(v) for v in schema["enum"]}
    if "const" in schema:
        return {json.dumps(schema["const"])}
    return None


class Differ:
    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old, self.new = _Doc(old), _Doc(new)
        self.changes: list[Change] = []
        self._seen: set[tuple[str | None, str | None, str, str, str]] = set()

    def add(self, breaking: bool, kind: str, operation: str, where: str, detail: str) -> None:
        self.changes.append(Change(breaking, kind, operation, where, detail))

    # ---- documents, paths, operations ----

    def run(self) -> list[Change]:
        old_paths = self.old.doc.get("paths", {})
        new_paths = self.new.doc.get("paths", {})
        for path in sorted(set(old_paths) | set(new_paths)):
            if path not in new_paths:
                self.add(True, "path-removed", path, "", "the path is gone")
                continue
            if path not in old_paths:
                self.add(False, "path-added", path, "", "new path")
                continue
            for method in METHODS:
                old_op, new_op = old_paths[path].get(method), new_paths[path].get(method)
                name = f"{method.upper()} {path}"
                if old_op and not new_op:
                    self.add(True, "operation-removed", name, "", "the operation is gone")
                elif new_op and not old_op:
                    self.add(False, "operation-added", name, "", "new operation")
                elif old_op and new_op:
                    self.operation(name, old_paths[path], new_paths[path], old_op, new_op)
        return self.changes

    def operation(
        self,
        name: str,
        old_item: dict[str, Any],
        new_item: dict[str, Any],
        old_op: dict[str, Any],
        new_op: dict[str, Any],
    ) -> None:
        self.parameters(name, old_item, new_item, old_op, new_op)
        self.request_body(name, old_op.get("requestBody"), new_op.get("requestBody"))
        old_responses, new_responses = old_op.get("responses", {}), new_op.get("responses", {})
        for status in sorted(set(old_responses) | set(new_responses)):
            success = status.startswith("2")
            if status not in new_responses:
                if success:
                    self.add(True, "response-removed", name, f"response {status}", "no longer returned")
                continue
            if status not in old_responses:
                self.add(False, "response-added", name, f"response {status}", "new response")
                continue
            if not success:
                continue  # an error body is the shared problem+json: its fields are not read
            old_content = self.old.resolve(old_responses[status])[0].get("content", {})
            new_content = self.new.resolve(new_responses[status])[0].get("content", {})
            for media in sorted(old_content):
                if media not in new_content:
                    self.add(True, "response-media-type-removed", name, f"response {status}", media)
                    continue
                self.schema(
                    name,
                    f"response {status} body",
                    old_content[media].get("schema", {}),
                    new_content[media].get("schema", {}),
                    request=False,
                )

    def parameters(
        self,
        name: str,
        old_item: dict[str, Any],
        new_item: dict[str, Any],
        old_op: dict[str, Any],
        new_op: dict[str, Any],
    ) -> None:
        def params(
            doc: _Doc, item: dict[str, Any], op: dict[str, Any]
        ) -> dict[tuple[str, str], dict[str, Any]]:
            out = {}
            for p in [*item.get("parameters", []), *op.get("parameters", [])]:
                p, _ = doc.resolve(p)
                out[(p.get("in", ""), p.get("name", ""))] = p
            return out

        old, new = params(self.old, old_item, old_op), params(self.new, new_item, new_op)
        for key in sorted(set(old) | set(new)):
            where = f"{key[0]} parameter {key[1]}"
            if key not in new:
                # Unknown query parameters are refused: a client still sending it gets a 422.
                self.add(True, "parameter-removed", name, where, "no longer accepted")
            elif key not in old:
                required = bool(new[key].get("required"))
                self.add(
                    required, "parameter-added", name, where, "new required" if required else "new optional"
                )
            else:
                if new[key].get("required") and not old[key].get("required"):
                    self.add(True, "parameter-became-required", name, where, "now required")
                self.schema(name, where, old[key].get("schema", {}), new[key].get("schema", {}), request=True)

    def request_body(self, name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if old is None and new is None:
            return
        if old is None:
            assert new is not None
            new, _ = self.new.resolve(new)
            self.add(bool(new.get("required")), "request-body-added", name, "request body", "new body")
            return
        if new is None:
            self.add(True, "request-body-removed", name, "request body", "no longer accepted")
            return
        old, _ = self.old.resolve(old)
        new, _ = self.new.resolve(new)
        if new.get("required") and not old.get("required"):
            self.add(True, "request-body-became-required", name, "request body", "now required")
        old_content, new_content = old.get("content", {}), new.get("content", {})
        for media in sorted(old_content):
            if media not in new_content:
                self.add(True, "request-media-type-removed", name, "request body", media)
                continue
            self.schema(
                name,
                "request body",
                old_content[media].get("schema", {}),
                new_content[media].get("schema", {}),
                request=True,
            )

    # ---- schemas ----

    def schema(
        self, name: str, where: str, old: dict[str, Any], new: dict[str, Any], *, request: bool
    ) -> None:
        old_r, old_ref = self.old.resolve(old)
        new_r, new_ref = self.new.resolve(new)
        key = (old_ref, new_ref, name, "request" if request else "response", where if not old_ref else "")
        if old_ref and new_ref:
            # A shared component compared once per operation and direction (and no cycles).
            if key in self._seen:
                return
            self._seen.add(key)
        old_types, new_types = _types(self.old, old_r), _types(self.new, new_r)
        if "any" not in old_types and "any" not in new_types and old_types != new_types:
            if request and not new_types >= old_types:
                self.add(
                    True, "request-type-narrowed", name, where, f"{_fmt(old_types)} -> {_fmt(new_types)}"
                )
            elif not request and not old_types >= new_types:
                self.add(
                    True, "response-type-changed", name, where, f"{_fmt(old_types)} -> {_fmt(new_types)}"
                )
            else:
                self.add(
                    False,
                    "type-widened" if request else "type-narrowed",
                    name,
                    where,
                    f"{_fmt(old_types)} -> {_fmt(new_types)}",
                )
        self.values(name, where, old_r, new_r, request=request)
        o, n = _single(self.old, old_r), _single(self.new, new_r)
        if "properties" in o or "properties" in n:
            self.properties(name, where, o, n, request=request)
        if "items" in o and "items" in n:
            self.schema(name, f"{where}[]", o["items"], n["items"], request=request)

    def values(
        self, name: str, where: str, old: dict[str, Any], new: dict[str, Any], *, request: bool
    ) -> None:
        old_enum, new_enum = _enum(self.old, old), _enum(self.new, new)
        if old_enum is not None and new_enum is not None:
            removed, added = sorted(old_enum - new_enum), sorted(new_enum - old_enum)
            if removed:
                # A value no longer sent is no news to a reader; a value refused breaks a sender.
                self.add(request, "enum-value-removed", name, where, ", ".join(removed))
            if added:
                self.add(False, "enum-value-added", name, where, ", ".join(added))
        elif old_enum is None and new_enum is not None and request:
            self.add(
                True,
                "request-enum-added",
                name,
                where,
                "values now limited to " + ", ".join(sorted(new_enum)),
            )
        if not request:
            return
        o, n = _single(self.old, old), _single(self.new, new)
        for bound in LOWER_BOUNDS:
            if bound in n and (bound not in o or n[bound] > o[bound]):
                self.add(
                    True, "request-bound-tightened", name, where, f"{bound} {o.get(bound)} -> {n[bound]}"
                )
        for bound in UPPER_BOUNDS:
            if bound in n and (bound not in o or n[bound] < o[bound]):
                self.add(
                    True, "request-bound-tightened", name, where, f"{bound} {o.get(bound)} -> {n[bound]}"
                )
        if "pattern" in n and n.get("pattern") != o.get("pattern"):
            self.add(True, "request-pattern-changed", name, where, f"{o.get('pattern')} -> {n['pattern']}")

    def properties(
        self, name: str, where: str, old: dict[str, Any], new: dict[str, Any], *, request: bool
    ) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
        for prop in sorted(set(old_props) | set(new_props)):
            at = f"{where}.{prop}"
            if prop not in new_props:
                # Request models refuse unknown fields: a client still sending it gets a 422.
                detail = "no longer accepted" if request else "no longer returned"
                self.add(True, "field-removed", name, at, detail)
            elif prop not in old_props:
                breaking = request and prop in new_req
                self.add(
                    breaking,
                    "field-added",
                    name,
                    at,
                    "new required" if breaking else "new optional" if request else "new field",
                )
            else:
                if request and prop in new_req and prop not in old_req:
                    self.add(True, "request-field-became-required", name, at, "now required")
                if not request and prop in old_req and prop not in new_req:
                    self.add(True, "response-field-became-optional", name, at, "may now be absent")
                self.schema(name, at, old_props[prop], new_props[prop], request=request)


def _fmt(types: set[str]) -> str:
    return "|".join(sorted(types))


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every change a client may notice, breaking ones and additions (`Change.breaking`)."""
    return Differ(old, new).run()


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    return [c for c in diff(old, new) if c.breaking]


def changelog_section(text: str, version: str) -> str:
    """The CHANGELOG.md section whose `## ` heading names `version` (empty if none does)."""
    lines = text.splitlines()
    out: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("## "):
            inside = version in line
            continue
        if inside:
            out.append(line)
    return "\n".join(out)


def unexplained(
    old: dict[str, Any],
    new: dict[str, Any],
    changelog: str,
    reviewed: Iterable[tuple[str, str, str]] = (),
) -> list[str]:
    """Why the new document may not be released: a breaking change needs `info.version`
    stepped and the CHANGELOG.md section of that version naming the path of each change.
    `reviewed`: (kind, operation, where) of changes to the document that change no
    behaviour (a rule the service always enforced, now written down), each with its reason
    where the caller keeps the list."""
    accepted = set(reviewed)
    breaking = [c for c in breaking_changes(old, new) if (c.kind, c.operation, c.where) not in accepted]
    if not breaking:
        return []
    old_version = old.get("info", {}).get("version")
    new_version = new.get("info", {}).get("version")
    if new_version == old_version:
        return [f"info.version is still {old_version}: {c}" for c in breaking]
    section = changelog_section(changelog, str(new_version))
    if not section:
        return [f"CHANGELOG.md has no section for version {new_version}: {c}" for c in breaking]
    return [
        f"CHANGELOG.md {new_version} does not mention {c.path}: {c}"
        for c in breaking
        if c.path not in section
    ]


# ---- the current merged document, in-process ----


def current_document() -> dict[str, Any]:
    """The gateway's merged `/openapi.json` as it would serve it, built without a stack."""
    from fastapi.openapi.utils import get_openapi

    from gateway.main import create_app as gateway_app
    from gateway.openapi import merge
    from gateway.routes import RouteTable, load_routes

    gateway = gateway_app()
    base = get_openapi(
        title=gateway.title, version=gateway.version, description=gateway.description, routes=gateway.routes
    )
    services = {name: _service_document(name) for name in SERVICES}
    return merge(base, services, RouteTable(load_routes()))


def _service_document(name: str) -> dict[str, Any]:
    import importlib

    from shared.tokens import KeySet

    main = importlib.import_module(f"services.{name}.main")
    config = importlib.import_module(f"services.{name}.config")

    async def no_keys() -> dict[str, Any]:  # never called: the document needs no caller
        return {"keys": []}

    app = main.create_app(config.Settings(), keys=KeySet(no_keys))
    doc: dict[str, Any] = app.openapi()
    return doc


def _iter_lines(changes: list[Change]) -> Iterator[str]:
    for c in sorted(changes, key=lambda c: (not c.breaking, c.path, c.operation, c.where)):
        yield str(c)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("old", nargs="?", help="the released document (JSON)")
    parser.add_argument("new", nargs="?", help="the new document (JSON); --current for the gateway's now")
    parser.add_argument("--current", action="store_true", help="compare with the merged document built now")
    parser.add_argument("--write", metavar="PATH", help="write the current merged document to PATH")
    args = parser.parse_args(argv)
    if args.write:
        Path(args.write).write_text(json.dumps(current_document(), indent=1, sort_keys=True) + "\n")
        return 0
    if not args.old or not (args.new or args.current):
        parser.error("give OLD and NEW, or OLD --current")
    old = json.loads(Path(args.old).read_text())
    new = current_document() if args.current else json.loads(Path(args.new).read_text())
    changes = diff(old, new)
    for line in _iter_lines(changes):
        print(line)
    breaking = [c for c in changes if c.breaking]
    print(f"{len(breaking)} breaking, {len(changes) - len(breaking)} additive")
    return 1 if breaking else 0


if __name__ == "__main__":
    sys.exit(main())
