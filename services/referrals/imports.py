"""Bulk import from the council's incumbent case system (issue 22 item 2, docs/import.md).

`POST /v1/imports/referrals` takes one batch of children, adults, relationships and referrals,
each row carrying the incumbent system's id (`source_id`), and stores it in the request's
transaction: wholly, or (any row wrong: one 422 naming every row and field) not at all. With
`dry_run` every rule runs and the transaction is rolled back: nothing is stored.

- People run through the person index's matching (`people.resolve`): a child the index
  already certainly holds is linked (`match: certain`), not doubled; a person added earlier in
  the same batch is a candidate too.
- Every row's source id is recorded with what it created (`shared/imports.py`); a row already
  imported is skipped and answered with what it created before, so the same file imported
  twice creates nothing twice, and a run killed mid-way is resumed by running it again.
- Imported referrals keep their received and decision times. A decided one publishes no
  event: it is history; the open work it led to is imported into the assessments service as
  episodes, whose events (`episode.opened`...) give the notifications service its deadlines as
  usual. One still awaiting its decision (`received`) is open work in the MASH queue and
  announces itself as an intake does (`referral.received`, and `referral.safeguarding_concern`
  when urgent), written to the outbox in the batch's transaction with one statement: its
  decision deadline runs from its own `received_at`. A dry run publishes nothing; a re-run
  skips the referral, so it is announced once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from services.referrals import households, jsna, people, service
from services.referrals import repository as repo
from services.referrals.codes import OUTCOME_LEVELS, source_code_for
from services.referrals.identifiers import normalise_postcode
from services.referrals.matching import Facts
from services.referrals.models import IMPORT_RECORD, Person, Referral, ReferralPerson
from services.referrals.reports import refresh_follow_ups
from services.referrals.schemas import (
    ImportAdultIn,
    ImportChildIn,
    ImportReferralIn,
    ReferralImportBatch,
    ReferralImportResult,
)
from shared.db import is_postgres_session
from shared.imports import ImportedItem, imported, one_batch_at_a_time, record, require_importer, row_errors

PERSON, RELATIONSHIP, REFERRAL = "person", "relationship", "referral"
# Probes per candidate lookup: one round trip each.
LOOKUP_CHUNK = 100


@dataclass
class _Batch:
    ctx: service.Context
    people: dict[str, tuple[str, str | None]]  # person source id -> (person id, match)
    errors: list[tuple[str, str]]

    async def note(self, kind: str, created: list[tuple[str, str, str | None]]) -> None:
        ctx = self.ctx
        await record(ctx.session, IMPORT_RECORD, kind, created, at=ctx.now, client_id=ctx.identity.client_id)


async def import_batch(ctx: service.Context, body: ReferralImportBatch) -> ReferralImportResult:
    require_importer(ctx.identity)
    _no_repeats(body)
    await one_batch_at_a_time(ctx.session, "referrals")
    sent = [c.source_id for c in body.children] + [a.source_id for a in body.adults]
    referenced = [r.person for r in body.relationships] + [r.related_person for r in body.relationships]
    referenced += [c for r in body.referrals for c in r.children] + [
        a.person for r in body.referrals for a in r.adults
    ]
    batch = _Batch(ctx, await imported(ctx.session, IMPORT_RECORD, PERSON, sent + referenced), [])
    children = await _people(batch, "children", body.children)
    adults = await _people(batch, "adults", body.adults)
    relationships = await _relationships(batch, body)
    referrals = await _referrals(batch, body.referrals, body.dry_run)
    if batch.errors:
        raise row_errors(batch.errors)
    if body.dry_run:
        await ctx.session.rollback()
    return ReferralImportResult(
        children=children, adults=adults, relationships=relationships, referrals=referrals
    )


def _no_repeats(body: ReferralImportBatch) -> None:
    """A source id twice in one batch (children and adults are one kind: people) is a 422."""
    errors: list[tuple[str, str]] = []
    groups: list[list[tuple[str, list[Any]]]] = [
        [("children", body.children), ("adults", body.adults)],
        [("relationships", body.relationships)],
        [("referrals", body.referrals)],
    ]
    for group in groups:
        seen: set[str] = set()
        for field, rows in group:
            for i, row in enumerate(rows):
                if row.source_id in seen:
                    errors.append((f"{field}.{i}.source_id", "appears twice in this batch"))
                seen.add(row.source_id)
    if errors:
        raise row_errors(errors)


def _facts(row: ImportChildIn | ImportAdultIn) -> Facts:
    postcode = normalise_postcode(row.postcode) if row.postcode else None
    if isinstance(row, ImportChildIn):
        return Facts.of_child(row, postcode)
    return Facts.of("adult", row.given_name, row.family_name, postcode=postcode)


async def _people(
    batch: _Batch, field: str, rows: list[ImportChildIn] | list[ImportAdultIn]
) -> list[ImportedItem]:
    """Each person linked to the one the index certainly holds, or added (and then a candidate
    for the rest of the batch, so a duplicate within the file is linked as well)."""
    ctx = batch.ctx
    todo = [(row, _facts(row)) for row in rows if row.source_id not in batch.people]
    await repo.lock_keys(ctx.session, (k for _, f in todo for k in people.match_lock_keys(f)))
    found: list[list[Facts]] = []
    for start in range(0, len(todo), LOOKUP_CHUNK):
        found += await repo.find_candidates_of(
            ctx.session, [f for _, f in todo[start : start + LOOKUP_CHUNK]]
        )
    # People added by this batch, by the index lookups that would find them (their lock keys).
    added: dict[str, list[Facts]] = {}
    created: list[tuple[str, str, str | None]] = []
    for (row, facts), candidates in zip(todo, found, strict=True):
        with ctx.session.no_autoflush:
            resolved = await people.resolve(
                ctx,
                facts,
                given_name=row.given_name,
                family_name=row.family_name,
                gender=getattr(row, "gender", None),
                candidates=candidates + _found_in(added, facts),
            )
        if resolved.match == "new":
            new = Facts(**{**facts.__dict__, "person_id": resolved.person_id})
            for key in people.match_lock_keys(facts):
                added.setdefault(key, []).append(new)
        batch.people[row.source_id] = (resolved.person_id, resolved.match)
        created.append((row.source_id, resolved.person_id, resolved.match))
    await ctx.session.flush()
    await batch.note(PERSON, created)
    fresh = {s for s, _, _ in created}
    return [
        ImportedItem(
            source_id=row.source_id,
            id=batch.people[row.source_id][0],
            created=row.source_id in fresh,
            match=batch.people[row.source_id][1],  # type: ignore[arg-type]
        )
        for row in rows
    ]


def _found_in(added: dict[str, list[Facts]], facts: Facts) -> list[Facts]:
    """The batch's own new people an index lookup for `facts` would find, each once."""
    found = {f.person_id: f for key in people.match_lock_keys(facts) for f in added.get(key, [])}
    return list(found.values())


def _person(batch: _Batch, source_id: str, field: str) -> str | None:
    known = batch.people.get(source_id)
    if known is None:
        batch.errors.append((field, f"no person with source id {source_id!r} was imported"))
        return None
    return known[0]


async def _relationships(batch: _Batch, body: ReferralImportBatch) -> list[ImportedItem]:
    ctx = batch.ctx
    rows = body.relationships
    done = await imported(ctx.session, IMPORT_RECORD, RELATIONSHIP, (r.source_id for r in rows))
    created: list[tuple[str, str, str | None]] = []
    for i, row in enumerate(rows):
        if row.source_id in done:
            continue
        a = _person(batch, row.person, f"relationships.{i}.person")
        b = _person(batch, row.related_person, f"relationships.{i}.related_person")
        if a is None or b is None:
            continue
        if a == b:
            batch.errors.append(
                (f"relationships.{i}.related_person", "a person cannot be related to themself")
            )
            continue
        rel = households.new_relationship(ctx, a, b, row.type, from_on=row.from_on)
        ctx.session.add(rel)
        created.append((row.source_id, rel.id, None))
    await ctx.session.flush()
    await batch.note(RELATIONSHIP, created)
    return _answer(rows, done, created)


def _answer(
    rows: list[Any], done: dict[str, tuple[str, str | None]], created: list[tuple[str, str, str | None]]
) -> list[ImportedItem]:
    made = {s: t for s, t, _ in created}
    return [
        ImportedItem(
            source_id=r.source_id,
            id=made.get(r.source_id) or done[r.source_id][0],
            created=r.source_id in made,
        )
        for r in rows
        if r.source_id in made or r.source_id in done
    ]


async def _referrals(batch: _Batch, rows: list[ImportReferralIn], dry_run: bool) -> list[ImportedItem]:
    ctx = batch.ctx
    done = await imported(ctx.session, IMPORT_RECORD, REFERRAL, (r.source_id for r in rows))
    todo = [(i, r) for i, r in enumerate(rows) if r.source_id not in done]
    ids = {
        batch.people[s][0]
        for _, r in todo
        for s in [*r.children, *(a.person for a in r.adults)]
        if s in batch.people
    }
    index = await repo.people_by_id(ctx.session, ids)
    created: list[tuple[str, str, str | None]] = []
    referrals: list[Referral] = []
    person_rows: list[ReferralPerson] = []
    for i, row in todo:
        referral = _referral(batch, i, row)
        if referral is None:
            continue
        subjects = [("child", s, None) for s in row.children] + [
            ("adult", a.person, a.relationship) for a in row.adults
        ]
        field = {"child": "children", "adult": "adults"}
        rows_of: list[ReferralPerson] = []
        for position, (role, source, relationship) in enumerate(subjects):
            at = position if role == "child" else position - len(row.children)
            suffix = "" if role == "child" else ".person"
            pid = _person(batch, source, f"referrals.{i}.{field[role]}.{at}{suffix}")
            if pid is not None:
                rows_of.append(_row(referral, index[pid], role, at, batch.people[source][1], relationship))
        if len(rows_of) != len(subjects):
            continue
        referrals.append(referral)
        person_rows += rows_of
        created.append((row.source_id, referral.id, None))
    if batch.errors:
        return []
    await _number(ctx, referrals, dry_run)
    ctx.session.add_all(referrals)
    await ctx.session.flush()
    ctx.session.add_all(person_rows)
    await ctx.session.flush()
    await refresh_follow_ups(
        ctx.session, [r.person_id for r in person_rows if r.role == "child" and r.match != "new"]
    )
    rows_by_referral: dict[str, list[ReferralPerson]] = {}
    for r in person_rows:
        rows_by_referral.setdefault(r.referral_id, []).append(r)
    # As an intake records each referral's needs and household, for the whole batch at once.
    await jsna.record_all(ctx, referrals)
    await households.record_from_referrals(ctx, [(r, rows_by_referral[r.id]) for r in referrals])
    if not dry_run:
        await ctx.publish_all(_awaiting_decision_events(referrals, rows_by_referral))
    await batch.note(REFERRAL, created)
    return _answer(rows, done, created)


def _awaiting_decision_events(
    referrals: list[Referral], rows_by_referral: dict[str, list[ReferralPerson]]
) -> list[tuple[str, dict[str, Any]]]:
    """The events of the batch's referrals still awaiting a decision, in row order, as an intake
    publishes them (`service.received_events`): the notifications service opens each one's
    front-door decision deadline from its own `received_at` (an old one is overdue at once) and
    alerts the MASH. A decided referral announces nothing: it is history, and `referral.decided`
    would open a second episode in the assessments service (its episode is imported apart)."""
    events: list[tuple[str, dict[str, Any]]] = []
    for referral in referrals:
        if referral.status != "received":
            continue
        rows = rows_by_referral[referral.id]
        children = [r.person_id for r in rows if r.role == "child"]
        adults = [r.person_id for r in rows if r.role == "adult"]
        events += service.received_events(referral, children, adults)
    return events


async def _number(ctx: service.Context, referrals: list[Referral], dry_run: bool) -> None:
    """The batch's references, consecutive in the current year's series, taken at once (on
    PostgreSQL committed at once, as an intake's is: a failed batch leaves a gap)."""
    if not referrals:
        return
    series = service._series(ctx)
    if dry_run:
        first = 1  # no number is taken from the series
    elif is_postgres_session(ctx.session):
        async with ctx.runtime.db.autocommit() as conn:
            first = await repo.reserve_in_series(conn, series, len(referrals), postgres=True)
    else:
        first = await repo.reserve_in_series(ctx.session, series, len(referrals), postgres=False)
    for n, referral in enumerate(referrals, start=first):
        referral.reference = f"DRY-RUN-{n}" if dry_run else f"{series}-{n:06d}"


def _referral(batch: _Batch, i: int, row: ImportReferralIn) -> Referral | None:
    ctx = batch.ctx
    decision = row.decision
    if decision is not None:
        allowed = OUTCOME_LEVELS[decision.outcome]
        if decision.level_of_need not in allowed:
            batch.errors.append(
                (
                    f"referrals.{i}.decision.level_of_need",
                    f"{decision.outcome} needs one of {sorted(allowed)}",
                )
            )
            return None
        if decision.decided_at < row.received_at:
            batch.errors.append((f"referrals.{i}.decision.decided_at", "must not be before received_at"))
            return None
    moments = [("received_at", row.received_at)]
    if decision is not None:
        moments.append(("decision.decided_at", decision.decided_at))
    for name, moment in moments:
        if moment > ctx.now + service.CLOCK_SKEW:
            batch.errors.append((f"referrals.{i}.{name}", "must not be in the future"))
            return None
    due = ctx.runtime.calendar.add_working_days(row.received_at, ctx.settings.decision_working_days)
    urgent = row.referral_type == "safeguarding_concern"
    referral = Referral(
        id=str(uuid.uuid4()),
        status="decided" if decision else "received",
        referral_type=row.referral_type,
        urgent=urgent,
        significant_harm_suspected=urgent,
        source_agency_id=row.source_agency_id,
        source_agency_type=row.source_agency_type,
        source_client_id=ctx.identity.client_id,
        source_code=source_code_for(row.source_agency_type, row.referral_type),
        referrer=row.referrer.model_dump(mode="json"),
        address=row.address.model_dump(mode="json") if row.address else None,
        postcode=normalise_postcode(row.address.postcode) if row.address else None,
        needs=row.needs,
        summary=row.summary,
        consent=None,
        received_at=row.received_at,
        decision_due_at=due,
        version=1,
        priority=0,
    )
    if decision is not None:
        referral.level_of_need = decision.level_of_need
        referral.outcome = decision.outcome
        referral.rag = decision.rag
        referral.rationale = decision.rationale
        referral.decided_by = decision.decided_by.model_dump()
        referral.agency_checks = []
        referral.decided_at = decision.decided_at
        referral.decided_by_client_id = ctx.identity.client_id
        referral.decided_within_timescale = decision.decided_at <= due
    return referral


def _row(
    referral: Referral, person: Person, role: str, position: int, match: str | None, relationship: str | None
) -> ReferralPerson:
    return ReferralPerson(
        referral_id=referral.id,
        role=role,
        position=position,
        person_id=person.id,
        original_person_id=person.id,
        match="certain" if match == "certain" else "new",
        given_name=person.given_name,
        family_name=person.family_name,
        date_of_birth=person.date_of_birth,
        unborn_expected_on=person.unborn_expected_on,
        gender=person.gender,
        nhs_number=person.nhs_number,
        upn=person.upn,
        relationship=relationship,
        received_at=referral.received_at,
        source_code=referral.source_code,
        level_of_need=referral.level_of_need,
        outcome=referral.outcome,
        decided_at=referral.decided_at,
    )
