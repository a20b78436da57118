"""Households and relationships in the person index (issue 20).

- **Relationships** between people (`person_relationship`): `from` is `type` of `to`
  (Samira `mother_of` Amira; `sibling_of` and `partner_of` read both ways), with from/to
  dates. An intake reads each adult's free-text `relationship` (`relationship_type`) and,
  where it maps, relates the adult to every child the referral names; anyone with a MASH or
  early help role adds one (`add`) or ends one (`end`: `to_on` and `ended_at` set, never
  deleted).
- **Addresses** (`person_address`): every address a person has lived at, from/to. A
  referral's address starts one for everyone it names (unless it already is their current
  address), ending the address they had: the latest referral is the best news of where a
  family lives.
- **Household**: who lives with a person now - everyone whose current address is the same
  (postcode and first line, normalised: `address_key`).

Every read follows merges: a merged-away id reads as its surviving record, whose rows
include those of every record merged into it, each end shown as the surviving record.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING

from services.referrals import policy
from services.referrals import repository as repo
from services.referrals.errors import PersonNotFound, RelationshipAlreadyEnded, RelationshipExists
from services.referrals.identifiers import format_postcode, normalise_postcode
from services.referrals.models import Person, PersonAddress, PersonRelationship, Referral, ReferralPerson
from services.referrals.schemas import (
    AddressRead,
    HouseholdMember,
    HouseholdRead,
    RelationshipCreate,
    RelationshipEnd,
    RelationshipRead,
)
from shared.clock import LONDON
from shared.problems import NotFound, ValidationProblem

if TYPE_CHECKING:
    from services.referrals.service import Context

SYMMETRIC = frozenset({"sibling_of", "partner_of"})

# An adult's `relationship` as referrers write it -> the relationship to each child named.
# Anything else (an aunt, a neighbour, "mum's partner") relates no one: a practitioner adds it.
_TEXT_TYPES: dict[str, str] = {
    **dict.fromkeys(("mother", "mum", "mom", "birth mother", "biological mother"), "mother_of"),
    **dict.fromkeys(("father", "dad", "birth father", "biological father"), "father_of"),
    **dict.fromkeys(
        (
            "carer",
            "foster carer",
            "kinship carer",
            "foster parent",
            "step mother",
            "stepmother",
            "step father",
            "stepfather",
            "step parent",
            "stepparent",
        ),
        "carer_of",
    ),
    **dict.fromkeys(("guardian", "legal guardian", "special guardian"), "guardian_of"),
    **dict.fromkeys(
        (
            "sibling",
            "brother",
            "sister",
            "half brother",
            "half sister",
            "step brother",
            "step sister",
            "stepbrother",
            "stepsister",
        ),
        "sibling_of",
    ),
}


def relationship_type(text: str | None) -> str | None:
    """The relationship type an adult's free-text `relationship` names, if it clearly names one."""
    if not text:
        return None
    words = re.sub(r"[^a-z]+", " ", text.lower().replace("-", " ")).strip()
    return _TEXT_TYPES.get(words)


def family_relationships(rows: list[ReferralPerson]) -> dict[str, str]:
    """{adult person id: `mother` | `father` | `carer` | `guardian` | `sibling`} for the adults
    whose relationship text maps (the `referral.decided` event's `adult_relationships`)."""
    out: dict[str, str] = {}
    for r in rows:
        type_ = relationship_type(r.relationship) if r.role == "adult" else None
        if type_:
            out[r.person_id] = type_.removesuffix("_of")
    return out


def address_key(line1: str, postcode: str) -> str:
    decomposed = unicodedata.normalize("NFKD", line1).upper()
    return f"{normalise_postcode(postcode)}:{''.join(c for c in decomposed if c.isascii() and c.isalnum())}"


def _today(ctx: Context) -> date:
    return ctx.now.astimezone(LONDON).date()


# ---- at intake ----


async def record_from_referral(ctx: Context, referral: Referral, rows: list[ReferralPerson]) -> None:
    """The referral's address becomes everyone's current one; adults' relationships to the
    children are recorded where their `relationship` text maps (`relationship_type`)."""
    await record_from_referrals(ctx, [(referral, rows)])


async def record_from_referrals(ctx: Context, referrals: list[tuple[Referral, list[ReferralPerson]]]) -> None:
    """`record_from_referral` for several referrals, one after another as if each were recorded
    alone, in one pass: one read of the addresses and relationships of everyone they name and
    one flush (the bulk import records a batch of referrals at once)."""
    named = [(referral, rows, list(dict.fromkeys(r.person_id for r in rows))) for referral, rows in referrals]
    named = [(referral, rows, ids) for referral, rows, ids in named if ids]
    if not named:
        return
    everyone = list(dict.fromkeys(pid for _, _, ids in named for pid in ids))
    today = _today(ctx)
    current: dict[str, list[PersonAddress]] = {}
    if any(
        (referral.address or {}).get("line1") and (referral.address or {}).get("postcode")
        for referral, _, _ in named
    ):
        for a in await repo.addresses_of(ctx.session, everyone):
            if a.to_on is None:
                current.setdefault(a.person_id, []).append(a)
    existing = await repo.relationships_of(ctx.session, everyone)
    held = {(r.from_person_id, r.to_person_id, r.type) for r in existing if r.ended_at is None}
    for referral, rows, ids in named:
        address = referral.address or {}
        if address.get("line1") and address.get("postcode"):
            key = address_key(address["line1"], address["postcode"])
            for pid in ids:
                mine = current.get(pid, [])
                if any(a.address_key == key for a in mine):
                    continue
                for a in mine:
                    a.to_on = today
                new = PersonAddress(
                    id=str(uuid.uuid4()),
                    person_id=pid,
                    line1=address["line1"],
                    town=address.get("town"),
                    postcode=format_postcode(normalise_postcode(address["postcode"])),
                    address_key=key,
                    from_on=today,
                    referral_id=referral.id,
                    created_at=ctx.now,
                )
                ctx.session.add(new)
                current[pid] = [new]
        children = [r.person_id for r in rows if r.role == "child"]
        for row in rows:
            type_ = relationship_type(row.relationship) if row.role == "adult" else None
            if type_ is None:
                continue
            for child in children:
                pair, reverse = (row.person_id, child, type_), (child, row.person_id, type_)
                if child == row.person_id or pair in held or (type_ in SYMMETRIC and reverse in held):
                    continue
                held.add((row.person_id, child, type_))
                ctx.session.add(_relationship(ctx, row.person_id, child, type_, referral_id=referral.id))
    await ctx.session.flush()


def _relationship(
    ctx: Context,
    from_id: str,
    to_id: str,
    type_: str,
    *,
    from_on: date | None = None,
    to_on: date | None = None,
    referral_id: str | None = None,
) -> PersonRelationship:
    return PersonRelationship(
        id=str(uuid.uuid4()),
        from_person_id=from_id,
        to_person_id=to_id,
        type=type_,
        from_on=from_on,
        to_on=to_on,
        referral_id=referral_id,
        created_at=ctx.now,
        created_by_client_id=ctx.identity.client_id,
        created_by_agency_id=ctx.identity.agency_id,
    )


# ---- reading ----


async def _record(ctx: Context, person_id: str) -> tuple[Person, set[str]]:
    """The surviving record of `person_id` and every id that is now it (404 if unknown)."""
    if await repo.get_person(ctx.session, person_id) is None:
        raise PersonNotFound()
    survivor_id = await repo.canonical_id(ctx.session, person_id)
    survivor = await repo.get_person(ctx.session, survivor_id)
    assert survivor is not None
    return survivor, await repo.merged_into(ctx.session, survivor_id)


async def _canonical_map(ctx: Context, ids: set[str]) -> dict[str, str]:
    return {i: await repo.canonical_id(ctx.session, i) for i in ids}


def _relationship_read(r: PersonRelationship, canonical: dict[str, str], today: date) -> RelationshipRead:
    return RelationshipRead(
        id=r.id,
        person_id=canonical.get(r.from_person_id, r.from_person_id),
        type=r.type,  # type: ignore[arg-type]
        related_person_id=canonical.get(r.to_person_id, r.to_person_id),
        from_on=r.from_on,
        to_on=r.to_on,
        current=r.ended_at is None and (r.to_on is None or r.to_on > today),
        referral_id=r.referral_id,
        created_at=r.created_at,
        created_by_agency_id=r.created_by_agency_id,
        ended_at=r.ended_at,
        end_reason=r.end_reason,
    )


async def relationships(
    ctx: Context, person_id: str, updated_since: datetime | None = None
) -> tuple[str, list[RelationshipRead]]:
    """(surviving person id, every relationship of the person, current and ended);
    `updated_since`: recorded or ended after it."""
    survivor, ids = await _record(ctx, person_id)
    rows = await repo.relationships_of(ctx.session, ids)
    if updated_since is not None:
        rows = [r for r in rows if max(r.created_at, r.ended_at or r.created_at) > updated_since]
    canonical = await _canonical_map(ctx, {r.from_person_id for r in rows} | {r.to_person_id for r in rows})
    today = _today(ctx)
    return survivor.id, [_relationship_read(r, canonical, today) for r in rows]


def _address_read(a: PersonAddress) -> AddressRead:
    return AddressRead(
        id=a.id,
        line1=a.line1,
        town=a.town,
        postcode=a.postcode,
        from_on=a.from_on,
        to_on=a.to_on,
        current=a.to_on is None,
        referral_id=a.referral_id,
    )


async def addresses(
    ctx: Context, person_id: str, updated_since: datetime | None = None
) -> tuple[str, list[AddressRead]]:
    """(surviving person id, its addresses, latest first); `updated_since`: recorded after it,
    or ended on or after its UK day (an end is kept as a date: never missed, at worst repeated)."""
    survivor, ids = await _record(ctx, person_id)
    rows = await repo.addresses_of(ctx.session, ids)
    if updated_since is not None:
        day = updated_since.astimezone(LONDON).date()
        rows = [a for a in rows if a.created_at > updated_since or (a.to_on is not None and a.to_on >= day)]
    return survivor.id, [_address_read(a) for a in rows]


async def household(ctx: Context, person_id: str) -> HouseholdRead:
    """Who lives with the person now: everyone else whose current address is theirs."""
    survivor, ids = await _record(ctx, person_id)
    current = [a for a in await repo.addresses_of(ctx.session, ids) if a.to_on is None]
    if not current:
        return HouseholdRead(person_id=survivor.id, address=None, members=[])
    home = current[0]  # the latest
    living = await repo.living_at(ctx.session, home.address_key)
    canonical = await _canonical_map(ctx, {a.person_id for a in living})
    since: dict[str, date] = {}
    for a in living:
        pid = canonical[a.person_id]
        if pid != survivor.id:
            since[pid] = min(since.get(pid, a.from_on), a.from_on)
    people = await repo.people_by_id(ctx.session, since)
    members = [
        HouseholdMember(
            person_id=pid,
            kind=people[pid].kind,  # type: ignore[arg-type]
            given_name=people[pid].given_name,
            family_name=people[pid].family_name,
            date_of_birth=people[pid].date_of_birth,
            lives_here_from=from_on,
        )
        for pid, from_on in since.items()
    ]
    return HouseholdRead(person_id=survivor.id, address=_address_read(home), members=members)


# ---- changing ----


async def add(ctx: Context, person_id: str, body: RelationshipCreate) -> RelationshipRead:
    policy.require_person_editor(ctx.identity, "record a relationship")
    survivor, _ = await _record(ctx, person_id)
    if await repo.get_person(ctx.session, body.related_person_id) is None:
        raise ValidationProblem("related_person_id", "no person with this id")
    other = await repo.canonical_id(ctx.session, body.related_person_id)
    if other == survivor.id:
        raise ValidationProblem("related_person_id", "a person cannot be related to themself")
    if await repo.current_relationship(ctx.session, survivor.id, other, body.type) is not None:
        raise RelationshipExists(f"{survivor.id} is already {body.type} {other}")
    row = _relationship(ctx, survivor.id, other, body.type, from_on=body.from_on, to_on=body.to_on)
    ctx.session.add(row)
    await ctx.session.flush()
    return _relationship_read(row, {}, _today(ctx))


async def end(ctx: Context, person_id: str, relationship_id: str, body: RelationshipEnd) -> RelationshipRead:
    policy.require_person_editor(ctx.identity, "end a relationship")
    _, ids = await _record(ctx, person_id)
    row = await repo.get_relationship(ctx.session, relationship_id)
    if row is None or not ({row.from_person_id, row.to_person_id} & ids):
        raise NotFound("No relationship with this id for this person")
    if row.ended_at is not None:
        raise RelationshipAlreadyEnded(f"This relationship was ended at {row.ended_at.isoformat()}")
    to_on = body.to_on or _today(ctx)
    if row.from_on and to_on < row.from_on:
        raise ValidationProblem("to_on", "must not be before the relationship's from_on")
    row.to_on = to_on
    row.ended_at = ctx.now
    row.ended_by_client_id = ctx.identity.client_id
    row.end_reason = body.reason
    await ctx.session.flush()
    canonical = await _canonical_map(ctx, {row.from_person_id, row.to_person_id})
    return _relationship_read(row, canonical, _today(ctx))


# The bulk import (imports.py) records relationships the incumbent system held.
new_relationship = _relationship
