"""Public routes of the referrals service (internal routes are never listed here)."""

from __future__ import annotations

from gateway.routes import Route

CREATE, READ, TRIAGE, PEOPLE, REP = (
    "referrals:create",
    "referrals:read",
    "triage:write",
    "people:read",
    "reports:read",
)

ROUTES = [
    Route("POST", "/v1/referrals", CREATE, summary="Submit a Request for Support or safeguarding concern"),
    Route(
        "GET", "/v1/referrals", READ, summary="Referrals the caller may see (partners: their agency's own)"
    ),
    Route("GET", "/v1/referrals/{referral_id}", READ, summary="One referral"),
    Route(
        "POST",
        "/v1/referrals/{referral_id}/withdraw",
        CREATE,
        summary="Withdraw a referral awaiting a decision",
    ),
    Route("POST", "/v1/referrals/{referral_id}/decision", TRIAGE, summary="Record the MASH decision"),
    Route(
        "POST",
        "/v1/referrals/{referral_id}/matches/{person_id}/confirm",
        TRIAGE,
        summary="Confirm a possible match (merges the people)",
    ),
    Route(
        "POST",
        "/v1/referrals/{referral_id}/matches/{person_id}/reject",
        TRIAGE,
        summary="Reject a possible match",
    ),
    Route(
        "GET",
        "/v1/mash/queue",
        TRIAGE,
        summary="Referrals awaiting a MASH decision, by urgency or due time (MASH roles)",
    ),
    Route(
        "PUT",
        "/v1/referrals/{referral_id}/assignment",
        TRIAGE,
        summary="Assign a queued referral to a MASH practitioner",
    ),
    Route("GET", "/v1/people", PEOPLE, summary="Search the person index (ranked, scored)"),
    Route("GET", "/v1/people/{person_id}", PEOPLE, summary="One person in the index"),
    Route("GET", "/v1/people/{person_id}/journey", PEOPLE, summary="A child's journey across services"),
    Route("POST", "/v1/people/{person_id}/merge", TRIAGE, summary="Merge a duplicate person into another"),
    Route("POST", "/v1/people/merges/{merge_id}/undo", TRIAGE, summary="Undo a merge"),
    Route(
        "GET", "/v1/reports/referrals", REP, summary="Referral volumes, timeliness, conversion, re-referrals"
    ),
    # Issue 20: households, relationships and corrections. Reads and writes share the person
    # index's scope; writes need a MASH or early help role (services/referrals/policy.py).
    Route("GET", "/v1/people/{person_id}/relationships", PEOPLE, summary="A person's relationships"),
    Route(
        "POST",
        "/v1/people/{person_id}/relationships",
        PEOPLE,
        summary="Record a relationship (MASH, early help)",
    ),
    Route(
        "POST",
        "/v1/people/{person_id}/relationships/{relationship_id}/end",
        PEOPLE,
        summary="End a relationship (MASH, early help)",
    ),
    Route("GET", "/v1/people/{person_id}/household", PEOPLE, summary="Who lives with a person now"),
    Route("GET", "/v1/people/{person_id}/addresses", PEOPLE, summary="A person's address history"),
    Route(
        "PATCH",
        "/v1/people/{person_id}",
        PEOPLE,
        summary="Correct a person's record (MASH, early help; If-Match)",
    ),
    Route("GET", "/v1/people/{person_id}/history", PEOPLE, summary="Corrections of a person's record"),
    # Issue 21: the JSNA feed (referred families by need, period and district, suppressed).
    Route("GET", "/v1/reports/jsna", REP, summary="JSNA feed: referred families by need and district"),
]

# Issue 21: the threshold audit. Drawing and reviewing are MASH managers' (`triage:write` and
# services/referrals/policy.py AUDIT_RULES); the report is aggregate (`reports:read`).
ROUTES += [
    Route("POST", "/v1/threshold-audits", TRIAGE, summary="Sample MASH decisions for blind second review"),
    Route("GET", "/v1/threshold-audits", TRIAGE, summary="The MASH's threshold audits"),
    Route("GET", "/v1/threshold-audits/{audit_id}", TRIAGE, summary="A threshold audit and its sample"),
    Route(
        "GET",
        "/v1/threshold-audits/{audit_id}/items/{item_id}",
        TRIAGE,
        summary="A sampled decision, blind until reviewed",
    ),
    Route(
        "POST",
        "/v1/threshold-audits/{audit_id}/items/{item_id}/review",
        TRIAGE,
        summary="Record the blind second review",
    ),
    Route(
        "POST",
        "/v1/threshold-audits/{audit_id}/items/{item_id}/agreement",
        TRIAGE,
        summary="Agree or disagree with the original decision",
    ),
    Route("GET", "/v1/reports/threshold-audit", REP, summary="Threshold audit agreement by level and month"),
    # Issue 22: bulk import of the incumbent system's open cases (docs/import.md).
    Route(
        "POST",
        "/v1/imports/referrals",
        "imports:write",
        summary="Import a batch of people, relationships and referrals (idempotent by source id)",
    ),
]

# Issue 22: the FHIR R4 facade (docs/fhir.md): a referral as a ServiceRequest, with the same
# scopes as /v1/referrals (reads, search by NHS number, create).
ROUTES += [
    Route("GET", "/fhir/ServiceRequest", READ, summary="FHIR: referrals naming a child, by NHS number"),
    Route("GET", "/fhir/ServiceRequest/{referral_id}", READ, summary="FHIR: a referral as a ServiceRequest"),
    Route("POST", "/fhir/ServiceRequest", CREATE, summary="FHIR: submit a referral as a ServiceRequest"),
]
