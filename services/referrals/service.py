"""Rules of the referrals service: intake, one front door, MASH decisions, withdrawal, step-ups.

Services flush; the request session commits. Every state change publishes its event through
the outbox in the same transaction (`runtime.publish`), so an event exists exactly when the
change does and reaches a receiver that was down at the time once it is back.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from services.referrals import households, jsna, people, policy, requeue
from services.referrals import repository as repo
from services.referrals.codes import (
    NEED_CODES,
    OUTCOME_LEVELS,
    STEP_UP_SOURCE_CODE,
    source_code_for,
)
from services.referrals.config import Settings
from services.referrals.errors import (
    ConsentRequired,
    DecisionAlreadyMade,
    DecisionLevelMismatch,
    MatchAlreadyResolved,
    ReferralNotAwaitingDecision,
    ReferralNotFound,
)
from services.referrals.identifiers import normalise_postcode
from services.referrals.matching import Facts
from services.referrals.models import Person, Referral, ReferralAssignment, ReferralMatch, ReferralPerson
from services.referrals.schemas import (
    AdultRead,
    AgencyCheckRead,
    ChildRead,
    DecidedByRead,
    DecisionCreate,
    DecisionRead,
    MatchRead,
    NeedRead,
    ReferralAddressRead,
    ReferralConsentRead,
    ReferralCreate,
    ReferralRead,
    ReferralSummary,
    ReferrerRead,
    StepUpCreate,
    WithdrawRequest,
)
from shared.clock import LONDON
from shared.context import Context as BaseContext
from shared.db import is_postgres_session
from shared.identity import Identity
from shared.pagination import PageParams
from shared.problems import NotFound, ValidationProblem
from shared.runtime import ServiceRuntime

CLOCK_SKEW = timedelta(minutes=5)
PersonRowRead = TypeVar("PersonRowRead", ChildRead, AdultRead)
REFERENCE_PREFIX = "RFS"


@dataclass
class Context(BaseContext[ServiceRuntime]):
    """The shared `Context` (session, runtime, identity, now) and what this request already
    holds of a referral's people and matches, so answering with the referral does not read
    them back (each read is a round trip inside the write lock)."""

    people_of: dict[str, list[ReferralPerson]] = field(default_factory=dict)
    matches_of: dict[str, list[ReferralMatch]] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return cast(Settings, self.runtime.settings)


async def visible(
    ctx: Context, referral_id: str, *, for_update: bool = False, with_rows: bool = False
) -> Referral:
    """The referral if this caller may see it; 404 otherwise, so its existence does not leak.
    `with_rows`: its people rows and matches come in the same round trip (into
    `ctx.people_of` and `ctx.matches_of`), for a caller that answers with the referral."""
    rows: list[ReferralPerson] = []
    matches: list[ReferralMatch] = []
    if with_rows:
        referral, rows, matches = await repo.referral_with_rows(ctx.session, referral_id)
    else:
        referral = await repo.get_referral(ctx.session, referral_id, for_update=for_update)
    if referral is None or not policy.may_read(ctx.identity, referral):
        raise ReferralNotFound()
    if with_rows:
        ctx.people_of[referral.id] = rows
        ctx.matches_of[referral.id] = matches
    return referral


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# ---- intake ----


async def create(ctx: Context, body: ReferralCreate) -> Referral:
    significant = body.significant_harm_suspected or body.referral_type == "safeguarding_concern"
    if not significant and (body.consent is None or not body.consent.obtained):
        raise ConsentRequired()
    _check_consent(ctx, body)
    postcode = normalise_postcode(body.address.postcode)
    subjects: list[tuple[str, Any, Facts]] = [
        ("child", c, Facts.of_child(c, postcode)) for c in body.children
    ] + [("adult", a, Facts.of("adult", a.given_name, a.family_name, postcode=postcode)) for a in body.adults]
    reserved = _reserve_reference(ctx)
    await repo.lock_keys(ctx.session, (k for _, _, f in subjects for k in people.match_lock_keys(f)))
    referral = await _new_referral(
        ctx,
        referral_type=body.referral_type,
        urgent=significant,
        source_agency_id=ctx.identity.agency_id,
        source_agency_type=ctx.identity.agency_type,
        source_code=source_code_for(ctx.identity.agency_type, body.referral_type),
        referrer=body.referrer.model_dump(mode="json"),
        address=body.address.model_dump(mode="json"),
        postcode=postcode,
        needs=body.needs,
        summary=body.summary,
        consent=body.consent.model_dump(mode="json") if body.consent else None,
    )
    rows, matches = await _resolve_people(ctx, referral, subjects)
    await _link_and_add(ctx, referral, rows, matches, reserved)
    await households.record_from_referral(ctx, referral, rows)
    await jsna.record(ctx, referral)
    return referral


CONSENT_DETAILS = ("given_by", "obtained_at", "method")


def _check_consent(ctx: Context, body: ReferralCreate) -> None:
    """Consent obtained names who gave it, when and how (each missing one is a 422 naming
    it); consent not obtained (`obtained: false`) needs none of them."""
    consent = body.consent
    if consent is None:
        return
    if consent.obtained:
        missing = [name for name in CONSENT_DETAILS if getattr(consent, name) is None]
        if missing:
            problem = ValidationProblem(f"consent.{missing[0]}", "required when consent was obtained")
            problem.errors = [
                {
                    "field": f"consent.{name}",
                    "loc": ["body", "consent", name],
                    "message": "required when consent was obtained",
                    "code": "missing",
                }
                for name in missing
            ]
            raise problem
    if consent.obtained_at is not None and consent.obtained_at > ctx.now + CLOCK_SKEW:
        raise ValidationProblem("consent.obtained_at", "must not be in the future")


async def _new_referral(ctx: Context, **fields: Any) -> Referral:
    """The referral, without its reference yet (`_link_and_add` numbers it last)."""
    return Referral(
        id=str(uuid.uuid4()),
        status="received",
        significant_harm_suspected=fields["urgent"],
        source_client_id=ctx.identity.client_id,
        received_at=ctx.now,
        decision_due_at=ctx.runtime.calendar.add_working_days(ctx.now, ctx.settings.decision_working_days),
        version=1,
        priority=policy.queue_priority(fields["urgent"], fields["needs"]),
        **fields,
    )


def _series(ctx: Context) -> str:
    return f"{REFERENCE_PREFIX}-{ctx.now.astimezone(LONDON).year}"


async def _next_on_postgres(ctx: Context) -> int:
    async with ctx.runtime.db.autocommit() as conn:
        return await repo.next_in_series(conn, _series(ctx), postgres=True)


def _reserve_reference(ctx: Context) -> asyncio.Task[int] | None:
    """On PostgreSQL, start taking the intake's number at once: the counter is advanced on a
    connection of its own (`repo.next_in_series`), so it runs while the intake's first
    queries run on the request's, instead of adding a round trip after them. If the intake
    then fails, the task still finishes on its own and its number is a gap in the series
    (as a failure after numbering always was). None on SQLite, where the number is taken
    inside the transaction (`_number`)."""
    if not is_postgres_session(ctx.session):
        return None
    task = asyncio.create_task(_next_on_postgres(ctx))
    task.add_done_callback(_retrieved)
    return task


def _retrieved(task: asyncio.Task[int]) -> None:
    # An intake that failed first never awaits its reservation; a failure of the counter
    # itself is then not news worth a "never retrieved" warning.
    if not task.cancelled():
        task.exception()


async def _number(ctx: Context, referral: Referral, reserved: asyncio.Task[int] | None = None) -> None:
    """The referral's reference: the next number of the year's series. On PostgreSQL in a
    statement of its own, committed at once (so concurrent intakes never queue behind this
    transaction), started early by `_reserve_reference` where the caller did; on SQLite
    inside the transaction, as late as possible."""
    if reserved is not None:
        number = await reserved
    elif is_postgres_session(ctx.session):
        number = await _next_on_postgres(ctx)
    else:
        number = await repo.next_in_series(ctx.session, _series(ctx), postgres=False)
    referral.reference = f"{_series(ctx)}-{number:06d}"


async def _resolve_people(
    ctx: Context, referral: Referral, subjects: list[tuple[str, Any, Facts]]
) -> tuple[list[ReferralPerson], list[ReferralMatch]]:
    """Match each person named against the index: link, or add with possible matches.

    Everyone named is looked up in one query, before anyone new is added, and the new people
    are inserted together at the next flush: one round trip for the lookups and one for the
    inserts, where each person took two. (So a person added by this request is never a
    candidate for another it names; `exclude` keeps it that way if that ever changes.)"""
    created: set[str] = set()
    rows: list[ReferralPerson] = []
    matches: dict[str, ReferralMatch] = {}
    positions = {"child": 0, "adult": 0}
    found = await repo.find_candidates_of(ctx.session, [facts for _, _, facts in subjects])
    for (role, item, facts), candidates in zip(subjects, found, strict=True):
        with ctx.session.no_autoflush:
            resolved = await people.resolve(
                ctx,
                facts,
                given_name=item.given_name,
                family_name=item.family_name,
                gender=getattr(item, "gender", None),
                # Two children of one request are never offered as each other's duplicate.
                exclude=created,
                candidates=candidates,
            )
        if resolved.match == "new":
            created.add(resolved.person_id)
        rows.append(
            ReferralPerson(
                referral_id=referral.id,
                role=role,
                position=positions[role],
                person_id=resolved.person_id,
                original_person_id=resolved.person_id,
                match=resolved.match,
                given_name=item.given_name,
                family_name=item.family_name,
                date_of_birth=getattr(item, "date_of_birth", None),
                unborn_expected_on=getattr(item, "unborn_expected_on", None),
                gender=getattr(item, "gender", None),
                nhs_number=getattr(item, "nhs_number", None),
                upn=getattr(item, "upn", None),
                relationship=getattr(item, "relationship", None),
                phone=getattr(item, "phone", None),
                email=getattr(item, "email", None),
                received_at=referral.received_at,
            )
        )
        positions[role] += 1
        for s in resolved.possible:
            if s.person_id in created or s.person_id == resolved.person_id:
                continue
            current = matches.get(s.person_id)
            if current is None or s.score > current.score:
                matches[s.person_id] = ReferralMatch(
                    referral_id=referral.id,
                    candidate_person_id=s.person_id,
                    subject_person_id=resolved.person_id,
                    score=s.score,
                    reasons=s.reasons,
                    status="possible",
                )
    return rows, list(matches.values())


async def _link_and_add(
    ctx: Context,
    referral: Referral,
    rows: list[ReferralPerson],
    matches: list[ReferralMatch],
    reserved: asyncio.Task[int] | None = None,
) -> None:
    """One front door: a child already known to an undecided referral or an open episode.

    A request for support joins what exists (`status: linked`) instead of starting a
    parallel case. A safeguarding concern is never held back that way: it stays with the
    MASH (urgent), carrying the ids of what it relates to.
    """
    known = [r.person_id for r in rows if r.role == "child" and r.match == "certain"]
    if known:
        # A step-up arrives knowing its episode; the projection may not have it yet.
        referral.open_episode_id = referral.open_episode_id or await repo.open_episode_for(ctx.session, known)
        referral.linked_referral_id = await repo.undecided_referral_for(
            ctx.session, known, before=referral.received_at
        )
    if (referral.open_episode_id or referral.linked_referral_id) and not referral.urgent:
        referral.status = "linked"
    for row in rows:
        row.source_code = referral.source_code
        row.from_step_up = referral.step_up_id is not None
    await _number(ctx, referral, reserved)
    await repo.add_referral(ctx.session, referral, rows)
    await repo.add_matches(ctx.session, matches)
    await ctx.session.flush()
    ctx.people_of[referral.id] = sorted(rows, key=repo.people_order)
    ctx.matches_of[referral.id] = sorted(matches, key=repo.match_order)
    children = [r.person_id for r in rows if r.role == "child"]
    adults = [r.person_id for r in rows if r.role == "adult"]
    if referral.status == "linked":
        await _publish_linked(ctx, referral, children)
        if referral.urgent:
            await ctx.publish(*_safeguarding_concern_event(referral, children))
    else:
        await ctx.publish_all(received_events(referral, children, adults))


def received_events(
    referral: Referral, children: list[str], adults: list[str]
) -> list[tuple[str, dict[str, Any]]]:
    """What a referral in the MASH queue announces: `referral.received` (the notifications
    service opens its front-door decision deadline from `received_at` and alerts the MASH and
    the referrer) and, when urgent, `referral.safeguarding_concern` (the MASH, at once). An
    intake publishes them; so does the bulk import for a referral still awaiting its decision."""
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "referral.received",
            {
                **_base_event(referral),
                "referral_type": referral.referral_type,
                "source_code": referral.source_code,
                "person_ids": children,
                "adult_person_ids": adults,
                "urgent": referral.urgent,
                "received_at": _iso(referral.received_at),
                "decision_due_at": _iso(referral.decision_due_at),
                "open_episode_id": referral.open_episode_id,
                "linked_referral_id": referral.linked_referral_id,
            },
        )
    ]
    if referral.urgent:
        events.append(_safeguarding_concern_event(referral, children))
    return events


def _safeguarding_concern_event(referral: Referral, children: list[str]) -> tuple[str, dict[str, Any]]:
    return (
        "referral.safeguarding_concern",
        {
            **_base_event(referral),
            "person_ids": children,
            "received_at": _iso(referral.received_at),
            "open_episode_id": referral.open_episode_id,
        },
    )


def _base_event(referral: Referral) -> dict[str, Any]:
    return {
        "referral_id": referral.id,
        "reference": referral.reference,
        "source_agency_id": referral.source_agency_id,
    }


async def _publish_linked(ctx: Context, referral: Referral, children: list[str]) -> None:
    await ctx.publish(
        "referral.linked",
        {
            **_base_event(referral),
            "person_ids": children,
            "linked_referral_id": referral.linked_referral_id,
            "linked_episode_id": referral.open_episode_id,
            "received_at": _iso(referral.received_at),
        },
    )


async def create_step_up(ctx: Context, body: StepUpCreate) -> tuple[Referral, bool]:
    """A safeguarding referral from an early help episode; (referral, created)."""
    await repo.lock_keys(ctx.session, [f"stepup:{body.step_up_id}"])
    existing = await repo.referral_by_step_up(ctx.session, body.step_up_id)
    if existing is not None:
        return existing, False
    known = await repo.people_by_id(ctx.session, body.person_ids)
    missing = [pid for pid in body.person_ids if pid not in known]
    if missing:
        raise ValidationProblem("person_ids", f"not in the person index: {', '.join(missing)}")
    canonical = [await repo.canonical_id(ctx.session, pid) for pid in dict.fromkeys(body.person_ids)]
    persons = await repo.people_by_id(ctx.session, canonical)
    referral = await _new_referral(
        ctx,
        referral_type="safeguarding_concern",
        urgent=True,
        source_agency_id=body.agency_id,
        source_agency_type=body.agency_type,
        source_code=STEP_UP_SOURCE_CODE,
        referrer={"name": "Early help lead professional (step-up)", "role": body.agency_type},
        address=None,
        postcode=next((p.postcode for p in persons.values() if p.postcode), None),
        needs=[],
        summary=body.reason,
        consent=None,
        step_up_id=body.step_up_id,
        step_up_episode_id=body.episode_id,
    )
    positions = {"child": 0, "adult": 0}
    rows = []
    for pid in dict.fromkeys(canonical):
        p = persons[pid]
        role = "adult" if p.kind == "adult" else "child"
        rows.append(
            ReferralPerson(
                referral_id=referral.id,
                role=role,
                position=positions[role],
                person_id=p.id,
                original_person_id=p.id,
                match="certain",
                given_name=p.given_name,
                family_name=p.family_name,
                date_of_birth=p.date_of_birth,
                unborn_expected_on=p.unborn_expected_on,
                gender=p.gender,
                nhs_number=p.nhs_number,
                received_at=referral.received_at,
            )
        )
        positions[role] += 1
    referral.open_episode_id = body.episode_id
    await _link_and_add(ctx, referral, rows, [])
    return referral, True


async def list_referrals(
    ctx: Context,
    view: policy.View,
    page: PageParams,
    *,
    status: str | None,
    source_agency_id: str | None,
    person_id: str | None,
    received_from: datetime | None,
    received_to: datetime | None,
    updated_since: datetime | None = None,
) -> list[Referral]:
    """One page of the referrals the caller may list, newest first: partner agencies only
    their own (`policy.reads_all`), in the statuses their view shows."""
    filters = repo.ReferralFilters(
        statuses=policy.statuses_for_filter(view, status),
        source_agency_id=source_agency_id,
        person_id=person_id,
        received_from=received_from,
        received_to=received_to,
        only_agency_id=None if policy.reads_all(ctx.identity) else ctx.identity.agency_id,
        updated_since=updated_since,
    )
    return await repo.list_referrals(ctx.session, filters, page)


# ---- triage ----


async def decide(
    ctx: Context, referral_id: str, body: DecisionCreate, precondition: Callable[[Referral], None]
) -> Referral:
    policy.require_mash(ctx.identity, "decide a referral")
    referral = await visible(ctx, referral_id, for_update=True)
    precondition(referral)
    if referral.status == "decided":
        raise DecisionAlreadyMade(f"{referral.reference} was decided at {_iso(referral.decided_at)}")
    if referral.status != "received":
        raise ReferralNotAwaitingDecision(
            f"{referral.reference} is {referral.status}: there is nothing to decide"
        )
    allowed = OUTCOME_LEVELS[body.outcome]
    if body.level_of_need not in allowed:
        raise DecisionLevelMismatch(body.outcome, body.level_of_need, sorted(allowed))
    referral.status = "decided"
    referral.level_of_need = body.level_of_need
    referral.outcome = body.outcome
    referral.rag = body.rag
    referral.rationale = body.rationale
    referral.decided_by = body.decided_by.model_dump()
    referral.agency_checks = [c.model_dump() for c in body.agency_checks]
    referral.decided_at = ctx.now
    referral.decided_by_client_id = ctx.identity.client_id
    referral.decided_by_practitioner_id = ctx.identity.practitioner_id  # the audit (issue 21)
    referral.decided_within_timescale = ctx.now <= referral.decision_due_at
    referral.version += 1
    await ctx.session.flush()
    rows = ctx.people_of[referral.id] = await repo.copy_decision_to_people(ctx.session, referral)
    children = [r.person_id for r in rows if r.role == "child"]
    await ctx.publish(
        "referral.decided",
        {
            **_base_event(referral),
            "referral_type": referral.referral_type,
            "person_ids": children,
            "adult_person_ids": [r.person_id for r in rows if r.role == "adult"],
            # Issue 20: each adult's relationship to the children, as a code (never the text).
            "adult_relationships": households.family_relationships(rows),
            # Issue 21: the needs named (codes), for the Supporting Families headlines at the start.
            "needs": list(referral.needs or []),
            "level_of_need": referral.level_of_need,
            "outcome": referral.outcome,
            "rag": referral.rag,
            "decided_at": _iso(referral.decided_at),
            "received_at": _iso(referral.received_at),
            "decision_due_at": _iso(referral.decision_due_at),
            "decided_within_timescale": referral.decided_within_timescale,
        },
    )
    await requeue.after_decision(ctx, referral)
    return referral


async def withdraw(
    ctx: Context, referral_id: str, body: WithdrawRequest, precondition: Callable[[Referral], None]
) -> Referral:
    referral = await visible(ctx, referral_id, for_update=True)
    policy.require_withdraw(ctx.identity, referral)
    precondition(referral)
    if referral.status == "decided":
        raise DecisionAlreadyMade(f"{referral.reference} was already decided")
    if referral.status != "received":
        raise ReferralNotAwaitingDecision(f"{referral.reference} is {referral.status}")
    referral.status = "withdrawn"
    referral.withdrawn_at = ctx.now
    referral.withdrawal_reason = body.reason
    referral.version += 1
    await ctx.session.flush()
    await ctx.publish("referral.withdrawn", {**_base_event(referral), "withdrawn_at": _iso(ctx.now)})
    await requeue.after_withdrawal(ctx, referral)
    return referral


async def resolve_match(ctx: Context, referral_id: str, person_id: str, *, confirm: bool) -> Referral:
    """A MASH user says whether a possible match is the same person (confirm merges them)."""
    policy.require_mash(ctx.identity, "confirm or reject a possible match")
    referral = await visible(ctx, referral_id, for_update=True)
    match = await repo.get_match(ctx.session, referral.id, person_id)
    if match is None:
        raise NotFound("This person is not a possible match on this referral")
    if match.status != "possible":
        raise MatchAlreadyResolved(f"This match was already {match.status}")
    match.status = "confirmed" if confirm else "rejected"
    match.resolved_at = ctx.now
    match.resolved_by_client_id = ctx.identity.client_id
    referral.version += 1
    if confirm:
        subject = await repo.canonical_id(ctx.session, match.subject_person_id)
        existing = await repo.canonical_id(ctx.session, match.candidate_person_id)
        if subject != existing:
            record = await people.merge(
                ctx,
                subject,
                existing,
                reason=f"Confirmed as the same person on referral {referral.reference}",
                referral_id=referral.id,
            )
            match.merge_id = record.id
        await ctx.session.flush()
        if referral.status == "received" and not referral.urgent:
            await _link_later(ctx, referral)
    await ctx.session.flush()
    return referral


async def _link_later(ctx: Context, referral: Referral) -> None:
    """After a confirmed match: the child may turn out to be known already."""
    children = await repo.referral_person_ids(ctx.session, referral.id, "child")
    referral.open_episode_id = await repo.open_episode_for(ctx.session, children)
    referral.linked_referral_id = await repo.undecided_referral_for(
        ctx.session, children, before=referral.received_at, exclude_id=referral.id
    )
    if referral.open_episode_id or referral.linked_referral_id:
        referral.status = "linked"
        await _publish_linked(ctx, referral, children)


# ---- representations (what each caller sees: policy.view_of) ----


async def represent(ctx: Context, referral: Referral) -> ReferralRead:
    view = policy.view_of(ctx.identity)
    rows = ctx.people_of.get(referral.id)
    if rows is None:
        rows = await repo.referral_people(ctx.session, referral.id)
    matches: list[ReferralMatch] = []
    if view.links:
        found = ctx.matches_of.get(referral.id)
        matches = found if found is not None else await repo.referral_matches(ctx.session, referral.id)
    # Candidates' details are other people's records: only for callers of the person index.
    details = ctx.identity.has("people:read")
    candidates = (
        await repo.people_by_id(ctx.session, (m.candidate_person_id for m in matches)) if details else {}
    )
    decision = None
    if referral.decided_at is not None:
        full = not view.own_only
        # By hand: it withholds by view and gives the nullable decision columns their defaults.
        decision = DecisionRead(
            level_of_need=referral.level_of_need,  # type: ignore[arg-type]
            outcome=referral.outcome,  # type: ignore[arg-type]
            # The reasons and the checks carry other agencies' information: not for partners.
            rag=referral.rag if full else None,  # type: ignore[arg-type]
            rationale=(referral.rationale or "") if full else None,
            # Stored as the MASH sent them (DecidedBy, AgencyCheck), read back key for key.
            decided_by=cast(DecidedByRead | None, referral.decided_by) if full else None,
            agency_checks=cast(list[AgencyCheckRead], referral.agency_checks or []) if full else None,
            decided_at=referral.decided_at,
            decided_within_timescale=bool(referral.decided_within_timescale),
        )
    # A partner is not told which person in the index its people turned out to be.
    withheld = {} if not view.own_only else {"person_id": None, "match": None}
    # By hand: its people, matches and need headlines come from other rows, and the view withholds.
    return ReferralRead(
        id=referral.id,
        reference=referral.reference,
        referral_type=referral.referral_type,  # type: ignore[arg-type]
        status=policy.shown_status(view, referral.status),  # type: ignore[arg-type]
        urgent=referral.urgent,
        significant_harm_suspected=referral.significant_harm_suspected,
        received_at=referral.received_at,
        decision_due_at=referral.decision_due_at,
        source_agency_id=referral.source_agency_id,
        source_code=referral.source_code,
        # The JSON columns hold what the caller sent, key for key (schemas.py, TypedDicts).
        referrer=cast(ReferrerRead, referral.referrer),
        children=[_person_read(ChildRead, r, withheld) for r in rows if r.role == "child"],
        adults=[_person_read(AdultRead, r, withheld) for r in rows if r.role == "adult"],
        address=cast(ReferralAddressRead | None, referral.address),
        needs=referral.needs,
        need_headlines=[NeedRead(code=n, headline=NEED_CODES[n]) for n in referral.needs if n in NEED_CODES],
        summary=referral.summary,
        consent=cast(ReferralConsentRead | None, referral.consent),
        matches=[_match_read(m, candidates.get(m.candidate_person_id)) for m in matches],
        linked_referral_id=referral.linked_referral_id if view.links else None,
        open_episode_id=referral.open_episode_id if view.open_episode else None,
        episode_id=referral.episode_id,
        decision=decision,
        decided_within_timescale=referral.decided_within_timescale,
        withdrawn_at=referral.withdrawn_at,
        withdrawal_reason=referral.withdrawal_reason,
        step_up_id=referral.step_up_id,
        step_up_episode_id=referral.step_up_episode_id,
        assigned_to=referral.assigned_to if view.assignment else None,
        assigned_at=referral.assigned_at if view.assignment else None,
        # Why it came back says it had been linked: not a partner's business (policy.py).
        requeued_at=None if view.own_only else referral.requeued_at,
        requeue_reason=None if view.own_only else referral.requeue_reason,  # type: ignore[arg-type]
    )


def _person_read(schema: type[PersonRowRead], row: ReferralPerson, withheld: dict[str, Any]) -> PersonRowRead:
    out = schema.model_validate(row, from_attributes=True)
    return out.model_copy(update=withheld) if withheld else out


def _match_read(m: ReferralMatch, person: Person | None) -> MatchRead:
    # By hand: one item from two rows (the match, and the candidate for people:read callers).
    details: dict[str, Any] = {}
    if person is not None:
        details = {
            "given_name": person.given_name,
            "family_name": person.family_name,
            "date_of_birth": person.date_of_birth,
            "unborn_expected_on": person.unborn_expected_on,
            "postcode": person.postcode,
        }
    return MatchRead.model_validate(
        {
            "person_id": m.candidate_person_id,
            "for_person_id": m.subject_person_id,
            "score": m.score,
            "status": m.status,
            "reasons": m.reasons,
            **details,
        }
    )


def summary(referral: Referral, view: policy.View) -> ReferralSummary:
    out = ReferralSummary.model_validate(referral, from_attributes=True)
    if view.withholds_nothing:
        # Nothing to change: a copy per row would cost a list of 20 about a tenth of a millisecond.
        return out
    return out.model_copy(
        update={
            "status": policy.shown_status(view, referral.status),
            "linked_referral_id": referral.linked_referral_id if view.links else None,
            "open_episode_id": referral.open_episode_id if view.open_episode else None,
            "assigned_to": referral.assigned_to if view.assignment else None,
        }
    )


# ---- the MASH queue ----


async def assign(ctx: Context, referral_id: str, practitioner_id: str | None) -> ReferralAssignment:
    policy.require_mash(ctx.identity, "assign referrals")
    policy.require_assign(ctx.identity, practitioner_id)
    referral = await visible(ctx, referral_id, for_update=True)
    if referral.status != "received":
        raise ReferralNotAwaitingDecision(
            f"{referral.reference} is {referral.status}: it is not in the queue"
        )
    record = ReferralAssignment(
        id=str(uuid.uuid4()),
        referral_id=referral.id,
        practitioner_id=practitioner_id,
        assigned_by=ctx.identity.actor,
        assigned_by_client_id=ctx.identity.client_id,
        assigned_at=ctx.now,
    )
    referral.assigned_to = practitioner_id
    referral.assigned_at = ctx.now
    referral.assigned_by = ctx.identity.actor
    referral.version += 1
    await repo.add_assignment(ctx.session, record)
    await ctx.session.flush()
    return record


def queue_assignee(identity: Identity, assigned_to: str | None) -> str | None:
    """`?assigned_to=me` is the caller; a system call names no practitioner to be."""
    if assigned_to != "me":
        return assigned_to
    if identity.practitioner_id is None:
        raise ValidationProblem("assigned_to", "'me' needs a call made for a named practitioner")
    return identity.practitioner_id


async def mash_queue(
    ctx: Context,
    *,
    sort: str,
    assigned_to: str | None,
    page: PageParams,
    updated_since: datetime | None = None,
) -> tuple[list[Referral], str | None]:
    """One page of the referrals awaiting a decision (`repository.mash_queue`); `assigned_to`
    as asked (`me` is the caller: `queue_assignee`)."""
    policy.require_mash(ctx.identity, "read the MASH queue")
    who = queue_assignee(ctx.identity, assigned_to)
    return await repo.mash_queue(
        ctx.session, sort=sort, assigned_to=who, page=page, updated_since=updated_since
    )


# ---- the person index, for other services ----


async def known_people(ctx: Context, person_ids: list[str]) -> tuple[list[str], list[str], dict[str, str]]:
    """(known, unknown, survivors): which ids the index holds, in the order asked. A person
    merged into another is known (the index holds the record, and the child is the same);
    `survivors` maps each such id to the record that survives it."""
    ids = list(dict.fromkeys(person_ids))
    found = await repo.people_by_id(ctx.session, ids)
    known = [pid for pid in ids if pid in found]
    survivors = {pid: await repo.canonical_id(ctx.session, pid) for pid in known if found[pid].merged_into_id}
    return known, [pid for pid in ids if pid not in found], survivors
