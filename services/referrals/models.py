"""Tables of the referrals service (SQLAlchemy `Mapped[...]` only).

- `person`: the person index (children, unborn children, adults) with normalised names and
  phonetic keys, and `merged_into_id` when a MASH user merged a duplicate away.
- `person_merge`: every merge, with who did it and when it was undone.
- `referral` and `referral_person` (who a referral names, as the referrer spelled it, and which
  person in the index that is now: `person_id` follows merges, `original_person_id` never moves).
- `referral_match`: possible matches waiting for a MASH user to confirm or reject.
- `episode` and `episode_person`: a local projection of early help episodes, fed by the
  assessments service's `episode.*` events, so linking never needs a call across services.
- `reference_counter`: one row per reference series ("RFS-2026"), incremented atomically.
- `referral_assignment`: every assignment of a referral in the MASH queue to a practitioner
  (who assigned it, when); `referral.assigned_to` is the current one.
- `pending_disclosure`: reads of a child's information by another agency, waiting for the
  background worker to post them to the consent service's disclosure log.
- `person_relationship`: how two people are related (`mother_of`, `sibling_of`, ...), from and
  to when; `person_address`: each person's addresses with from/to (who lives with whom now:
  the same address, current); `person_correction`: every correction of a person's record
  (issue 20, `households.py`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.changes import updated_at_column
from shared.db import UTCDateTime, make_metadata
from shared.imports import import_record_table
from shared.platform_tables import platform_tables


class Base(DeclarativeBase):
    metadata = make_metadata()


PLATFORM = platform_tables(Base.metadata)


class Person(Base):
    __tablename__ = "person"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # child | unborn | adult
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    given_name_norm: Mapped[str] = mapped_column(String(100), default="")
    family_name_norm: Mapped[str] = mapped_column(String(100))
    given_key: Mapped[str] = mapped_column(String(20), default="")
    family_key: Mapped[str] = mapped_column(String(20))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    unborn_expected_on: Mapped[date | None] = mapped_column(Date)
    nhs_number: Mapped[str | None] = mapped_column(String(10))
    postcode: Mapped[str | None] = mapped_column(String(8))
    gender: Mapped[str | None] = mapped_column(String(20))
    merged_into_id: Mapped[str | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Issue 20: a correction may give the school's UPN; `version` is the record's ETag.
    upn: Mapped[str | None] = mapped_column(String(13))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __table_args__ = (
        # The three lookups a match makes (plus postcode + family key for adults and the
        # unborn, who have no date of birth): each is one index range scan.
        Index("ix_person_nhs_number", "nhs_number"),
        Index("ix_person_family_key_dob", "family_key", "date_of_birth"),
        Index("ix_person_dob_postcode", "date_of_birth", "postcode"),
        Index("ix_person_postcode_family_key", "postcode", "family_key"),
        Index("ix_person_merged_into_id", "merged_into_id"),
    )


class PersonMerge(Base):
    __tablename__ = "person_merge"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    merged_person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    into_person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    reason: Mapped[str | None] = mapped_column(String(2000))
    referral_id: Mapped[str | None] = mapped_column(String(36))
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    merged_by_client_id: Mapped[str] = mapped_column(String(120))
    merged_by_agency_id: Mapped[str] = mapped_column(String(120))
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    undone_by_client_id: Mapped[str | None] = mapped_column(String(120))


class Referral(Base):
    __tablename__ = "referral"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    referral_type: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    significant_harm_suspected: Mapped[bool] = mapped_column(Boolean, default=False)
    source_agency_id: Mapped[str] = mapped_column(String(120))
    source_agency_type: Mapped[str] = mapped_column(String(40))
    source_client_id: Mapped[str] = mapped_column(String(120))
    source_code: Mapped[str] = mapped_column(String(4))
    referrer: Mapped[dict[str, Any]] = mapped_column(JSON)
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    postcode: Mapped[str | None] = mapped_column(String(8))
    needs: Mapped[list[str]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text)
    consent: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = updated_at_column()  # `?updated_since=` (shared/changes.py)
    decision_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    linked_referral_id: Mapped[str | None] = mapped_column(ForeignKey("referral.id"))
    open_episode_id: Mapped[str | None] = mapped_column(String(36))
    episode_id: Mapped[str | None] = mapped_column(String(36))
    level_of_need: Mapped[str | None] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(30))
    rag: Mapped[str | None] = mapped_column(String(5))
    rationale: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    agency_checks: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_client_id: Mapped[str | None] = mapped_column(String(120))
    # The practitioner who decided (issue 21: the threshold audit never gives a decision to
    # its decider for review); null for a system call's decision and those made before 0008.
    decided_by_practitioner_id: Mapped[str | None] = mapped_column(String(120))
    decided_within_timescale: Mapped[bool | None] = mapped_column(Boolean)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawal_reason: Mapped[str | None] = mapped_column(String(2000))
    step_up_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    step_up_episode_id: Mapped[str | None] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The MASH queue (policy.queue_priority): higher first under ?sort=urgency; and who in
    # the MASH is working on it. Null on rows stored before the queue existed (migration 0004
    # fills the priority in).
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    assigned_to: Mapped[str | None] = mapped_column(String(120))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assigned_by: Mapped[str | None] = mapped_column(String(160))
    # A linked referral put back in the MASH queue (requeue.py): when, and why
    # (`episode_closed`, `linked_referral_decided`, `linked_referral_withdrawn`). The ids it
    # was linked to stay as they were, the record of what it had joined.
    requeued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    requeue_reason: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        Index("ix_referral_received_at", "received_at", "id"),
        Index("ix_referral_source_agency_received", "source_agency_id", "received_at"),
        Index("ix_referral_status_received", "status", "received_at"),
        Index("ix_referral_queue_due", "status", "decision_due_at", "id"),
        Index("ix_referral_queue_priority", "status", "priority", "decision_due_at", "id"),
        # A link's followers (requeue.py): on every episode closed and every decision.
        Index("ix_referral_linked_referral", "linked_referral_id", "status"),
        Index("ix_referral_open_episode", "open_episode_id", "status"),
        # The threshold audit's draw (issue 21): the decisions of a period and their outcomes.
        Index("ix_referral_decided_at_outcome", "decided_at", "outcome"),
        # The draw counts and numbers a period's decisions (a year: ~280,000) from this alone
        # (PostgreSQL: index-only scans), in decision order; migration 0012.
        Index(
            "ix_referral_decided",
            "decided_at",
            "id",
            postgresql_include=["outcome"],
            postgresql_where=text("status = 'decided'"),
            sqlite_where=text("status = 'decided'"),
        ),
        # The report's volumes: on PostgreSQL an index-only scan of the period, not the rows.
        Index(
            "ix_referral_report",
            "received_at",
            postgresql_include=[
                "source_code",
                "status",
                "outcome",
                "urgent",
                "decided_within_timescale",
                "episode_id",
            ],
        ),
    )


class ReferralNeed(Base):
    """One row per need a referral names, for the JSNA feed (jsna.py), written with the
    referral (its needs, postcode and address never change after intake)."""

    __tablename__ = "referral_need"

    referral_id: Mapped[str] = mapped_column(ForeignKey("referral.id"), primary_key=True)
    need: Mapped[str] = mapped_column(String(60), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The London month received, as year * 12 + month - 1 (a quarter is month // 3).
    month: Mapped[int] = mapped_column(Integer)
    district: Mapped[str] = mapped_column(String(8))  # the postcode's outward code, or "unknown"
    family_key: Mapped[str] = mapped_column(String(32))  # jsna.family_key: a hash, no address

    __table_args__ = (
        # The feed reads a range of months grouped by need and district, counting families:
        # an index-only scan in the grouping's order.
        Index("ix_referral_need_jsna", "month", "need", "district", "family_key"),
    )


class JsnaFamilyPeriod(Base):
    """Each family once per (period kind, period, need, district): the JSNA feed counts these
    rows (jsna.py). Written at intake beside `referral_need` (ON CONFLICT DO NOTHING: a family
    referred again in the period is already there); migration 0010 wrote them for referrals
    stored before. The primary key is the feed's index: a range of periods of one kind, in
    (period, need, district) order, so the count is a grouped index-only scan."""

    __tablename__ = "jsna_family_period"

    kind: Mapped[str] = mapped_column(String(7), primary_key=True)  # "month" or "quarter"
    # The month as in `referral_need.month`, or the quarter: month // 3.
    period: Mapped[int] = mapped_column(Integer, primary_key=True)
    need: Mapped[str] = mapped_column(String(60), primary_key=True)
    district: Mapped[str] = mapped_column(String(8), primary_key=True)
    family_key: Mapped[str] = mapped_column(String(32), primary_key=True)


# Included in a referral_person index so the report reads them without the rows (PostgreSQL).
REPORT_COLUMNS = [
    "source_code",
    "outcome",
    "decided_at",
    "previous_received_at",
    "next_received_at",
    "escalated_later",
    "episode_after_decision",
]


class ReferralPerson(Base):
    __tablename__ = "referral_person"

    referral_id: Mapped[str] = mapped_column(ForeignKey("referral.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(10), primary_key=True)  # child | adult
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"))
    original_person_id: Mapped[str] = mapped_column(ForeignKey("person.id"))
    match: Mapped[str] = mapped_column(String(10))  # certain | new
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    unborn_expected_on: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(20))
    nhs_number: Mapped[str | None] = mapped_column(String(10))
    upn: Mapped[str | None] = mapped_column(String(13))
    relationship: Mapped[str | None] = mapped_column(String(60))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    # Facts of the referral, copied here so a child's referral history and the report's
    # window over it read this one table: those fixed at intake, and the decision's once it
    # is made (a decision is final; a second one is refused). Joining a million referrals
    # back by their text ids costs more than the whole report's budget (docs/referrals.md).
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source_code: Mapped[str] = mapped_column(String(4))
    from_step_up: Mapped[bool] = mapped_column(Boolean, default=False)
    level_of_need: Mapped[str | None] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(30))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The child's timeline around this referral, kept current as referrals, decisions, merges
    # and episodes arrive (reports.refresh_follow_ups), so the report sums facts instead of
    # walking every child's history at request time. Children's rows only (adults: defaults).
    previous_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_later: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    episode_after_decision: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        Index("ix_referral_person_person_received", "person_id", "received_at"),
        Index("ix_referral_person_original_person_id", "original_person_id"),
        # The report reads a time range of children's rows, these narrow columns and not the
        # wide rows (PostgreSQL: an index-only scan).
        Index(
            "ix_referral_person_report",
            "received_at",
            postgresql_include=REPORT_COLUMNS,
            postgresql_where=text("role = 'child'"),
            sqlite_where=text("role = 'child'"),
        ),
    )


class ReferralMatch(Base):
    __tablename__ = "referral_match"

    referral_id: Mapped[str] = mapped_column(ForeignKey("referral.id"), primary_key=True)
    candidate_person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), primary_key=True)
    subject_person_id: Mapped[str] = mapped_column(ForeignKey("person.id"))
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10))  # possible | confirmed | rejected
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by_client_id: Mapped[str | None] = mapped_column(String(120))
    merge_id: Mapped[str | None] = mapped_column(String(36), index=True)


class Episode(Base):
    """Projection of the assessments service's episodes (from its events)."""

    __tablename__ = "episode"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(20))
    referral_id: Mapped[str | None] = mapped_column(String(36), index=True)
    origin: Mapped[str | None] = mapped_column(String(20))
    level_of_need: Mapped[str | None] = mapped_column(String(20))
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    close_reason: Mapped[str | None] = mapped_column(String(40))


class EpisodePerson(Base):
    __tablename__ = "episode_person"

    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), primary_key=True)
    original_person_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(36), index=True)


class ReferenceCounter(Base):
    __tablename__ = "reference_counter"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class ReferralAssignment(Base):
    """Each assignment of a referral to a MASH practitioner, kept (never overwritten)."""

    __tablename__ = "referral_assignment"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referral.id"), index=True)
    practitioner_id: Mapped[str | None] = mapped_column(String(120))  # None: unassigned
    assigned_by: Mapped[str] = mapped_column(String(160))  # Identity.actor
    assigned_by_client_id: Mapped[str] = mapped_column(String(120))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PendingDisclosure(Base):
    """A read of a child's information by another agency, to report to the consent service."""

    __tablename__ = "pending_disclosure"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(36))
    agency_id: Mapped[str] = mapped_column(String(120))
    practitioner_id: Mapped[str | None] = mapped_column(String(120))
    resource_type: Mapped[str] = mapped_column(String(30))
    resource_id: Mapped[str] = mapped_column(String(64))
    basis: Mapped[str] = mapped_column(String(60))
    request_id: Mapped[str | None] = mapped_column(String(100))
    disclosed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_pending_disclosure_due", "sent_at", "next_attempt_at"),)


class PersonRelationship(Base):
    """`from_person_id` is `type` of `to_person_id` (Samira mother_of Amira); `sibling_of` and
    `partner_of` read both ways. Ended, never deleted."""

    __tablename__ = "person_relationship"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    from_person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    to_person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    type: Mapped[str] = mapped_column(String(20))
    from_on: Mapped[date | None] = mapped_column(Date)
    to_on: Mapped[date | None] = mapped_column(Date)
    referral_id: Mapped[str | None] = mapped_column(String(36))  # the referral it came from
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_client_id: Mapped[str] = mapped_column(String(120))
    created_by_agency_id: Mapped[str] = mapped_column(String(120))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_by_client_id: Mapped[str | None] = mapped_column(String(120))
    end_reason: Mapped[str | None] = mapped_column(String(2000))


class PersonAddress(Base):
    """One address of a person, from and to when (to: null while they live there).
    `address_key` (normalised postcode + first line) is what "lives with" compares."""

    __tablename__ = "person_address"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    line1: Mapped[str] = mapped_column(String(200))
    town: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str] = mapped_column(String(8))
    address_key: Mapped[str] = mapped_column(String(220))
    from_on: Mapped[date] = mapped_column(Date)
    to_on: Mapped[date | None] = mapped_column(Date)
    referral_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_person_address_key_to_on", "address_key", "to_on"),)


class PersonCorrection(Base):
    """A correction of a person's record: each field changed, from and to, by whom and why."""

    __tablename__ = "person_correction"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)  # {field: {"from": .., "to": ..}}
    reason: Mapped[str] = mapped_column(String(2000))
    corrected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    corrected_by_practitioner_id: Mapped[str | None] = mapped_column(String(120))
    corrected_by_client_id: Mapped[str] = mapped_column(String(120))
    corrected_by_agency_id: Mapped[str] = mapped_column(String(120))


class ThresholdAudit(Base):
    """A sample of a period's MASH decisions drawn for blind second review (issue 21,
    `threshold_audit.py`): stratified by outcome, reproducible from its `seed`."""

    __tablename__ = "threshold_audit"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(120), index=True)  # the MASH that drew it
    decided_from: Mapped[date] = mapped_column(Date)
    decided_to: Mapped[date] = mapped_column(Date)
    share: Mapped[float] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(Integer)
    decisions: Mapped[int] = mapped_column(Integer)  # decisions in the period not sampled before
    strata: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{outcome, decisions, sampled}]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(160))  # Identity.actor
    created_by_client_id: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime] = updated_at_column()  # a review or agreement of an item


class ThresholdAuditItem(Base):
    """One sampled decision: the facts the report groups by (copied from the referral when
    drawn: a decision is final), who reviews it, their own decision and their verdict."""

    __tablename__ = "threshold_audit_item"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("threshold_audit.id"), index=True)
    # A decision is sampled once, whichever audit draws it.
    referral_id: Mapped[str] = mapped_column(ForeignKey("referral.id"), unique=True)
    outcome: Mapped[str] = mapped_column(String(30))  # the stratum: the original outcome
    level_of_need: Mapped[str] = mapped_column(String(20))  # the original level
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_on: Mapped[date] = mapped_column(Date)  # London day
    decided_month: Mapped[str] = mapped_column(String(7))  # YYYY-MM (London)
    decided_by_practitioner_id: Mapped[str | None] = mapped_column(String(120))
    reviewer_id: Mapped[str | None] = mapped_column(String(120))  # None: anyone may take it
    review_level_of_need: Mapped[str | None] = mapped_column(String(20))
    review_outcome: Mapped[str | None] = mapped_column(String(30))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    agrees: Mapped[bool | None] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(2000))
    agreement_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = updated_at_column()

    __table_args__ = (
        # The report: a range of decision days, read from the index alone on PostgreSQL.
        Index(
            "ix_threshold_audit_item_report",
            "decided_on",
            postgresql_include=[
                "decided_month",
                "level_of_need",
                "outcome",
                "review_level_of_need",
                "review_outcome",
                "reviewed_at",
                "agrees",
            ],
        ),
    )


# Issue 22: what each row of a bulk import created (shared/imports.py), keyed by the row's
# kind (person, relationship, referral) and the incumbent system's id.
IMPORT_RECORD = import_record_table(Base.metadata)
