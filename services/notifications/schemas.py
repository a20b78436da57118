"""Request and response schemas of the notifications service (Pydantic only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from services.notifications.channels.feed import WEBHOOK_EVENT_TYPES, WebhookEventType

# An event type as a request names it: checked by `SubscriptionCreate._known` (whose 422 lists
# the known ones), shown as the enum it is.
EventTypeIn = Annotated[str, WithJsonSchema({"type": "string", "enum": list(WEBHOOK_EVENT_TYPES)})]
# What an alert's `data` holds: ids, codes, dates (ISO text), counts and flags; never a name.
DataValue = str | int | float | bool | None

Unit = Literal["working_days", "calendar_days", "hours"]
# The deadline rules seeded by migrations 0002 and 0004 (`PUT /v1/deadline-rules/{kind}` changes
# one, never adds one); tests/unit/test_code_lists.py holds this to the seeded rows.
DeadlineKind = Literal[
    "front_door_decision",
    "first_contact",
    "assessment_start",
    "assessment_completion",
    "plan_agreed",
    "first_review",
    "next_review",
    "stepdown_joint_visit",
    "reassessment",
    "consent_review",
    "action_due",
]
SubjectType = Literal["referral", "episode", "consent", "action"]
# The code list `agency_type` (tests/unit/test_code_lists.py).
AgencyType = Literal[
    "mash",
    "early_help",
    "social_care",
    "education",
    "health",
    "police",
    "housing",
    "voluntary",
    "youth_justice",
    "local_authority_other",
]


class DeadlineRuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: DeadlineKind
    amount: int
    unit: Unit
    reminder_lead_hours: int
    escalation_delay_hours: int
    escalation_target: str = Field(
        description="An email address, or an agency type (e.g. `early_help`) whose feed is told"
    )
    team: str
    description: str
    version: int
    updated_at: datetime


class DeadlineRuleList(BaseModel):
    items: list[DeadlineRuleRead]


class DeadlineRuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(ge=1, le=1000)
    unit: Unit
    reminder_lead_hours: int = Field(ge=0, le=24 * 365)
    escalation_delay_hours: int = Field(ge=0, le=24 * 365)
    escalation_target: str = Field(
        min_length=2,
        max_length=254,
        pattern=r"^([a-z_]{2,40}|[^@\s]+@[^@\s]+\.[^@\s]+)$",
        description="One email address, or an agency type code (`early_help`: 2-40 lower-case "
        "letters and `_`) whose feed is told",
    )


class DeadlineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: DeadlineKind
    status: Literal["open", "met", "cancelled"]
    overdue: bool = False
    subject_type: SubjectType
    subject_id: str
    referral_id: str | None
    episode_id: str | None
    consent_id: str | None
    reference: str | None
    team: str
    assignee_email: str | None
    assignee_agency_id: str | None
    opened_at: datetime
    due_at: datetime
    reminder_at: datetime | None
    escalation_at: datetime
    met_at: datetime | None
    cancelled_at: datetime | None


class DeadlineSummary(BaseModel):
    overdue: int
    overdue_by_kind: dict[str, int]


class DeadlineList(BaseModel):
    items: list[DeadlineRead]
    next_cursor: str | None = None
    summary: DeadlineSummary


class AlertDeliveryRead(BaseModel):
    """How an alert went out by email or text (never the address or number it went to)."""

    model_config = ConfigDict(from_attributes=True)

    channel: Literal["email", "notify_email", "notify_sms"]
    status: Literal["pending", "delivered", "failed"]
    notify_id: str | None = Field(None, description="GOV.UK Notify's id of the notification")
    notify_status: str | None = Field(
        None,
        description="GOV.UK Notify's latest status: created, sending, pending, sent, delivered, "
        "permanent-failure, temporary-failure or technical-failure",
    )
    delivered_at: datetime | None


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: WebhookEventType
    message: str
    recipient_agency_id: str | None
    recipient_agency_type: AgencyType | None
    referral_id: str | None
    episode_id: str | None
    consent_id: str | None
    deadline_id: str | None
    reference: str | None
    data: dict[str, DataValue] = Field(
        description="Ids, codes, ISO dates, numbers and flags of the notification, by kind (e.g. `href`)"
    )
    created_at: datetime
    read_at: datetime | None
    deliveries: list[AlertDeliveryRead] = Field(
        default_factory=list, description="Its email (SMTP, GOV.UK Notify) and SMS deliveries, in the feed"
    )


class NotificationList(BaseModel):
    items: list[NotificationRead]
    next_cursor: str | None = None


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(
        max_length=2000,
        description="Where deliveries go; no credentials in it (`user:password@` is refused): "
        "receivers authenticate deliveries by their Standard Webhooks signature. "
        "Outside development and test deployments, `https` only, and the host must resolve, "
        "only to public addresses (not private, loopback, link-local, multicast or reserved); "
        "hosts the deployment allow-lists are exempt. Else 422 `webhook-url-not-allowed`; "
        "checked again before every delivery",
    )
    event_types: list[EventTypeIn] = Field(
        min_length=1,
        max_length=len(WEBHOOK_EVENT_TYPES),
        description="One or more of the event types; a repeated one counts once (stored sorted); "
        "an unknown one is a 422 listing the known",
    )

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        if value.username is not None or value.password is not None:
            raise ValueError("must not carry credentials (user:password@); verify the signature instead")
        return value

    @field_validator("event_types")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(WEBHOOK_EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {list(WEBHOOK_EVENT_TYPES)}")
        return sorted(set(value))


class SubscriptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    event_types: list[WebhookEventType]
    status: Literal["active", "disabled", "deleted"]
    disabled_reason: str | None
    consecutive_failures: int
    created_at: datetime


class SubscriptionCreated(SubscriptionRead):
    secret: str = Field(description="The signing secret (whsec_...): shown once, never again")


class SubscriptionList(BaseModel):
    items: list[SubscriptionRead]


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    event_type: WebhookEventType
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryList(BaseModel):
    items: list[DeliveryRead]
    next_cursor: str | None = None
