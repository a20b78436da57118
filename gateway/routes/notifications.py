"""Public routes of the notifications service."""

from gateway.routes import QueryRule, Route

# A `GET /fhir/Task` search is a deadline search (this service) when it names a parameter only
# deadlines have, or a focus that only a deadline has (its subject: a referral, an episode's
# TAF, a plan action); a plan-action search (`focus=CarePlan/<episode id>`) stays with
# assessments (docs/fhir.md "Task <-> deadline").
DEADLINE_SEARCH = QueryRule(
    "deadlines",
    params=frozenset({"code", "business-status"}),
    reference="focus",
    reference_types=frozenset({"ServiceRequest", "CareTeam", "Task"}),
)

ROUTES = [
    Route(
        "GET",
        "/v1/deadline-rules",
        "deadlines:read",
        summary="The deadline rules (admin clients also hold deadlines:read)",
    ),
    Route("PUT", "/v1/deadline-rules/{kind}", "admin", summary="Change a deadline rule"),
    Route("GET", "/v1/deadlines", "deadlines:read", summary="Deadlines with overdue counts"),
    Route("GET", "/v1/notifications", "notifications:read", summary="The caller's feed"),
    Route(
        "POST",
        "/v1/notifications/{notification_id}/read",
        "notifications:read",
        summary="Mark a notification read",
    ),
    Route("POST", "/v1/subscriptions", "webhooks:manage", summary="Subscribe to webhooks"),
    Route("GET", "/v1/subscriptions", "webhooks:manage", summary="The agency's webhook subscriptions"),
    Route(
        "DELETE", "/v1/subscriptions/{subscription_id}", "webhooks:manage", summary="Delete a subscription"
    ),
    Route("GET", "/v1/subscriptions/{subscription_id}/deliveries", "webhooks:manage", summary="Delivery log"),
    Route(
        "POST",
        "/v1/subscriptions/{subscription_id}/deliveries/{delivery_id}/retry",
        "webhooks:manage",
        summary="Send a delivery again",
    ),
    # Issue 22 (docs/fhir.md): a deadline as a FHIR Task. The literal `deadline-` makes this
    # template longer than assessments' `/fhir/Task/{action_id}`, so it is matched first.
    Route("GET", "/fhir/Task/deadline-{deadline_id}", "deadlines:read", summary="FHIR: a deadline as a Task"),
    Route(
        "GET",
        "/fhir/Task",
        "deadlines:read",
        summary="FHIR: deadlines as Tasks (code, business-status, or focus on a referral, episode or action)",
        query=DEADLINE_SEARCH,
    ),
]
