"""What issue 23 left to the merged OpenAPI document: the well-known endpoints' schemas and
409 on every operation that can answer it."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.openapi_doc import merged_document


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return merged_document()


def _ok_schema(doc: dict[str, Any], path: str) -> dict[str, Any]:
    ref = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_the_jwk_set_is_typed_as_rfc_7517(doc):
    keys = _ok_schema(doc, "/.well-known/jwks.json")
    assert keys["required"] == ["keys"]
    jwk = doc["components"]["schemas"][keys["properties"]["keys"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert set(jwk["required"]) == {"kty", "use", "alg", "kid", "n", "e"}
    assert jwk["properties"]["kty"]["const"] == "RSA" and jwk["properties"]["alg"]["const"] == "RS256"


def test_the_metadata_is_typed_as_rfc_8414(doc):
    meta = _ok_schema(doc, "/.well-known/oauth-authorization-server")
    assert {"issuer", "token_endpoint", "jwks_uri", "response_types_supported"} <= set(meta["required"])
    props = meta["properties"]
    assert "client_credentials" in props["grant_types_supported"]["items"]["enum"]
    assert "client_secret_basic" in props["token_endpoint_auth_methods_supported"]["items"]["enum"]
    assert "referrals:create" in props["scopes_supported"]["items"]["enum"]


# ---- 409: every operation that can answer a conflict says so, with its problem types ----

# Read from the code (where each Conflict is raised, and the endpoints that reach it) and from
# the e2e matrices that provoke them.
KNOWN_CONFLICTS: dict[tuple[str, str], set[str]] = {
    ("post", "/v1/referrals/{referral_id}/decision"): {
        "decision-already-made",
        "referral-not-awaiting-decision",
    },
    ("post", "/v1/referrals/{referral_id}/withdraw"): {
        "decision-already-made",
        "referral-not-awaiting-decision",
    },
    ("put", "/v1/referrals/{referral_id}/assignment"): {"referral-not-awaiting-decision"},
    ("post", "/v1/referrals/{referral_id}/matches/{person_id}/confirm"): {"match-already-resolved"},
    ("post", "/v1/referrals/{referral_id}/matches/{person_id}/reject"): {"match-already-resolved"},
    ("post", "/v1/people/{person_id}/merge"): {"merge-refused", "conflict"},
    ("post", "/v1/people/merges/{merge_id}/undo"): {"merge-refused"},
    ("post", "/v1/people/{person_id}/relationships"): {"relationship-exists", "conflict"},
    ("post", "/v1/people/{person_id}/relationships/{relationship_id}/end"): {"relationship-already-ended"},
    ("patch", "/v1/people/{person_id}"): {"person-merged"},
    ("post", "/v1/consents/{consent_id}/withdraw"): {"consent-already-withdrawn", "conflict"},
    ("post", "/v1/sharing-decisions"): {"decision-already-superseded", "conflict"},
    ("post", "/v1/subscriptions/{subscription_id}/deliveries/{delivery_id}/retry"): {"subscription-disabled"},
    ("post", "/v1/practitioners"): {"email-taken"},
    ("patch", "/v1/practitioners/{practitioner_id}"): {"email-taken"},
    ("post", "/v1/episodes/{episode_id}/assessments"): {
        "assessment-in-progress",
        "reassessment-not-due",
        "episode-closed",
        "conflict",
    },
    ("post", "/v1/episodes/{episode_id}/joint-visit"): {
        "not-a-step-down",
        "joint-visit-recorded",
        "episode-closed",
    },
    ("post", "/v1/episodes/{episode_id}/step-up"): {"step-up-in-progress", "episode-closed", "conflict"},
    ("post", "/v1/episodes/{episode_id}/reviews"): {"no-plan", "episode-closed", "conflict"},
    ("patch", "/v1/actions/{action_id}"): {"action-superseded", "episode-closed"},
    ("post", "/v1/assessments/{assessment_id}/submit"): {"assessment-state", "episode-closed"},
    ("post", "/v1/assessments/{assessment_id}/approve"): {"assessment-state", "episode-closed"},
    ("post", "/v1/assessments/{assessment_id}/return"): {"assessment-state", "episode-closed"},
    ("patch", "/v1/assessments/{assessment_id}"): {"assessment-state", "episode-closed"},
    ("post", "/v1/episodes/{episode_id}/close"): {"episode-closed"},
    ("put", "/v1/episodes/{episode_id}/plan"): {"episode-closed"},
    ("delete", "/v1/episodes/{episode_id}/taf-members/{member_id}"): {"episode-closed"},
}


def conflict_types(op: dict[str, Any]) -> set[str] | None:
    """The problem types a documented 409 names, or None when the operation documents no 409."""
    response = op["responses"].get("409")
    if response is None:
        return None
    schema = response["content"]["application/problem+json"]["schema"]["$ref"]
    assert schema.endswith("Problem"), schema
    named = response["description"].partition("(`type`: ")[2].rstrip(")")
    return {t.strip() for t in named.split(",") if t.strip()}


def test_operations_known_to_409_declare_it_with_their_types(doc):
    missing = {}
    for (method, path), types in KNOWN_CONFLICTS.items():
        declared = conflict_types(doc["paths"][path][method])
        if declared is None or not types <= declared:
            missing[f"{method.upper()} {path}"] = sorted(types - (declared or set()))
    assert missing == {}


def test_every_conflict_the_code_can_raise_is_named_on_an_operation(doc):
    from shared.problems import Problem

    def subclasses(cls: type) -> set[type]:
        return {cls} | {s for sub in cls.__subclasses__() for s in subclasses(sub)}

    # The apps are built by `merged_document`, so every service's errors module is imported.
    raised = {
        p.type_slug
        for p in subclasses(Problem)
        if p.status == 409 and p.__module__.startswith(("services.", "gateway.", "shared."))
    }
    named: set[str] = set()
    for item in doc["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and "responses" in op:
                named |= conflict_types(op) or set()
    assert raised - named == set()
    assert {"conflict", "email-taken", "episode-closed", "decision-already-made"} <= raised


def test_an_idempotency_key_conflict_is_declared_where_a_key_is_taken():
    """A request repeating an Idempotency-Key still in progress is 409 `conflict`."""
    from fastapi import routing
    from fastapi.routing import APIRoute

    from devtools.openapi_doc import _app
    from devtools.stack import SERVICES
    from shared.deps import get_idempotency
    from shared.idempotency import claim

    doc = merged_document()
    takers = []
    for process in SERVICES.values():
        for route in routing.iter_route_contexts(_app(process.app).routes):
            if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
                continue
            calls, pending = set(), [route.dependant]
            while pending:
                dependant = pending.pop()
                calls.add(dependant.call)
                pending.extend(dependant.dependencies)
            endpoint = route.dependant.call
            if get_idempotency in calls or (endpoint and claim.__name__ in endpoint.__code__.co_names):
                takers += [(m.lower(), str(route.path_format)) for m in route.methods or ()]
    assert len(takers) >= 10
    for method, path in takers:
        assert "conflict" in (conflict_types(doc["paths"][path][method]) or set()), (method, path)


def test_reads_never_declare_409(doc):
    assert [p for p, item in doc["paths"].items() if "409" in item.get("get", {}).get("responses", {})] == []
