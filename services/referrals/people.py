"""The person index: resolving the people a referral names, search, merges and their undo.

A merge never edits the surviving record. It marks the duplicate `merged_into_id` and moves
the duplicate's referral and episode links to the survivor; each link keeps the
`original_person_id` it was first made with, so undoing the merge moves exactly those links
back. Merges undo last-first: a survivor that has since been merged away must have that later
merge undone before an earlier one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import update

from services.referrals import repository as repo
from services.referrals.errors import MergeRefused, PersonNotFound
from services.referrals.identifiers import normalise_nhs_number, normalise_postcode
from services.referrals.matching import ANY_KIND, Facts, Scored, rank
from services.referrals.models import Person, PersonMerge, ReferralMatch
from shared.problems import NotFound, ValidationProblem

if TYPE_CHECKING:
    # `service` calls into this module: its Context is only a type here.
    from services.referrals.service import Context

SEARCH_FLOOR = 0.5
SEARCH_LIMIT = 50
MERGEABLE_KINDS = ({"child", "unborn"}, {"adult"})


@dataclass
class Resolved:
    person_id: str
    match: str  # certain | new
    possible: list[Scored] = field(default_factory=list)


def match_lock_keys(facts: Facts) -> list[str]:
    """The advisory-lock keys of a person's intake: one per index lookup it makes."""
    keys = [f"pf:{facts.postcode}:{facts.family_key}"]
    if facts.nhs_number:
        keys.append(f"nhs:{facts.nhs_number}")
    if facts.date_of_birth:
        keys.append(f"fd:{facts.family_key}:{facts.date_of_birth}")
        keys.append(f"dp:{facts.date_of_birth}:{facts.postcode}")
    return keys


async def resolve(
    ctx: Context,
    facts: Facts,
    *,
    given_name: str | None,
    family_name: str,
    gender: str | None = None,
    exclude: set[str] | frozenset[str] = frozenset(),
    candidates: list[Facts] | None = None,
) -> Resolved:
    """Link to the person this certainly is, or add a new one with its possible matches.
    `candidates`: the index's candidates for `facts`, when the caller looked them up already
    (an intake looks up everyone it names in one query)."""
    if candidates is None:
        candidates = await repo.find_candidates(ctx.session, facts)
    candidates = [c for c in candidates if c.person_id not in exclude]
    settings = ctx.settings
    ranked = rank(
        facts,
        candidates,
        certain_threshold=settings.match_certain_threshold,
        floor=settings.match_possible_threshold,
    )
    if ranked and ranked[0].certain:
        best = ranked[0]
        await repo.fill_missing(
            ctx.session, best.person_id, {"nhs_number": facts.nhs_number, "gender": _known(gender)}
        )
        return Resolved(best.person_id, "certain", ranked[1:])
    person = Person(
        id=str(uuid.uuid4()),
        kind=facts.kind,
        given_name=given_name,
        family_name=family_name,
        given_name_norm=facts.given_norm,
        family_name_norm=facts.family_norm,
        given_key=facts.given_key,
        family_key=facts.family_key,
        date_of_birth=facts.date_of_birth,
        unborn_expected_on=facts.unborn_expected_on,
        nhs_number=facts.nhs_number,
        postcode=facts.postcode,
        gender=_known(gender),
        created_at=ctx.now,
    )
    await repo.add_person(ctx.session, person)
    return Resolved(person.id, "new", ranked)


def _known(gender: str | None) -> str | None:
    return None if gender in (None, "not_known") else gender


@dataclass(frozen=True)
class SearchQuery:
    nhs_number: str | None = None
    family_name: str | None = None
    given_name: str | None = None
    date_of_birth: date | None = None
    postcode: str | None = None


async def search(ctx: Context, q: SearchQuery) -> list[tuple[Person, Scored]]:
    nhs = _checked(q.nhs_number, "nhs_number", normalise_nhs_number)
    postcode = _checked(q.postcode, "postcode", normalise_postcode)
    given = sum(x is not None for x in (q.family_name, q.date_of_birth, postcode))
    if nhs is None and given < 2:
        raise ValidationProblem(
            "family_name",
            "search by nhs_number, or by at least two of family_name, date_of_birth and postcode",
        )
    probe = Facts.of(
        ANY_KIND,
        q.given_name,
        q.family_name,
        date_of_birth=q.date_of_birth,
        nhs_number=nhs,
        postcode=postcode,
    )
    ranked = rank(
        probe,
        await repo.find_candidates(ctx.session, probe),
        certain_threshold=ctx.settings.match_certain_threshold,
        floor=SEARCH_FLOOR,
    )[:SEARCH_LIMIT]
    people = await repo.people_by_id(ctx.session, (s.person_id for s in ranked))
    return [(people[s.person_id], s) for s in ranked]


def _checked(value: str | None, name: str, normalise: object) -> str | None:
    if value is None:
        return None
    try:
        return normalise(value)  # type: ignore[operator,no-any-return]
    except ValueError as exc:
        raise ValidationProblem(name, str(exc)) from exc


async def get(ctx: Context, person_id: str) -> Person:
    person = await repo.get_person(ctx.session, person_id)
    if person is None:
        raise PersonNotFound()
    return person


async def merge(
    ctx: Context,
    person_id: str,
    into_person_id: str,
    *,
    reason: str | None = None,
    referral_id: str | None = None,
) -> PersonMerge:
    """Merge `person_id` (the duplicate) into `into_person_id` (the record that survives)."""
    session = ctx.session
    dup = await get(ctx, person_id)
    if into_person_id == person_id:
        raise ValidationProblem("into_person_id", "a person cannot be merged into itself")
    survivor = await repo.get_person(session, into_person_id)
    if survivor is None:
        raise ValidationProblem("into_person_id", "no person with this id")
    if dup.merged_into_id:
        raise MergeRefused(f"This person was already merged into {dup.merged_into_id}")
    if survivor.merged_into_id:
        raise MergeRefused(
            f"{survivor.id} was itself merged away: merge into the surviving record {survivor.merged_into_id}"
        )
    if not any({dup.kind, survivor.kind} <= kinds for kinds in MERGEABLE_KINDS):
        raise ValidationProblem("into_person_id", f"a {dup.kind} and a {survivor.kind} cannot be one person")
    await repo.set_merged_into(session, dup.id, survivor.id)
    await repo.repoint(session, from_id=dup.id, to_id=survivor.id)
    record = PersonMerge(
        id=str(uuid.uuid4()),
        merged_person_id=dup.id,
        into_person_id=survivor.id,
        reason=reason,
        referral_id=referral_id,
        merged_at=ctx.now,
        merged_by_client_id=ctx.identity.client_id,
        merged_by_agency_id=ctx.identity.agency_id,
    )
    await repo.add_merge(session, record)
    await session.flush()
    return record


async def undo_merge(ctx: Context, merge_id: str) -> PersonMerge:
    session = ctx.session
    record = await repo.get_merge(session, merge_id)
    if record is None:
        raise NotFound("No merge with this id")
    if record.undone_at is not None:
        raise MergeRefused("This merge was already undone")
    survivor = await get(ctx, record.into_person_id)
    if survivor.merged_into_id:
        raise MergeRefused(
            f"{survivor.id} has since been merged into {survivor.merged_into_id}: undo that merge first"
        )
    # The duplicate and whatever had been merged into it before: their links go back.
    originals = await repo.merged_into(session, record.merged_person_id)
    await repo.set_merged_into(session, record.merged_person_id, None)
    await repo.repoint(session, from_id=survivor.id, to_id=record.merged_person_id, originals=originals)
    record.undone_at = ctx.now
    record.undone_by_client_id = ctx.identity.client_id
    # A match confirmed by this merge is open again.
    await session.execute(
        update(ReferralMatch)
        .where(ReferralMatch.merge_id == record.id)
        .values(status="possible", resolved_at=None, resolved_by_client_id=None, merge_id=None)
    )
    await session.flush()
    return record
