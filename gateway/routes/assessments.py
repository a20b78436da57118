"""Public routes of the assessments service (internal routes are never listed here)."""

from __future__ import annotations

from gateway.routes import Route

R, W, REP = "episodes:read", "episodes:write", "reports:read"

ROUTES = [
    Route(
        "POST",
        "/v1/episodes",
        W,
        summary="Open a step-down (early help, social care) or self-referral (early help manager) episode",
    ),
    Route("GET", "/v1/episodes", R, summary="Episodes the caller may see (filters person_id, status)"),
    Route("GET", "/v1/episodes/{episode_id}", R, summary="One episode"),
    Route(
        "GET",
        "/v1/me/caseload",
        R,
        summary="My open episodes as lead professional or TAF member (practitioner tokens)",
    ),
    Route("PUT", "/v1/episodes/{episode_id}/lead-professional", W, summary="Assign the lead professional"),
    Route("POST", "/v1/episodes/{episode_id}/taf-members", W, summary="Add a TAF member"),
    Route("DELETE", "/v1/episodes/{episode_id}/taf-members/{member_id}", W, summary="Remove a TAF member"),
    Route("POST", "/v1/episodes/{episode_id}/contacts", W, summary="Record a contact with the family"),
    Route("POST", "/v1/episodes/{episode_id}/assessments", W, summary="Start an Early Help Assessment"),
    Route(
        "GET",
        "/v1/assessments",
        R,
        summary="Assessments awaiting approval, oldest first (early help managers)",
    ),
    Route("GET", "/v1/assessments/{assessment_id}", R, summary="One assessment"),
    Route(
        "PATCH",
        "/v1/assessments/{assessment_id}",
        W,
        summary="Edit a draft or returned assessment (If-Match)",
    ),
    Route("POST", "/v1/assessments/{assessment_id}/submit", W, summary="Submit an assessment"),
    Route("POST", "/v1/assessments/{assessment_id}/approve", W, summary="Approve a submitted assessment"),
    Route("POST", "/v1/assessments/{assessment_id}/return", W, summary="Return a submitted assessment"),
    Route("POST", "/v1/assessments/{assessment_id}/extensions", W, summary="Extend an assessment's due date"),
    Route("PUT", "/v1/episodes/{episode_id}/plan", W, summary="Agree a new version of the TAF plan"),
    Route("GET", "/v1/episodes/{episode_id}/plan", R, summary="The current TAF plan"),
    Route("GET", "/v1/episodes/{episode_id}/plan/versions/{version}", R, summary="One version of the plan"),
    Route("PATCH", "/v1/actions/{action_id}", W, summary="Update an action (its owner only, If-Match)"),
    Route("POST", "/v1/episodes/{episode_id}/reviews", W, summary="Record a TAF review"),
    Route("GET", "/v1/episodes/{episode_id}/reviews", R, summary="Reviews of an episode"),
    Route("POST", "/v1/episodes/{episode_id}/step-up", W, summary="Step up to social care (MASH referral)"),
    Route("GET", "/v1/episodes/{episode_id}/step-ups", R, summary="Step-ups of an episode"),
    Route("POST", "/v1/episodes/{episode_id}/joint-visit", W, summary="Record the step-down joint visit"),
    Route("POST", "/v1/episodes/{episode_id}/close", W, summary="Close an episode"),
    Route("GET", "/v1/reports/episodes", REP, summary="Episode timeliness, closures, outcomes, drift"),
    Route(
        "GET", "/v1/reports/drift", REP, summary="Drifting episodes: open too long, or no movement in reviews"
    ),
    # Issue 20: contacts read back, case notes, the chronology.
    Route("GET", "/v1/episodes/{episode_id}/contacts", R, summary="Contacts of an episode, newest first"),
    Route("GET", "/v1/episodes/{episode_id}/contacts/{contact_id}", R, summary="One contact"),
    Route("POST", "/v1/episodes/{episode_id}/notes", W, summary="Write a case note"),
    Route("GET", "/v1/episodes/{episode_id}/notes", R, summary="Case notes of an episode, newest first"),
    Route("GET", "/v1/episodes/{episode_id}/notes/{note_id}", R, summary="One case note"),
    Route(
        "PATCH",
        "/v1/episodes/{episode_id}/notes/{note_id}",
        W,
        summary="Amend a case note (its author or an early help manager, If-Match, reason)",
    ),
    Route(
        "GET", "/v1/episodes/{episode_id}/notes/{note_id}/history", R, summary="Every version of a case note"
    ),
    Route("GET", "/v1/episodes/{episode_id}/chronology", R, summary="The episode's chronology, newest first"),
    # Issue 20: the episode's family (children and adults), and their names for those who may see it.
    Route("PUT", "/v1/episodes/{episode_id}/family-members", W, summary="Set the episode's family members"),
    Route("GET", "/v1/episodes/{episode_id}/family", R, summary="The family's names and dates of birth"),
    # Issue 21: Supporting Families.
    Route("GET", "/v1/reports/supporting-families", REP, summary="Supporting Families outcomes per family"),
    Route("GET", "/v1/reports/supporting-families/claims", REP, summary="Supporting Families claims (CSV)"),
    Route("GET", "/v1/reports/supporting-families/summary", REP, summary="Supporting Families by quarter"),
]

# Issue 22: the FHIR R4 facade (docs/fhir.md): the TAF as a CareTeam, the plan as a CarePlan, its
# actions as Tasks, with the /v1 episode reads' scope, consent checks and disclosures.
ROUTES += [
    Route("GET", "/fhir/CareTeam/{episode_id}", R, summary="FHIR: an episode's TAF as a CareTeam"),
    Route("GET", "/fhir/CarePlan/{episode_id}", R, summary="FHIR: an episode's current plan as a CarePlan"),
    Route("GET", "/fhir/Task/{action_id}", R, summary="FHIR: a plan action as a Task"),
    Route("GET", "/fhir/Task", R, summary="FHIR: the current plan's actions (focus=CarePlan/<episode id>)"),
    # Issue 22: bulk import of the incumbent system's open cases (docs/import.md).
    Route(
        "POST",
        "/v1/imports/episodes",
        "imports:write",
        summary="Import a batch of open episodes with lead professional and TAF (idempotent by source id)",
    ),
    Route(
        "POST",
        "/v1/imports/plans",
        "imports:write",
        summary="Import a batch of imported episodes' current plans (idempotent by source id)",
    ),
]
