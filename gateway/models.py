"""Tables of the gateway: agencies, clients, practitioners and teams, signing keys, the audit chain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.changes import updated_at_column
from shared.db import UTCDateTime, make_metadata


class Base(DeclarativeBase):
    metadata = make_metadata()


class Agency(Base):
    __tablename__ = "agency"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Client(Base):
    __tablename__ = "client"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    agency_id: Mapped[str] = mapped_column(ForeignKey("agency.id"))
    secret_hash: Mapped[str] = mapped_column(String(300))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    rate_limit_per_second: Mapped[float | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = updated_at_column()  # `?updated_since=`
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Team(Base):
    """A team of practitioners within one agency (a locality team, a school's pastoral team)."""

    __tablename__ = "team"
    __table_args__ = (Index("ix_team_agency_created", "agency_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agency.id"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = updated_at_column()  # `?updated_since=`


class Practitioner(Base):
    """A person who acts through an agency's system, with roles within its agency type.

    Registered by the agency (or the council admin), or on first sight of a token from a
    trusted council identity provider (`external_issuer` + `external_subject`)."""

    __tablename__ = "practitioner"
    __table_args__ = (
        UniqueConstraint("agency_id", "email"),
        UniqueConstraint("external_issuer", "external_subject"),
        Index("ix_practitioner_agency_created", "agency_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agency.id"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)  # stored lower-case
    roles: Mapped[list[str]] = mapped_column(JSON)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("team.id"), nullable=True)
    external_issuer: Mapped[str | None] = mapped_column(String(300), nullable=True)
    external_subject: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = updated_at_column()  # `?updated_since=`
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SigningKey(Base):
    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditRecord(Base):
    """One row per call through the gateway, hash-chained per gateway instance (`chain_id`)."""

    __tablename__ = "audit_record"
    __table_args__ = (
        Index("ix_audit_record_chain_seq", "chain_id", "seq", unique=True),
        Index("ix_audit_record_client_at", "client_id", "at"),
        Index("ix_audit_record_practitioner_at", "practitioner_id", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    chain_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    client_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    agency_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # The practitioner the call acted for; None for a system call (and for rows written
    # before practitioners existed, whose hashes do not cover this column).
    practitioner_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str] = mapped_column(String(200))
    resource_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float]
    request_id: Mapped[str] = mapped_column(String(128))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
