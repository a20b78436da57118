"""HTTP endpoints of the notifications service: thin, they call `service`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from services.notifications import fhir as fhir_rules
from services.notifications import policy, service
from services.notifications.schemas import (
    AlertDeliveryRead,
    DeadlineList,
    DeadlineRead,
    DeadlineRuleList,
    DeadlineRuleRead,
    DeadlineRuleUpdate,
    DeadlineSummary,
    DeliveryList,
    DeliveryRead,
    NotificationList,
    NotificationRead,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionList,
    SubscriptionRead,
)
from shared.changes import UpdatedSince
from shared.context import Now
from shared.deps import RuntimeDep, SessionDep
from shared.etag import set_etag
from shared.fhir import FhirResponse, fhir_responses, searchset
from shared.identity import CurrentIdentity, Identity, require_scope
from shared.pagination import PageDep

router = APIRouter(prefix="/v1", tags=["notifications"])

DeadlinesReader = Annotated[Identity, Depends(require_scope("deadlines:read"))]
Admin = Annotated[Identity, Depends(require_scope(policy.DEADLINE_RULES_WRITE_SCOPE))]
FeedReader = Annotated[Identity, Depends(require_scope("notifications:read"))]
WebhookManager = Annotated[Identity, Depends(require_scope("webhooks:manage"))]


async def _rules_reader(identity: CurrentIdentity) -> Identity:
    policy.may_read_deadline_rules(identity)
    return identity


RulesReader = Annotated[Identity, Depends(_rules_reader)]


def ctx(session: Any, runtime: Any, identity: Identity, now: datetime) -> service.Context:
    return service.Context(session, runtime, identity, now)


@router.get("/deadline-rules", response_model=DeadlineRuleList, summary="The deadline rules (timescales)")
async def list_rules(
    identity: RulesReader,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    updated_since: UpdatedSince = None,
) -> DeadlineRuleList:
    rules = await service.list_rules(ctx(session, runtime, identity, now), updated_since)
    return DeadlineRuleList(items=[DeadlineRuleRead.model_validate(r) for r in rules])


@router.put(
    "/deadline-rules/{kind}", response_model=DeadlineRuleRead, summary="Change a deadline rule (admin)"
)
async def put_rule(
    kind: Annotated[
        str, Path(description="One of the deadline kinds (`GET /v1/deadline-rules`); another is 404")
    ],
    body: DeadlineRuleUpdate,
    identity: Admin,
    session: SessionDep,
    runtime: RuntimeDep,
    request: Request,
    response: Response,
    now: Now,
) -> DeadlineRuleRead:
    rule = await service.update_rule(ctx(session, runtime, identity, now), request, kind, body)
    set_etag(response, rule.kind, rule.version)
    return DeadlineRuleRead.model_validate(rule)


@router.get("/deadlines", response_model=DeadlineList, summary="Deadlines, with overdue counts")
async def list_deadlines(
    identity: DeadlinesReader,
    session: SessionDep,
    runtime: RuntimeDep,
    page: PageDep,
    now: Now,
    status: Annotated[
        Literal["open", "met", "overdue", "cancelled"] | None,
        Query(description="`overdue`: open and due by now (`open` includes those)"),
    ] = None,
    assignee_email: Annotated[
        str | None, Query(max_length=254, description="Exactly the assignee's email address")
    ] = None,
    episode_id: Annotated[
        str | None, Query(max_length=64, description="The deadlines of this episode")
    ] = None,
    referral_id: Annotated[
        str | None, Query(max_length=64, description="The deadlines of this referral")
    ] = None,
    team: Annotated[
        str | None, Query(max_length=40, description="The rule's team, e.g. `mash`, `early_help`")
    ] = None,
    updated_since: UpdatedSince = None,
) -> DeadlineList:
    rows, cursor, by_kind = await service.list_deadlines(
        ctx(session, runtime, identity, now),
        page,
        status=status,
        assignee_email=assignee_email,
        episode_id=episode_id,
        referral_id=referral_id,
        team=team,
        updated_since=updated_since,
    )
    items = []
    for d in rows:
        item = DeadlineRead.model_validate(d)
        item.overdue = d.status == "open" and d.due_at <= now
        items.append(item)
    summary = DeadlineSummary(overdue=sum(by_kind.values()), overdue_by_kind=by_kind)
    return DeadlineList(items=items, next_cursor=cursor, summary=summary)


@router.get("/notifications", response_model=NotificationList, summary="The caller's feed")
async def feed(
    identity: FeedReader,
    session: SessionDep,
    runtime: RuntimeDep,
    page: PageDep,
    now: Now,
    unread: Annotated[bool, Query(description="Only the notifications not yet marked read")] = False,
    updated_since: UpdatedSince = None,
) -> NotificationList:
    context = ctx(session, runtime, identity, now)
    rows, cursor = await service.feed(context, page, unread=unread, updated_since=updated_since)
    deliveries = await service.alert_deliveries(context, rows)
    items = []
    for n in rows:
        item = NotificationRead.model_validate(n)
        item.deliveries = [AlertDeliveryRead.model_validate(d) for d in deliveries[n.id]]
        items.append(item)
    return NotificationList(items=items, next_cursor=cursor)


@router.post("/notifications/{notification_id}/read", response_model=NotificationRead, summary="Mark read")
async def mark_read(
    notification_id: str, identity: FeedReader, session: SessionDep, runtime: RuntimeDep, now: Now
) -> NotificationRead:
    n = await service.mark_read(ctx(session, runtime, identity, now), notification_id)
    return NotificationRead.model_validate(n)


@router.post(
    "/subscriptions", status_code=201, response_model=SubscriptionCreated, summary="Subscribe to webhooks"
)
async def create_subscription(
    body: SubscriptionCreate,
    identity: WebhookManager,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
    now: Now,
) -> SubscriptionCreated:
    sub, secret = await service.create_subscription(ctx(session, runtime, identity, now), body)
    response.headers["Location"] = f"/v1/subscriptions/{sub.id}"
    return SubscriptionCreated(**SubscriptionRead.model_validate(sub).model_dump(), secret=secret)


@router.get("/subscriptions", response_model=SubscriptionList, summary="The agency's webhook subscriptions")
async def list_subscriptions(
    identity: WebhookManager,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    updated_since: UpdatedSince = None,
) -> SubscriptionList:
    subs = await service.list_subscriptions(ctx(session, runtime, identity, now), updated_since)
    return SubscriptionList(items=[SubscriptionRead.model_validate(s) for s in subs])


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Delete a subscription")
async def delete_subscription(
    subscription_id: str, identity: WebhookManager, session: SessionDep, runtime: RuntimeDep, now: Now
) -> Response:
    await service.delete_subscription(ctx(session, runtime, identity, now), subscription_id)
    return Response(status_code=204)


@router.get(
    "/subscriptions/{subscription_id}/deliveries", response_model=DeliveryList, summary="Delivery log"
)
async def deliveries(
    subscription_id: str,
    identity: WebhookManager,
    session: SessionDep,
    runtime: RuntimeDep,
    page: PageDep,
    now: Now,
    updated_since: UpdatedSince = None,
) -> DeliveryList:
    rows, cursor = await service.deliveries(
        ctx(session, runtime, identity, now), subscription_id, page, updated_since
    )
    return DeliveryList(items=[DeliveryRead.model_validate(d) for d in rows], next_cursor=cursor)


@router.post(
    "/subscriptions/{subscription_id}/deliveries/{delivery_id}/retry",
    response_model=DeliveryRead,
    status_code=202,
    summary="Send a delivery again",
)
async def retry(
    subscription_id: str,
    delivery_id: str,
    identity: WebhookManager,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
) -> DeliveryRead:
    d = await service.retry_delivery(ctx(session, runtime, identity, now), subscription_id, delivery_id)
    return DeliveryRead.model_validate(d)


# ---- the FHIR R4 facade (issue 22, docs/fhir.md): a deadline as a Task ----
# `deadline-` before the id keeps these apart from the assessments service's plan-action Tasks
# (the gateway routes the longer literal template here); the scope of GET /v1/deadlines.

fhir = APIRouter(prefix="/fhir", tags=["fhir"])


@fhir.get(
    "/Task/deadline-{deadline_id}",
    response_class=FhirResponse,
    responses=fhir_responses("Task"),
    summary="A deadline as a FHIR Task",
)
async def fhir_read_deadline_task(
    identity: DeadlinesReader,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    deadline_id: Annotated[str, Path(max_length=36, description="The deadline's id (`GET /v1/deadlines`)")],
) -> FhirResponse:
    """The deadline as a Task: status, kind, subject, due date and owner (no email address)."""
    return FhirResponse(await fhir_rules.task(ctx(session, runtime, identity, now), deadline_id))


@fhir.get("/Task", response_class=FhirResponse, responses=fhir_responses("Task", bundle=True))
async def fhir_search_deadline_tasks(
    request: Request,
    identity: DeadlinesReader,
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
    focus: Annotated[
        str | None,
        Query(
            max_length=400,
            description="The subject: `ServiceRequest/<referral id>`, `CareTeam/<episode id>`, "
            "`Task/<action id>` (comma: any of them)",
        ),
    ] = None,
    status: Annotated[
        str | None,
        Query(max_length=100, description="`in-progress` (open), `completed` (met), `cancelled`"),
    ] = None,
    business_status: Annotated[
        str | None,
        Query(
            alias="business-status",
            max_length=100,
            description="`open` (not yet due), `overdue`, `met`, `cancelled` (comma: any of them)",
        ),
    ] = None,
    code: Annotated[
        str | None,
        Query(
            max_length=400,
            description="The deadline kind (`GET /v1/deadline-rules`), optionally `system|kind`",
        ),
    ] = None,
    count: Annotated[
        int, Query(alias="_count", ge=1, le=fhir_rules.SEARCH_CAP, description="At most 50 (the default)")
    ] = fhir_rules.SEARCH_CAP,
) -> FhirResponse:
    """Deadlines as Tasks, soonest due first (as `GET /v1/deadlines`): a searchset Bundle. The
    gateway sends a `GET /fhir/Task` here when it names `code` or `business-status`, or a
    `focus` on a referral, episode or action; `focus=CarePlan/...` is a plan-action search."""
    found = await fhir_rules.search(
        ctx(session, runtime, identity, now),
        focus=focus,
        status=status,
        business_status=business_status,
        code=code,
        count=count,
    )
    return FhirResponse(searchset(found, str(request.url.path) + "?" + request.url.query))
