"""Consents, sharing decisions, the access check and the disclosure log: what happens, in order.

Who may do what, who sees what and whom a consent covers are `policy.py`'s (docs/consent.md
"Who may do what"). Every operation takes the `Context` first (session, runtime, caller, the
request's moment); services flush, the request session commits.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import TypeAlias

from sqlalchemy.exc import IntegrityError

from services.consent import policy
from services.consent import repository as repo
from services.consent.errors import ConsentAlreadyWithdrawn, DecisionAlreadySuperseded
from services.consent.models import Consent, ConsentWithdrawal, Disclosure, SharingDecision
from services.consent.policy import TafMembership
from services.consent.schemas import (
    AccessCheckRead,
    ConsentCreate,
    ConsentRead,
    ConsentWithdraw,
    DisclosureCreate,
    DisclosureRead,
    GivenByRead,
    SharingDecisionCreate,
    SharingDecisionRead,
    WithdrawalRead,
)
from shared.clock import LONDON
from shared.context import Context as BaseContext
from shared.pagination import PageParams, encode_cursor
from shared.problems import NotFound, ValidationProblem
from shared.runtime import ServiceRuntime

log = logging.getLogger("consent")

# A device clock a little ahead of ours is not "obtained in the future".
CLOCK_SKEW = timedelta(minutes=5)

# The shared context is all consent needs (no per-request state, no settings in the rules).
Context: TypeAlias = BaseContext[ServiceRuntime]


# --- small helpers ----------------------------------------------------------------------


def london_day(moment: datetime) -> date:
    """The council's calendar date at `moment` (what "today" is for expiry dates)."""
    return moment.astimezone(LONDON).date()


def consent_status(consent: Consent, withdrawal: ConsentWithdrawal | None, today: date) -> str:
    if withdrawal is not None:
        return "withdrawn"
    if consent.expires_on is not None and consent.expires_on < today:
        return "expired"
    return "active"


def consent_read(consent: Consent, withdrawal: ConsentWithdrawal | None, today: date) -> ConsentRead:
    # A mapper: `status` is computed, `given_by` nests two columns, the withdrawal is another row.
    return ConsentRead(
        id=consent.id,
        person_id=consent.person_id,
        given_by=GivenByRead(name=consent.given_by_name, relationship=consent.given_by_relationship),
        competence=consent.competence,
        purposes=consent.purposes,
        agencies=consent.agencies,
        method=consent.method,
        obtained_at=consent.obtained_at,
        expires_on=consent.expires_on,
        status=consent_status(consent, withdrawal, today),  # type: ignore[arg-type]
        withdrawal=None
        if withdrawal is None
        else WithdrawalRead.model_validate(withdrawal, from_attributes=True),
        recorded_by_agency_id=consent.recorded_by_agency_id,
        created_at=consent.created_at,
    )


def decision_read(decision: SharingDecision, superseded_by_id: str | None) -> SharingDecisionRead:
    # A mapper: `superseded_by_id` comes from the later decision's row, not this one.
    return SharingDecisionRead(
        id=decision.id,
        person_id=decision.person_id,
        agency_id=decision.agency_id,
        purpose=decision.purpose,
        decision=decision.decision,
        lawful_basis=decision.lawful_basis,
        justification=decision.justification,
        decided_by=decision.decided_by,
        approved_by=decision.approved_by,
        supersedes_id=decision.supersedes_id,
        superseded_by_id=superseded_by_id,
        decided_at=decision.decided_at,
        recorded_by_agency_id=decision.recorded_by_agency_id,
        created_at=decision.created_at,
    )


# --- consents ---------------------------------------------------------------------------


async def create_consent(ctx: Context, body: ConsentCreate) -> ConsentRead:
    policy.check_competence(body)
    if body.obtained_at > ctx.now + CLOCK_SKEW:
        raise ValidationProblem("obtained_at", "must not be in the future")
    today = london_day(ctx.now)
    if body.expires_on is not None and body.expires_on <= today:
        raise ValidationProblem("expires_on", "must be a future date")
    consent = await record_consent(ctx, body)
    await announce_given(ctx, consent)
    return consent_read(consent, None, today)


async def record_consent(ctx: Context, body: ConsentCreate) -> Consent:
    """Store a checked consent, recorded now by the caller (append-only: one new row)."""
    consent = Consent(
        id=str(uuid.uuid4()),
        person_id=str(body.person_id),
        given_by_name=body.given_by.name,
        given_by_relationship=body.given_by.relationship,
        competence=body.competence,
        purposes=list(body.purposes),
        agencies=list(body.agencies),
        method=body.method,
        obtained_at=body.obtained_at.astimezone(UTC),
        expires_on=body.expires_on,
        recorded_by_agency_id=ctx.identity.agency_id,
        recorded_by_client_id=ctx.identity.client_id,
        created_at=ctx.now,
    )
    await repo.add(ctx.session, consent)
    return consent


async def announce_given(ctx: Context, consent: Consent) -> None:
    """`consent.given`: the notifications service opens the consent's review deadline."""
    await ctx.publish(
        "consent.given",
        {
            "consent_id": consent.id,
            "person_id": consent.person_id,
            "purposes": consent.purposes,
            "agencies": consent.agencies,
            "given_at": consent.obtained_at.isoformat(),
            "expires_on": consent.expires_on.isoformat() if consent.expires_on else None,
        },
    )


async def get_consent(ctx: Context, consent_id: str) -> ConsentRead:
    row = await repo.get_consent(ctx.session, consent_id)
    if row is None or not policy.may_see_consent(ctx.identity, row[0]):
        raise NotFound("No such consent")
    return consent_read(row[0], row[1], london_day(ctx.now))


async def list_consents(
    ctx: Context, person_id: str, params: PageParams, updated_since: datetime | None = None
) -> tuple[list[ConsentRead], str | None]:
    rows = list(await repo.list_consents(ctx.session, person_id, params, updated_since))
    cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1][0]
        cursor = encode_cursor(last.obtained_at, last.id)
    # Filtering after the page is cut keeps the cursor right; a partner's page may be short.
    today = london_day(ctx.now)
    items = [consent_read(c, w, today) for c, w in rows if policy.may_see_consent(ctx.identity, c)]
    return items, cursor


async def withdraw_consent(ctx: Context, consent_id: str, body: ConsentWithdraw) -> ConsentRead:
    row = await repo.get_consent(ctx.session, consent_id)
    if row is None or not policy.may_see_consent(ctx.identity, row[0]):
        raise NotFound("No such consent")
    consent, existing = row
    if existing is not None:
        raise ConsentAlreadyWithdrawn(
            f"Consent {consent_id} was withdrawn at {existing.withdrawn_at.isoformat()}"
        )
    withdrawal = ConsentWithdrawal(
        id=str(uuid.uuid4()),
        consent_id=consent.id,
        reason=body.reason,
        withdrawn_at=ctx.now,
        recorded_by_agency_id=ctx.identity.agency_id,
        recorded_by_client_id=ctx.identity.client_id,
    )
    try:
        async with ctx.session.begin_nested():
            await repo.add(ctx.session, withdrawal)
    except IntegrityError as exc:  # a concurrent withdrawal got there first
        raise ConsentAlreadyWithdrawn(f"Consent {consent_id} is already withdrawn") from exc
    await ctx.publish(
        "consent.withdrawn",
        {
            "consent_id": consent.id,
            "person_id": consent.person_id,
            "purposes": consent.purposes,
            "agencies": consent.agencies,
            "withdrawn_at": withdrawal.withdrawn_at.isoformat(),
        },
    )
    return consent_read(consent, withdrawal, london_day(ctx.now))


# --- expiry announcements ---------------------------------------------------------------


async def announce_expiring(ctx: Context, *, notice_days: int, batch_size: int = 200) -> int:
    """Publish `consent.expiring` for one batch of live consents ending within `notice_days`
    of `ctx.now` that were not announced yet; returns how many (0: none left).

    The announcement is a `consent_expiry_notice` row written in the same transaction as the
    event, so a consent is announced once however often (and on however many replicas) the
    scan runs: a concurrent replica's announcement makes this flush an `IntegrityError`, and
    the caller (`jobs.announce_expiring`) runs the batch again in a new transaction.
    """
    today = london_day(ctx.now)
    until = today + timedelta(days=notice_days)
    rows = await repo.expiring_unannounced(ctx.session, today, until, batch_size)
    if not rows:
        return 0
    await repo.insert_expiry_notices(
        ctx.session,
        [{"consent_id": r.id, "expires_on": r.expires_on, "announced_at": ctx.now} for r in rows],
    )
    for r in rows:
        await ctx.publish(
            "consent.expiring",
            {
                "consent_id": r.id,
                "person_id": r.person_id,
                "expires_on": r.expires_on.isoformat(),
            },
        )
    return len(rows)


# --- sharing decisions ------------------------------------------------------------------


async def create_decision(ctx: Context, body: SharingDecisionCreate) -> SharingDecisionRead:
    person_id = str(body.person_id)
    decided_at = (body.decided_at or ctx.now).astimezone(UTC)
    if decided_at > ctx.now + CLOCK_SKEW:
        raise ValidationProblem("decided_at", "must not be in the future")
    live = (
        await repo.live_consents(ctx.session, person_id, london_day(ctx.now))
        if policy.needs_consent(body)
        else ()
    )
    policy.check_decision(body, live)
    supersedes_id = str(body.supersedes_id) if body.supersedes_id else None
    if supersedes_id is not None:
        previous = await repo.get_decision(ctx.session, supersedes_id)
        if previous is None or previous[0].person_id != person_id:
            raise ValidationProblem("supersedes_id", "no decision with this id about this person")
        if previous[1] is not None:
            raise DecisionAlreadySuperseded(
                f"Decision {supersedes_id} was already superseded by {previous[1]}; supersede that one"
            )
    decision = SharingDecision(
        id=str(uuid.uuid4()),
        person_id=person_id,
        agency_id=body.agency_id,
        purpose=body.purpose,
        decision=body.decision,
        lawful_basis=body.lawful_basis,
        justification=body.justification,
        decided_by=body.decided_by,
        approved_by=body.approved_by,
        supersedes_id=supersedes_id,
        decided_at=decided_at,
        recorded_by_agency_id=ctx.identity.agency_id,
        recorded_by_client_id=ctx.identity.client_id,
        created_at=ctx.now,
    )
    try:
        async with ctx.session.begin_nested():
            await repo.add(ctx.session, decision)
    except IntegrityError as exc:
        raise DecisionAlreadySuperseded(f"Decision {supersedes_id} was superseded meanwhile") from exc
    await ctx.publish(
        "sharing.decided",
        {
            "decision_id": decision.id,
            "person_id": person_id,
            "agency_id": decision.agency_id,
            "purpose": decision.purpose,
            "decision": decision.decision,
            "decided_at": decided_at.isoformat(),
            "supersedes_id": supersedes_id,
        },
    )
    return decision_read(decision, None)


async def get_decision(ctx: Context, decision_id: str) -> SharingDecisionRead:
    row = await repo.get_decision(ctx.session, decision_id)
    if row is None or not policy.may_see_decision(ctx.identity, row[0]):
        raise NotFound("No such sharing decision")
    return decision_read(row[0], row[1])


async def list_decisions(
    ctx: Context, person_id: str, params: PageParams, updated_since: datetime | None = None
) -> tuple[list[SharingDecisionRead], str | None]:
    agency = policy.agency_filter(ctx.identity)
    rows = list(await repo.list_decisions(ctx.session, person_id, params, agency, updated_since))
    cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        cursor = encode_cursor(rows[-1][0].decided_at, rows[-1][0].id)
    return [decision_read(d, s) for d, s in rows], cursor


# --- the access check -------------------------------------------------------------------


async def check_access(
    ctx: Context,
    person_id: str,
    agency_id: str,
    purpose: str,
    *,
    taf: TafMembership | None = None,
    practitioner_id: str | None = None,
) -> AccessCheckRead:
    """May `agency_id` receive `person_id`'s information for `purpose`? (docs/consent.md)

    1. The latest sharing decision for (person, agency, purpose) that no correction supersedes
       decides, if there is one: `share` allows, `do_not_share` denies - even against consent.
    2. Otherwise a live consent (not withdrawn, not past `expires_on`) covering the purpose and
       naming the agency allows; so does one naming `team_around_the_family` when the caller
       says the agency sits on the person's TAF and the agency joined the TAF no later than
       the consent was obtained, or the family agreed to its joining (`policy.answer`).
    3. Otherwise denied.
    "Live" is as of `ctx.now`'s London date. Reads the committed state every time (no cache): a withdrawal denies the very next check.
    `practitioner_id` (whom the asking service acts for) is validated and echoed, not stored:
    a check is not a read, and the hot path stays a single read-only statement. The record
    of who read what is the disclosure log, which stores the practitioner.
    """
    taf = taf or TafMembership()
    policy.check_taf_membership(taf)
    rows = await repo.access_facts(ctx.session, person_id, agency_id, purpose, london_day(ctx.now))
    answer = policy.answer(rows, agency_id, purpose, taf)
    return answer.model_copy(update={"practitioner_id": practitioner_id})


# --- disclosures ------------------------------------------------------------------------


async def record_disclosure(ctx: Context, body: DisclosureCreate) -> DisclosureRead:
    disclosure = Disclosure(
        id=str(uuid.uuid4()),
        person_id=str(body.person_id),
        agency_id=body.agency_id,
        resource_type=body.resource_type,
        resource_id=body.resource_id,
        basis=body.basis,
        reference_id=str(body.reference_id) if body.reference_id else None,
        request_id=body.request_id,
        disclosed_at=body.disclosed_at.astimezone(UTC),
        reported_by_client_id=ctx.identity.client_id,
        recorded_at=ctx.now,
        practitioner_id=body.practitioner_id,
    )
    await repo.add(ctx.session, disclosure)
    return DisclosureRead.model_validate(disclosure, from_attributes=True)


async def list_disclosures(
    ctx: Context, person_id: str, params: PageParams, updated_since: datetime | None = None
) -> tuple[list[DisclosureRead], str | None]:
    agency = policy.agency_filter(ctx.identity)
    rows = list(await repo.list_disclosures(ctx.session, person_id, params, agency, updated_since))
    cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        cursor = encode_cursor(rows[-1].disclosed_at, rows[-1].id)
    return [DisclosureRead.model_validate(d, from_attributes=True) for d in rows], cursor


async def all_disclosures(ctx: Context, person_id: str) -> list[DisclosureRead]:
    rows = await repo.list_disclosures(ctx.session, person_id, None, policy.agency_filter(ctx.identity))
    return [DisclosureRead.model_validate(d, from_attributes=True) for d in rows]
