"""Existing clients keep working: today's merged OpenAPI against the last released one.

`docs/openapi/v1-released.json` is the gateway's merged document as released before the case
record round (commit d278111, built with `devtools.openapi_diff.current_document`). A change
that breaks a client (devtools/openapi_diff.py lists the kinds) fails this test unless the
document's `info.version` is stepped and CHANGELOG.md's section for that version names the
changed path - or it is in `REVIEWED` below, with the reason it changes no behaviour.
After a release, store the new document: `python -m devtools.openapi_diff --write
docs/openapi/v1-released.json` (and empty `REVIEWED`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devtools.openapi_diff import breaking_changes, current_document, diff, unexplained
from shared.validation import NAME_PATTERN

ROOT = Path(__file__).resolve().parents[2]
RELEASED = ROOT / "docs" / "openapi" / "v1-released.json"

# Breaking for the document, not for a client: each was the service's rule already (or still
# is accepted), now written in the OpenAPI. Both are in CHANGELOG.md (issue 20).
REVIEWED: dict[tuple[str, str, str], str] = {
    ("enum-value-removed", "POST /v1/consents", "request body.method"): (
        "`verbal` is deprecated, not refused: still accepted and stored as `in_person` "
        "(consent service); the enum lists the one vocabulary a client should send"
    ),
    ("request-enum-added", "POST /v1/referrals", "request body.needs[]"): (
        "need codes were always checked (an unknown one was a 422 naming `needs.<i>`); the "
        "enum now says which"
    ),
    ("request-body-added", "POST /oauth/token", "request body"): (
        "the token endpoint always took this form (RFC 6749 client credentials, RFC 8693 "
        "exchange); issue 23 documents it, no request is refused that was accepted"
    ),
    # Issue 23 item 1: shown, not enforced by the schema - the same checks refuse an unknown
    # code with the same 422 as before (gateway/clients.py, gateway/practitioners.py,
    # SubscriptionCreate._known); the enum lists exactly what they accept.
    ("request-enum-added", "POST /v1/admin/clients", "request body.agency_type"): (
        "an unknown agency type was always a 422, and `service`/`admin` are refused (CLI only); "
        "the enum lists the rest"
    ),
    ("request-enum-added", "POST /v1/admin/clients", "request body.scopes[]"): (
        "an unknown scope was always a 422 (`unknown scopes: ...`); the enum lists ALL_SCOPES"
    ),
    ("request-enum-added", "POST /v1/practitioners", "request body.roles[]"): (
        "an unknown role was always a 422 (`unknown roles: ...`); the enum lists shared.roles.ROLES"
    ),
    ("request-enum-added", "PATCH /v1/practitioners/{practitioner_id}", "request body.roles[]"): (
        "an unknown role was always a 422 (`unknown roles: ...`); the enum lists shared.roles.ROLES"
    ),
    ("request-enum-added", "POST /v1/subscriptions", "request body.event_types[]"): (
        "an unknown event type was always a 422 (`unknown event types ...`); the enum lists them"
    ),
}


def names_written_down(released: dict[str, Any], current: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    """Every name field's `pattern` (shared/validation.py NAME_PATTERN): the characters names
    have been refused for since issue 23 (a 422 naming the field), now written down."""
    return {
        (c.kind, c.operation, c.where): "names refused these characters already; the pattern says which"
        for c in breaking_changes(released, current)
        if c.kind == "request-pattern-changed" and c.detail == f"None -> {NAME_PATTERN}"
    }


@pytest.fixture(scope="module")
def documents() -> tuple[dict[str, Any], dict[str, Any]]:
    return json.loads(RELEASED.read_text()), current_document()


def test_no_unexplained_breaking_change(documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    released, current = documents
    changelog = (ROOT / "CHANGELOG.md").read_text()
    reviewed = {**REVIEWED, **names_written_down(released, current)}
    problems = unexplained(released, current, changelog, reviewed)
    assert problems == [], "\n".join(problems)


def test_every_reviewed_change_is_still_a_change(documents: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """A reviewed entry nobody needs any more is removed, not left to excuse a later change."""
    released, current = documents
    found = {(c.kind, c.operation, c.where) for c in breaking_changes(released, current)}
    assert set(REVIEWED) <= found


def test_the_current_document_is_a_superset_of_the_released_paths(
    documents: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    released, current = documents
    assert set(released["paths"]) <= set(current["paths"])
    assert any(not c.breaking for c in diff(released, current)) or released == current
