"""Public routes of the consent service (the gateway's route table)."""

from __future__ import annotations

from gateway.routes import Route

ROUTES = [
    Route("POST", "/v1/consents", "consent:write", summary="Record a consent"),
    Route("GET", "/v1/consents", "consent:read", summary="A person's consents (?person_id=)"),
    Route("GET", "/v1/consents/{consent_id}", "consent:read", summary="One consent"),
    Route("POST", "/v1/consents/{consent_id}/withdraw", "consent:write", summary="Withdraw a consent"),
    Route("GET", "/v1/lawful-bases", "consent:read", summary="The lawful bases for sharing"),
    Route("POST", "/v1/sharing-decisions", "sharing:write", summary="Record a sharing decision"),
    Route("GET", "/v1/sharing-decisions", "consent:read", summary="A person's sharing decisions"),
    Route("GET", "/v1/sharing-decisions/{decision_id}", "consent:read", summary="One sharing decision"),
    # The consent service itself accepts only service identities here.
    Route(
        "GET",
        "/v1/access-checks",
        "consent:read",
        summary="May this agency see this person's information? (service identities only)",
    ),
    Route(
        "GET",
        "/v1/people/{person_id}/disclosures",
        "consent:read",
        summary="Every disclosure of a person's information",
    ),
    Route(
        "GET",
        "/v1/people/{person_id}/disclosures/export",
        "consent:read",
        summary="The disclosure log as JSON or CSV (subject access request)",
    ),
]

# Issue 22: the FHIR R4 facade (docs/fhir.md): a consent as a Consent, the disclosure log as
# AuditEvents, with the scope of their /v1 reads. Searched by person id (`patient=`).
ROUTES += [
    Route("GET", "/fhir/Consent", "consent:read", summary="FHIR: a person's consents (?patient=)"),
    Route("GET", "/fhir/Consent/{consent_id}", "consent:read", summary="FHIR: a consent as a Consent"),
    Route("GET", "/fhir/AuditEvent", "consent:read", summary="FHIR: a person's disclosure log (?patient=)"),
    Route(
        "GET",
        "/fhir/AuditEvent/{disclosure_id}",
        "consent:read",
        summary="FHIR: a disclosure as an AuditEvent",
    ),
]

# Issue 22: bulk import of the incumbent system's consents (docs/import.md).
ROUTES += [
    Route(
        "POST",
        "/v1/imports/consents",
        "imports:write",
        summary="Import a batch of consents, with their withdrawals (idempotent by source id)",
    ),
]
