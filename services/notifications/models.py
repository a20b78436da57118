"""Tables of the notifications service (SQLAlchemy `Mapped[...]` only).

- `deadline_rule`: the council's timescales (seeded by migration 0002 with domain.md's defaults).
- `deadline`: one open/met/cancelled deadline of a referral, episode or consent; the worker
  finds due work by one range scan over `next_check_at` (NULL once nothing is left to send).
- `deadline_fact`: a "met"/"cancelled" that arrived before its "opened" (order tolerance).
- `deadline_alert`: one row per (deadline, stage) ever alerted - the exactly-once guard.
- `notification`: the in-app feed; `delivery`: email, GOV.UK Notify and webhook sends, processed
  after commit.
- `subscription`: an agency's webhook endpoint (secret encrypted at rest).
- `episode_link` / `episode_person`: projections of the assessments service's events
  (lead professional of an episode; episodes of a person).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.changes import updated_at_column
from shared.db import UTCDateTime, make_metadata
from shared.platform_tables import platform_tables

TZ = UTCDateTime()


class Base(DeclarativeBase):
    metadata = make_metadata()


PLATFORM = platform_tables(Base.metadata)


class DeadlineRule(Base):
    __tablename__ = "deadline_rule"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    amount: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(20))
    reminder_lead_hours: Mapped[int] = mapped_column(Integer)
    escalation_delay_hours: Mapped[int] = mapped_column(Integer)
    escalation_target: Mapped[str] = mapped_column(String(254))
    team: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(TZ)
    # Updates say "WHERE version = <the version read>": of two concurrent writers holding
    # the same ETag, one wins and the other gets 412 (StaleDataError), on PostgreSQL too.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class Deadline(Base):
    __tablename__ = "deadline"
    __table_args__ = (
        Index("ix_deadline_next_check_at", "next_check_at"),
        Index("ix_deadline_subject", "subject_id", "kind"),
        Index("ix_deadline_episode_id", "episode_id"),
        Index("ix_deadline_referral_id", "referral_id"),
        Index("ix_deadline_status_due", "status", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[str] = mapped_column(String(64))
    referral_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    episode_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    team: Mapped[str] = mapped_column(String(40))
    assignee_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    assignee_agency_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    escalation_target: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(12))  # open | met | cancelled
    opened_at: Mapped[datetime] = mapped_column(TZ)
    due_at: Mapped[datetime] = mapped_column(TZ)
    reminder_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    escalation_at: Mapped[datetime] = mapped_column(TZ)
    met_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    # The next stage the worker owes (reminder | overdue | escalation) and when; NULL: none.
    next_stage: Mapped[str | None] = mapped_column(String(12), nullable=True)
    next_check_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = updated_at_column()  # `?updated_since=` (shared/changes.py)


class DeadlineFact(Base):
    __tablename__ = "deadline_fact"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(12))  # met | cancelled
    at: Mapped[datetime] = mapped_column(TZ)


class DeadlineAlert(Base):
    __tablename__ = "deadline_alert"
    __table_args__ = (UniqueConstraint("deadline_id", "stage"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    deadline_id: Mapped[str] = mapped_column(String(36))
    stage: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(TZ)
    worker: Mapped[str] = mapped_column(String(80), default="")


class Notification(Base):
    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_agency", "recipient_agency_id", "created_at"),
        Index("ix_notification_agency_type", "recipient_agency_type", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    recipient_agency_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recipient_agency_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    recipient_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    referral_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    episode_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    deadline_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str] = mapped_column(String(300))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(TZ)
    read_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)


class Subscription(Base):
    __tablename__ = "subscription"
    __table_args__ = (Index("ix_subscription_agency_id", "agency_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    agency_type: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))  # active | disabled | deleted
    disabled_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = updated_at_column()


class Delivery(Base):
    __tablename__ = "delivery"
    __table_args__ = (
        Index("ix_delivery_pending", "status", "next_attempt_at"),
        Index("ix_delivery_subscription", "subscription_id", "created_at"),
        Index("ix_delivery_notify_check", "notify_next_check_at"),
        Index("ix_delivery_notification", "notification_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))  # email | webhook | notify_email | notify_sms
    subscription_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    notification_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    recipient_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    event_type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TZ)
    lease_until: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(TZ)
    delivered_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    updated_at: Mapped[datetime] = updated_at_column()
    # GOV.UK Notify (issue 22): set just before the send, so a retry after a crash asks Notify
    # (by `reference` = this id) before sending again; then Notify's id and its latest status,
    # polled at `notify_next_check_at` (NULL: nothing left to ask) at most `notify_max_polls` times.
    notify_submitted_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    notify_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    notify_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    notify_polls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    notify_next_check_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)


class EpisodeLink(Base):
    __tablename__ = "episode_link"

    episode_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    referral_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lead_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    lead_agency_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)


class EpisodePerson(Base):
    __tablename__ = "episode_person"
    __table_args__ = (Index("ix_episode_person_person_id", "person_id"),)

    episode_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
