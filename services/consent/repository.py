"""Every query of the consent service lives here.

The access check (`access_facts`) is one statement, one round trip, selecting columns rather
than ORM objects: a UNION ALL of two indexed lookups -
- the latest decision: `ix_sharing_decision_lookup (person_id, agency_id, purpose, decided_at)`
  plus the unique index on `sharing_decision.supersedes_id` for "not superseded";
- the live consents: `ix_consent_person_id_obtained_at (person_id, obtained_at)` plus the unique
  index on `consent_withdrawal.consent_id` for "not withdrawn".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    Row,
    Select,
    String,
    bindparam,
    exists,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.consent.models import (
    Consent,
    ConsentExpiryNotice,
    ConsentWithdrawal,
    Disclosure,
    SharingDecision,
)
from shared.changes import where_changed_since
from shared.db import is_postgres_session
from shared.pagination import PageParams, keyset

_Successor = aliased(SharingDecision)

# --- consents ---------------------------------------------------------------------------


async def add(session: AsyncSession, obj: Any) -> None:
    session.add(obj)
    await session.flush()


async def get_consent(
    session: AsyncSession, consent_id: str
) -> Row[Consent, ConsentWithdrawal | None] | None:
    stmt = (
        select(Consent, ConsentWithdrawal)
        .outerjoin(ConsentWithdrawal, ConsentWithdrawal.consent_id == Consent.id)
        .where(Consent.id == consent_id)
    )
    return (await session.execute(stmt)).first()


async def list_consents(
    session: AsyncSession, person_id: str, params: PageParams, updated_since: datetime | None = None
) -> Sequence[Row[Consent, ConsentWithdrawal | None]]:
    stmt = (
        select(Consent, ConsentWithdrawal)
        .outerjoin(ConsentWithdrawal, ConsentWithdrawal.consent_id == Consent.id)
        .where(Consent.person_id == person_id)
    )
    # Append-only: a consent changes when recorded and when withdrawn (shared/changes.py).
    stmt = where_changed_since(stmt, updated_since, Consent.created_at, ConsentWithdrawal.withdrawn_at)
    stmt = keyset(stmt, Consent.obtained_at, Consent.id, params)
    return (await session.execute(stmt)).all()


async def is_withdrawn(session: AsyncSession, consent_id: str) -> bool:
    stmt = select(ConsentWithdrawal.id).where(ConsentWithdrawal.consent_id == consent_id)
    return (await session.execute(stmt)).first() is not None


# (id, purposes, agencies)
LiveConsent = Row[str, list[str], list[str]]


async def live_consents(session: AsyncSession, person_id: str, today: date) -> Sequence[LiveConsent]:
    """(id, purposes, agencies) of the person's consents not withdrawn and not expired, newest first."""
    stmt = (
        select(Consent.id, Consent.purposes, Consent.agencies)
        .where(
            Consent.person_id == person_id,
            or_(Consent.expires_on.is_(None), Consent.expires_on >= today),
            ~exists().where(ConsentWithdrawal.consent_id == Consent.id),
        )
        .order_by(Consent.obtained_at.desc())
    )
    return (await session.execute(stmt)).all()


async def expiring_unannounced(
    session: AsyncSession, today: date, until: date, limit: int
) -> Sequence[Row[str, str, date | None]]:
    """(id, person_id, expires_on) of live consents expiring by `until` and not yet announced."""
    stmt = (
        select(Consent.id, Consent.person_id, Consent.expires_on)
        .where(
            Consent.expires_on.is_not(None),
            Consent.expires_on >= today,
            Consent.expires_on <= until,
            ~exists().where(ConsentWithdrawal.consent_id == Consent.id),
            ~exists().where(ConsentExpiryNotice.consent_id == Consent.id),
        )
        .order_by(Consent.expires_on, Consent.id)
        .limit(limit)
    )
    return (await session.execute(stmt)).all()


async def insert_expiry_notices(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(insert(ConsentExpiryNotice), rows)


# --- sharing decisions ------------------------------------------------------------------


def _access_facts_statement() -> Select[Any]:
    """Built once: constructing this UNION per call cost more than running it."""
    person_id, agency_id = bindparam("person_id", type_=String), bindparam("agency_id", type_=String)
    purpose, today = bindparam("purpose", type_=String), bindparam("today", type_=Date)
    decision = (
        select(
            literal("d", String).label("kind"),
            SharingDecision.id,
            SharingDecision.decision,
            null().cast(JSON).label("purposes"),
            null().cast(JSON).label("agencies"),
            literal(0).label("rank"),
            SharingDecision.decided_at.label("at"),
        )
        .where(
            SharingDecision.person_id == person_id,
            SharingDecision.agency_id == agency_id,
            SharingDecision.purpose == purpose,
            ~exists().where(_Successor.supersedes_id == SharingDecision.id),
        )
        .order_by(SharingDecision.decided_at.desc(), SharingDecision.created_at.desc())
        .limit(1)
        .subquery()
    )
    consents = select(
        literal("c", String).label("kind"),
        Consent.id,
        null().cast(String).label("decision"),
        Consent.purposes,
        Consent.agencies,
        literal(1).label("rank"),
        Consent.obtained_at.label("at"),
    ).where(
        Consent.person_id == person_id,
        or_(Consent.expires_on.is_(None), Consent.expires_on >= today),
        ~exists().where(ConsentWithdrawal.consent_id == Consent.id),
    )
    both = union_all(select(decision), consents).subquery()
    return select(
        both.c.kind, both.c.id, both.c.decision, both.c.purposes, both.c.agencies, both.c.at
    ).order_by(both.c.rank, both.c.at.desc())


_ACCESS_FACTS = _access_facts_statement()
# (kind, id, decision, purposes, agencies, at)
AccessFact = Row[str, str, str | None, list[str] | None, list[str] | None, datetime]


async def access_facts(
    session: AsyncSession, person_id: str, agency_id: str, purpose: str, today: date
) -> Sequence[AccessFact]:
    """(kind, id, decision, purposes, agencies, at): the deciding sharing decision first, if any
    (kind "d", `at` its decided_at), then the person's live consents, newest first (kind "c",
    `at` the consent's obtained_at)."""
    if is_postgres_session(session) and not session.in_transaction():
        # A single read needs no transaction: skip BEGIN/ROLLBACK round trips.
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    params = {"person_id": person_id, "agency_id": agency_id, "purpose": purpose, "today": today}
    return (await session.execute(_ACCESS_FACTS, params)).all()


async def get_decision(session: AsyncSession, decision_id: str) -> Row[SharingDecision, str | None] | None:
    stmt = (
        select(SharingDecision, _Successor.id)
        .outerjoin(_Successor, _Successor.supersedes_id == SharingDecision.id)
        .where(SharingDecision.id == decision_id)
    )
    return (await session.execute(stmt)).first()


async def list_decisions(
    session: AsyncSession,
    person_id: str,
    params: PageParams,
    agency_id: str | None,
    updated_since: datetime | None = None,
) -> Sequence[Row[SharingDecision, str | None]]:
    stmt = (
        select(SharingDecision, _Successor.id)
        .outerjoin(_Successor, _Successor.supersedes_id == SharingDecision.id)
        .where(SharingDecision.person_id == person_id)
    )
    # Append-only: a decision changes when recorded and when a correction supersedes it.
    stmt = where_changed_since(stmt, updated_since, SharingDecision.created_at, _Successor.created_at)
    if agency_id is not None:
        stmt = stmt.where(SharingDecision.agency_id == agency_id)
    stmt = keyset(stmt, SharingDecision.decided_at, SharingDecision.id, params)
    return (await session.execute(stmt)).all()


# --- disclosures ------------------------------------------------------------------------


async def list_disclosures(
    session: AsyncSession,
    person_id: str,
    params: PageParams | None,
    agency_id: str | None,
    updated_since: datetime | None = None,
) -> Sequence[Disclosure]:
    """Oldest first (a journey reads forwards); `params=None` returns them all (export)."""
    stmt = select(Disclosure).where(Disclosure.person_id == person_id)
    stmt = where_changed_since(stmt, updated_since, Disclosure.recorded_at)  # recorded once
    if agency_id is not None:
        stmt = stmt.where(Disclosure.agency_id == agency_id)
    if params is None:
        stmt = stmt.order_by(Disclosure.disclosed_at, Disclosure.id)
    else:
        stmt = keyset(stmt, Disclosure.disclosed_at, Disclosure.id, params, descending=False)
    return (await session.execute(stmt)).scalars().all()


async def get_disclosure(session: AsyncSession, disclosure_id: str) -> Disclosure | None:
    """One entry of the disclosure log (the FHIR AuditEvent read)."""
    return await session.get(Disclosure, disclosure_id)
