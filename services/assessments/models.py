"""Tables of the assessments service (SQLAlchemy `Mapped[...]` only).

An episode is the Early Help case; everything else hangs off it. Plans are versioned: each
`PUT` writes a new `plan` row with its own outcome and action rows, so every version stays
readable. Outcome and action ids are stable across versions (`outcome_id`, `action_id`), so
review scores and action progress carry over when a plan is revised.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.changes import updated_at_column
from shared.db import UTCDateTime, make_metadata
from shared.imports import import_record_table
from shared.platform_tables import platform_tables


class Base(DeclarativeBase):
    metadata = make_metadata()


PLATFORM = platform_tables(Base.metadata)

TZ = UTCDateTime()


class EpisodeCounter(Base):
    """The last reference number issued per year (`EH-YYYY-NNNNNN`)."""

    __tablename__ = "episode_counter"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, nullable=False)


class Episode(Base):
    __tablename__ = "episode"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    # Unique when present: a replayed `referral.decided` can never open a second episode.
    referral_id: Mapped[str | None] = mapped_column(String(36), unique=True, nullable=True)
    origin: Mapped[str] = mapped_column(String(20), nullable=False)
    level_of_need: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="open")
    opened_at: Mapped[datetime] = mapped_column(TZ, nullable=False, index=True)
    updated_at: Mapped[datetime] = updated_at_column()  # `?updated_since=` (shared/changes.py)
    opened_by_agency_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    referral_received_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    first_contact_due_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    first_contact_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    assessment_start_due_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    assessment_complete_due_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    social_care_involved: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    consent_withdrawn_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    stepdown_panel_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    social_worker: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    social_work_assessment_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    joint_visit_due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    joint_visit_held_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    close_reason: Mapped[str | None] = mapped_column(String(30), nullable=True)
    closure_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Who signed the closure off (policy.may_close): the manager, or the system that closed it.
    signed_off_by_practitioner_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    signed_off_by_client_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class EpisodePerson(Base):
    __tablename__ = "episode_person"
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)


class EpisodeFamilyMember(Base):
    """Who the episode's family is (issue 20): its children (`episode_person`, role `child`)
    and the adults and other children it names. Set from the referral at opening; the
    episode's managers replace it (`PUT .../family-members`)."""

    __tablename__ = "episode_family_member"
    # A person's other episodes (Supporting Families: a re-referral inside the sustainment window).
    __table_args__ = (Index("ix_episode_family_member_person_id", "person_id", "episode_id"),)
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    role: Mapped[str] = mapped_column(String(10))  # child | adult
    relationship: Mapped[str | None] = mapped_column(String(20))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LeadProfessional(Base):
    """Every assignment is kept: the current one has `ended_at` NULL."""

    __tablename__ = "lead_professional"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    agency_id: Mapped[str] = mapped_column(String(120), nullable=False)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    family_agreed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    assigned_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    assigned_by_agency_id: Mapped[str] = mapped_column(String(120), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    # The registered practitioner who is the lead professional ("I am the lead professional").
    practitioner_id: Mapped[str | None] = mapped_column(String(120), nullable=True, index=True)
    # An early help manager lets the lead professional manage the TAF, the plan and step-up.
    manager_delegates: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )


class TafMember(Base):
    """An agency (and its practitioner) on the Team Around the Family: drives who may see."""

    __tablename__ = "taf_member"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), nullable=False, index=True)
    agency_id: Mapped[str] = mapped_column(String(120), nullable=False, index=True)
    agency_type: Mapped[str] = mapped_column(String(40), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(200), nullable=False)
    added_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    removed_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    practitioner_id: Mapped[str | None] = mapped_column(String(120), nullable=True, index=True)
    # Whether the family agreed to this agency joining: a TAF-wide consent given before the
    # agency joined covers it only with this agreement (the consent service decides).
    family_agreed: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )


class Contact(Base):
    __tablename__ = "contact"
    # The episode's contacts newest first (`GET .../contacts`, the chronology): one range scan.
    __table_args__ = (Index("ix_contact_episode_contact_at", "episode_id", "contact_at", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), nullable=False, index=True)
    contact_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    method: Mapped[str] = mapped_column(String(20), nullable=False)
    notes: Mapped[str] = mapped_column(Text, nullable=False)
    first: Mapped[bool] = mapped_column(Boolean, nullable=False)
    recorded_by_agency_id: Mapped[str] = mapped_column(String(120), nullable=False)
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


class CaseNote(Base):
    """A case note on an episode (issue 20). The row holds the current version; every version,
    the first included, is kept in `case_note_version`, so an amendment is never a silent edit.
    `restricted` notes are for early help (and the MASH) only (policy.may_read_restricted)."""

    __tablename__ = "case_note"
    # The episode's notes newest first (the list, the chronology) is one index range scan.
    __table_args__ = (Index("ix_case_note_episode_occurred", "episode_id", "occurred_at", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    restricted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The author: the practitioner when the call named one, always the agency and client.
    author_practitioner_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    author_agency_id: Mapped[str] = mapped_column(String(120), nullable=False)
    author_client_id: Mapped[str] = mapped_column(String(120), nullable=False)
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    amended_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # Updates say "WHERE version = <the version read>": of two concurrent amendments holding
    # the same ETag, one wins and the other gets 412 (StaleDataError).
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class CaseNoteVersion(Base):
    """Every version of a case note as it was written: who wrote it, when, and why (amendments)."""

    __tablename__ = "case_note_version"
    note_id: Mapped[str] = mapped_column(ForeignKey("case_note.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    restricted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    recorded_by_practitioner_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    recorded_by_agency_id: Mapped[str] = mapped_column(String(120), nullable=False)
    recorded_by_client_id: Mapped[str] = mapped_column(String(120), nullable=False)
    # Why it was amended (required for every version after the first).
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Assessment(Base):
    __tablename__ = "assessment"
    # The managers' worklist: submitted assessments, oldest first.
    __table_args__ = (Index("ix_assessment_status_submitted_at", "status", "submitted_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    started_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    updated_at: Mapped[datetime] = updated_at_column()
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    approved_by: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    returned_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    return_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    family_members: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    baseline: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    factors: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    diversity: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    analysis: Mapped[str | None] = mapped_column(Text, nullable=True)
    priorities: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    # Who started it (policy.may_approve: no one approves their own). NULL before issue 18.
    author_practitioner_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    author_client_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # Updates say "WHERE version = <the version read>": of two concurrent writers holding
    # the same ETag, one wins and the other gets 412 (StaleDataError), on PostgreSQL too.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class AssessmentExtension(Base):
    __tablename__ = "assessment_extension"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    assessment_id: Mapped[str] = mapped_column(ForeignKey("assessment.id"), nullable=False, index=True)
    previous_due_on: Mapped[date] = mapped_column(Date, nullable=False)
    new_due_on: Mapped[date] = mapped_column(Date, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    approved_by: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


class Plan(Base):
    __tablename__ = "plan"
    __table_args__ = (UniqueConstraint("episode_id", "version"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    agreed_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    agreed_by_agency_id: Mapped[str] = mapped_column(String(120), nullable=False)


class PlanOutcome(Base):
    __tablename__ = "plan_outcome"
    __table_args__ = (UniqueConstraint("plan_id", "outcome_id"),)
    row_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plan.id"), nullable=False, index=True)
    outcome_id: Mapped[str] = mapped_column(String(36), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    headline: Mapped[str] = mapped_column(String(60), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    measure: Mapped[str] = mapped_column(String(500), nullable=False)
    baseline: Mapped[str] = mapped_column(String(200), nullable=False)
    target: Mapped[str] = mapped_column(String(200), nullable=False)
    target_on: Mapped[date] = mapped_column(Date, nullable=False)


class PlanAction(Base):
    __tablename__ = "plan_action"
    __table_args__ = (UniqueConstraint("plan_id", "action_id"),)
    row_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plan.id"), nullable=False, index=True)
    action_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    owner_agency_id: Mapped[str] = mapped_column(String(120), nullable=False)
    owner_name: Mapped[str] = mapped_column(String(200), nullable=False)
    # The owning practitioner, when named: then only they (or an early help manager) update it.
    owner_practitioner_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    outcome_refs: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="open")
    progress_notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # Updates say "WHERE version = <the version read>": of two concurrent writers holding
    # the same ETag, one wins and the other gets 412 (StaleDataError), on PostgreSQL too.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class Review(Base):
    __tablename__ = "review"
    # An episode's reviews in their order (the review cadence reads them so; issue 21 item 6).
    __table_args__ = (Index("ix_review_episode_order", "episode_id", "held_on", "created_at", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), nullable=False, index=True)
    held_on: Mapped[date] = mapped_column(Date, nullable=False)
    next_review_on: Mapped[date] = mapped_column(Date, nullable=False)
    attendees: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


class ReviewScore(Base):
    __tablename__ = "review_score"
    review_id: Mapped[str] = mapped_column(ForeignKey("review.id"), primary_key=True)
    outcome_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    score: Mapped[int] = mapped_column(Integer, nullable=False)


class StepUp(Base):
    """Stored (and committed) before the referrals service is called: its id is the
    idempotency key there, so a retry can never create a second referral."""

    __tablename__ = "step_up"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    agency_id: Mapped[str] = mapped_column(String(120), nullable=False)
    agency_type: Mapped[str] = mapped_column(String(40), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)  # pending | sent
    referral_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ClosureOutcome(Base):
    """Outcomes achieved at closure, with their headline, so reports group them in SQL."""

    __tablename__ = "closure_outcome"
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), primary_key=True)
    outcome_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    headline: Mapped[str] = mapped_column(String(60), nullable=False, index=True)


class PendingDisclosure(Base):
    """A disclosure to report to the consent service; flushed by a background task."""

    __tablename__ = "pending_disclosure"
    __table_args__ = (Index("ix_pending_disclosure_due", "sent_at", "next_attempt_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(36), nullable=False)
    agency_id: Mapped[str] = mapped_column(String(120), nullable=False)
    resource_type: Mapped[str] = mapped_column(String(30), nullable=False)
    resource_id: Mapped[str] = mapped_column(String(36), nullable=False)
    basis: Mapped[str] = mapped_column(String(60), nullable=False)
    reference_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    practitioner_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    disclosed_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)


class EpisodeNeed(Base):
    """The needs the episode's referral named (issue 21, Supporting Families), each with its
    headline (shared/codes.py NEED_CODES), from the `referral.decided` event's `needs`. An
    episode with no rows: not recorded (opened before issue 21, or not from a referral)."""

    __tablename__ = "episode_need"
    # Another episode of the family with a need under a headline (the re-referral check).
    __table_args__ = (Index("ix_episode_need_headline", "headline", "episode_id"),)
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), primary_key=True)
    need: Mapped[str] = mapped_column(String(60), primary_key=True)
    headline: Mapped[str] = mapped_column(String(60), nullable=False)


# Issue 22: what each row of a bulk import created (shared/imports.py): kind `episode`.
IMPORT_RECORD = import_record_table(Base.metadata)


class EpisodeReviewFact(Base):
    """What the reports read of an episode's reviews (issue 21 item 6), kept by the rule that
    records a review (plans.hold_review, in its transaction) so the drift list and the review
    cadence are indexed reads rather than window functions over every review. Reviews are
    ordered as everywhere: held_on, then created_at, then id. An episode with no review has no
    row. `no_movement`: three reviews or more, and no outcome scored in the latest three has a
    higher score at its latest scoring in them than at its earliest (docs/assessments.md, "The
    drift list")."""

    __tablename__ = "episode_review_fact"
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), primary_key=True)
    reviews: Mapped[int] = mapped_column(Integer, nullable=False)
    first_review_on: Mapped[date] = mapped_column(Date, nullable=False)
    last_review_on: Mapped[date] = mapped_column(Date, nullable=False)
    no_movement: Mapped[bool] = mapped_column(Boolean, nullable=False)


class EpisodeReportFact(Base):
    """An episode's first steps as the episode report reads them (issue 21 item 6): its first
    assessment started, its first approved, its first plan version agreed - the earliest of
    each, and the current plan version, kept by the rules that start and approve an assessment
    and agree a plan, in their
    transactions (services/assessments/report_facts.py), so the report reads one row per episode
    rather than grouping every assessment and plan. A row once the episode has an assessment or
    a plan."""

    __tablename__ = "episode_report_fact"
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), primary_key=True)
    first_assessment_started_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    first_assessment_approved_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    first_plan_agreed_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    # The current (highest) plan version's id: the overdue plan actions read its actions.
    current_plan_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class EpisodeReviewGap(Base):
    """The reviews after an episode's first, counted by the calendar months each came after
    the one before (`months`: the fewest whole months that reach it, the day clamped to the
    month's end as everywhere), kept with `episode_review_fact` by the rule that records a
    review. A review is within an interval of N months when its `months` <= N, so the review
    cadence counts these rows for any setting rather than ranking every review."""

    __tablename__ = "episode_review_gap"
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), primary_key=True)
    months: Mapped[int] = mapped_column(Integer, primary_key=True)
    reviews: Mapped[int] = mapped_column(Integer, nullable=False)


class SfHeadline(Base):
    """Each (episode, headline)'s Supporting Families facts that do not depend on the settings
    or on today (issue 21 items 1 and 6): kept by `sf_facts.py` whenever needs, family members,
    plans, reviews or closures are written, so the reports read one indexed table. The window
    (`met_on` + `sf_sustain_months`) and "sustained by today" are applied when read."""

    __tablename__ = "sf_headline"
    __table_args__ = (
        Index("ix_sf_headline_opened_at", "opened_at", "episode_id"),
        Index("ix_sf_headline_met_on", "met_on"),  # the quarter's summary
    )
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), primary_key=True)
    headline: Mapped[str] = mapped_column(String(60), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(TZ, nullable=False)  # the episode's, to scope reads
    at_start: Mapped[int] = mapped_column(Integer, nullable=False)
    from_needs: Mapped[int] = mapped_column(Integer, nullable=False)
    from_plan: Mapped[int] = mapped_column(Integer, nullable=False)
    met_on: Mapped[date | None] = mapped_column(Date, nullable=True)  # first evidenced as met
    # The first day after `met_on` that could break it (a re-referral of the family naming a
    # need under the headline; a review of the episode below target): it breaks the headline
    # when it falls inside the window, however long the window is configured.
    re_referral_after_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    review_below_after_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class SfEvidenceFact(Base):
    """Each piece of evidence that a headline was met (a closure outcome; a review scoring an
    outcome at or above its target in the current plan), kept with `sf_headline` by
    `sf_facts.py` so the claims export reads it by episode instead of recomputing the scored
    reviews. `review_id` is '' for a closure outcome (it is part of the key)."""

    __tablename__ = "sf_evidence"
    episode_id: Mapped[str] = mapped_column(ForeignKey("episode.id"), primary_key=True)
    headline: Mapped[str] = mapped_column(String(60), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)  # closure_outcome | review
    review_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    outcome_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    evidenced_on: Mapped[date] = mapped_column(Date, nullable=False)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    target_score: Mapped[int | None] = mapped_column(Integer, nullable=True)


# The Supporting Families facts above are kept by session listeners (`sf_facts.py`), registered
# here, at the end of the module every writer of the watched tables imports: no process (the
# service, a job, a script, a test) can write those rows without them. Imported last, as it
# reads the classes above.
from services.assessments import sf_facts as _sf_facts  # noqa: E402, F401
