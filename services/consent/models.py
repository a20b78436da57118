"""Tables of the consent service (SQLAlchemy `Mapped[...]` only).

Consent history, sharing decisions and disclosures are append-only: a withdrawal is a new
`consent_withdrawal` row, a correction is a new `sharing_decision` row naming the one it
supersedes, and migration 0002 installs database triggers refusing UPDATE and DELETE on the
four history tables. The expiry announcements live in their own table so that the scan never
touches a consent row.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, make_metadata
from shared.imports import import_record_table
from shared.platform_tables import platform_tables


class Base(DeclarativeBase):
    metadata = make_metadata()


PLATFORM = platform_tables(Base.metadata)

# Tables no statement may update or delete (enforced by triggers, see migration 0002).
APPEND_ONLY_TABLES = ("consent", "consent_withdrawal", "sharing_decision", "disclosure")


class Consent(Base):
    __tablename__ = "consent"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(36))
    given_by_name: Mapped[str] = mapped_column(String(200))
    given_by_relationship: Mapped[str] = mapped_column(String(20))
    competence: Mapped[str] = mapped_column(String(30))
    purposes: Mapped[list[str]] = mapped_column(JSON)
    agencies: Mapped[list[str]] = mapped_column(JSON)
    method: Mapped[str] = mapped_column(String(20))
    obtained_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    recorded_by_agency_id: Mapped[str] = mapped_column(String(64))
    recorded_by_client_id: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        # The access check and GET /v1/consents?person_id= read a person's consents by this.
        Index("ix_consent_person_id_obtained_at", "person_id", "obtained_at"),
        # The expiry scan looks for consents ending within the notice window.
        Index("ix_consent_expires_on", "expires_on"),
    )


class ConsentWithdrawal(Base):
    __tablename__ = "consent_withdrawal"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Unique: a consent is withdrawn once (a concurrent second withdrawal fails on it).
    consent_id: Mapped[str] = mapped_column(String(36), ForeignKey("consent.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    withdrawn_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by_agency_id: Mapped[str] = mapped_column(String(64))
    recorded_by_client_id: Mapped[str] = mapped_column(String(120))


class ConsentExpiryNotice(Base):
    """One row per consent whose coming expiry has been announced (`consent.expiring`)."""

    __tablename__ = "consent_expiry_notice"

    consent_id: Mapped[str] = mapped_column(String(36), ForeignKey("consent.id"), primary_key=True)
    expires_on: Mapped[date] = mapped_column(Date)
    announced_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SharingDecision(Base):
    __tablename__ = "sharing_decision"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(36))
    agency_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(40))
    decision: Mapped[str] = mapped_column(String(20))
    lawful_basis: Mapped[str | None] = mapped_column(String(40), nullable=True)
    justification: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(200))
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Unique: a decision is corrected once; a later correction supersedes the correction.
    supersedes_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("sharing_decision.id"), nullable=True, unique=True
    )
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by_agency_id: Mapped[str] = mapped_column(String(64))
    recorded_by_client_id: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        # The access check: the latest decision for (person, agency, purpose).
        Index("ix_sharing_decision_lookup", "person_id", "agency_id", "purpose", "decided_at"),
    )


class Disclosure(Base):
    __tablename__ = "disclosure"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(36))
    agency_id: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(60))
    resource_id: Mapped[str] = mapped_column(String(64))
    basis: Mapped[str] = mapped_column(String(20))
    reference_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    disclosed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reported_by_client_id: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The practitioner who read it (migration 0003): NULL for a system call and for every
    # disclosure recorded before practitioners were known.
    practitioner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (Index("ix_disclosure_person_id_disclosed_at", "person_id", "disclosed_at"),)


# Issue 22: what each consent of a bulk import created (shared/imports.py, migration 0005).
IMPORT_RECORD = import_record_table(Base.metadata)
