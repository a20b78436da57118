"""Every query of the referrals service lives here (the referral report's are in `reports`)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Integer,
    and_,
    bindparam,
    false,
    literal_column,
    or_,
    select,
    text,
    union,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.referrals.matching import Facts
from services.referrals.models import (
    Episode,
    EpisodePerson,
    Person,
    PersonAddress,
    PersonCorrection,
    PersonMerge,
    PersonRelationship,
    ReferenceCounter,
    Referral,
    ReferralAssignment,
    ReferralMatch,
    ReferralPerson,
)
from services.referrals.reports import refresh_follow_ups
from shared.clock import parse_datetime
from shared.db import conflict_insert, is_postgres_session
from shared.pagination import PageParams, decode_cursor, encode_cursor, keyset
from shared.problems import ValidationProblem

CANDIDATE_LIMIT = 200
MAX_MERGE_DEPTH = 50


# ---- references and locks ----


async def next_in_series(conn: AsyncSession | AsyncConnection, series: str, *, postgres: bool) -> int:
    """The next number of a reference series, atomically on both databases: one upsert.

    On PostgreSQL `conn` is an autocommit connection (`Database.autocommit`): the counter
    row's lock lasts only the statement. Taken inside the request's transaction instead, it
    lasted until that commit, and every concurrent intake queued behind it (at 15 creates/s
    the waits reached 200 ms). The price is that a create failing after this leaves a gap in
    the series. On SQLite `conn` is the request's session: every write transaction there
    already holds the database lock (BEGIN IMMEDIATE), so nothing waits longer for it.
    """
    stmt = _NEXT_IN_SERIES[postgres]
    return int((await conn.execute(stmt, {"name": series})).scalar_one())


def _next_in_series(postgres: bool) -> Any:
    insert = conflict_insert(postgres)
    return (
        insert(ReferenceCounter)
        .values(name=bindparam("name"), value=1)
        .on_conflict_do_update(index_elements=["name"], set_={"value": ReferenceCounter.value + 1})
        .returning(ReferenceCounter.value)
    )


# Built once, like the read statements below: building the upsert (and its cache key) on
# every intake cost more CPU than running it.
_NEXT_IN_SERIES = {postgres: _next_in_series(postgres) for postgres in (False, True)}


async def lock_keys(session: AsyncSession, keys: Iterable[str]) -> None:
    """Serialise intake of the same person (PostgreSQL advisory locks, held to commit).

    Two requests for one new child at the same moment would otherwise both miss each other
    and create two people. Keys are taken in sorted order so two intakes cannot deadlock.
    SQLite needs nothing: write transactions there are already serial.
    """
    if not is_postgres_session(session):
        return
    ordered = sorted(set(keys))
    if ordered:
        # One round trip for all of them, taken in the array's order.
        await session.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtext(k)) "
                "FROM unnest(CAST(:keys AS text[])) WITH ORDINALITY AS t(k, n) ORDER BY n"
            ),
            {"keys": ordered},
        )


# ---- the person index ----

_PERSON_FACT_COLUMNS = (
    Person.id,
    Person.kind,
    Person.given_name_norm,
    Person.family_name_norm,
    Person.given_key,
    Person.family_key,
    Person.date_of_birth,
    Person.unborn_expected_on,
    Person.nhs_number,
    Person.postcode,
)


def _facts(row: Any) -> Facts:
    return Facts(
        kind=row.kind,
        given_norm=row.given_name_norm or "",
        family_norm=row.family_name_norm,
        given_key=row.given_key or "",
        family_key=row.family_key,
        date_of_birth=row.date_of_birth,
        unborn_expected_on=row.unborn_expected_on,
        nhs_number=row.nhs_number,
        postcode=row.postcode,
        person_id=row.id,
    )


def _shape(probe: Facts) -> tuple[bool, bool, bool, bool] | None:
    """Which index lookups a probe can make: NHS number; phonetic family key + date of birth;
    date of birth + postcode; postcode + phonetic family key. None: none of them."""
    dob, postcode, family = bool(probe.date_of_birth), bool(probe.postcode), bool(probe.family_key)
    shape = (bool(probe.nhs_number), dob and family, dob and postcode, postcode and family)
    return shape if any(shape) else None


def _params(probe: Facts, suffix: str = "") -> dict[str, Any]:
    return {
        f"nhs_number{suffix}": probe.nhs_number,
        f"family_key{suffix}": probe.family_key,
        f"date_of_birth{suffix}": probe.date_of_birth,
        f"postcode{suffix}": probe.postcode,
    }


def find_candidates_statement(probe: Facts) -> tuple[Any, dict[str, Any]] | None:
    """People who could be `probe`, fetched only through indexed keys (never a scan): the
    statement and its parameters, or None when the probe has no key to look up.

    NHS number; phonetic family key + date of birth; date of birth + postcode; postcode +
    phonetic family key (adults and unborn children have no date of birth). PostgreSQL
    combines the matching index scans with a BitmapOr. Merged-away records are left out:
    their survivor is found instead.
    """
    shape = _shape(probe)
    return None if shape is None else (_candidates_statement(shape), _params(probe))


@functools.cache
def _candidates_statement(shape: tuple[bool, bool, bool, bool], suffix: str = "") -> Any:
    """One statement per combination of keys (at most 15; per position in a batch, below),
    built once: every intake looks up each person it names, and building the statement cost
    about as much CPU as running it."""
    params: list[BindParameter[Any]] = [
        bindparam(f"{name}{suffix}") for name in ("nhs_number", "family_key", "date_of_birth", "postcode")
    ]
    nhs, family, dob, postcode = params
    by_nhs, by_family_dob, by_dob_postcode, by_postcode_family = shape
    conditions = []
    if by_nhs:
        conditions.append(Person.nhs_number == nhs)
    if by_family_dob:
        conditions.append(and_(Person.family_key == family, Person.date_of_birth == dob))
    if by_dob_postcode:
        conditions.append(and_(Person.date_of_birth == dob, Person.postcode == postcode))
    if by_postcode_family:
        conditions.append(and_(Person.postcode == postcode, Person.family_key == family))
    return (
        select(*_PERSON_FACT_COLUMNS)
        .where(or_(*conditions), Person.merged_into_id.is_(None))
        .limit(CANDIDATE_LIMIT)
    )


@functools.cache
def _candidates_batch(shapes: tuple[tuple[bool, bool, bool, bool] | None, ...]) -> Any:
    """Every probe's lookup in one UNION ALL, each row tagged with its probe's position."""
    parts = [
        select(
            _candidates_statement(shape, f"_{i}").subquery(), literal_column(str(i), Integer).label("probe")
        )
        for i, shape in enumerate(shapes)
        if shape is not None
    ]
    return union_all(*parts)


async def find_candidates(session: AsyncSession, probe: Facts) -> list[Facts]:
    return (await find_candidates_of(session, [probe]))[0]


async def find_candidates_of(session: AsyncSession, probes: list[Facts]) -> list[list[Facts]]:
    """Each probe's candidates, in one round trip however many people an intake names."""
    shapes = tuple(_shape(p) for p in probes)
    out: list[list[Facts]] = [[] for _ in probes]
    looked_up = [i for i, shape in enumerate(shapes) if shape is not None]
    if len(looked_up) == 1:
        [i] = looked_up
        rows = (await session.execute(_candidates_statement(shapes[i]), _params(probes[i]))).all()  # type: ignore[arg-type]
        out[i] = [_facts(r) for r in rows]
    elif looked_up:
        params = {k: v for i in looked_up for k, v in _params(probes[i], f"_{i}").items()}
        for r in (await session.execute(_candidates_batch(shapes), params)).all():
            out[r.probe].append(_facts(r))
    return out


async def add_person(session: AsyncSession, person: Person) -> None:
    session.add(person)


async def get_person(session: AsyncSession, person_id: str) -> Person | None:
    return await session.get(Person, person_id)


async def people_by_id(session: AsyncSession, ids: Iterable[str]) -> dict[str, Person]:
    ids = list(set(ids))
    if not ids:
        return {}
    rows = (await session.execute(select(Person).where(Person.id.in_(ids)))).scalars().all()
    return {p.id: p for p in rows}


async def fill_missing(session: AsyncSession, person_id: str, values: dict[str, Any]) -> None:
    """Add what a later referral knows and the index did not (never overwrites)."""
    for column, value in values.items():
        if value is None:
            continue
        col = getattr(Person, column)
        await session.execute(
            update(Person).where(Person.id == person_id, col.is_(None)).values({column: value})
        )


async def canonical_id(session: AsyncSession, person_id: str) -> str:
    """Follow merges to the surviving record."""
    current = person_id
    for _ in range(MAX_MERGE_DEPTH):
        nxt = (
            await session.execute(select(Person.merged_into_id).where(Person.id == current))
        ).scalar_one_or_none()
        if nxt is None:
            return current
        current = nxt
    return current


async def merged_into(session: AsyncSession, person_id: str) -> set[str]:
    """The person and everyone merged into it, directly or through earlier merges."""
    found, frontier = {person_id}, {person_id}
    for _ in range(MAX_MERGE_DEPTH):
        if not frontier:
            break
        rows = (
            (await session.execute(select(Person.id).where(Person.merged_into_id.in_(frontier))))
            .scalars()
            .all()
        )
        frontier = set(rows) - found
        found |= frontier
    return found


async def set_merged_into(session: AsyncSession, person_id: str, into: str | None) -> None:
    await session.execute(update(Person).where(Person.id == person_id).values(merged_into_id=into))


async def repoint(
    session: AsyncSession, *, from_id: str, to_id: str, originals: set[str] | None = None
) -> None:
    """Move referral and episode links from one person to another (a merge or its undo)."""
    for table in (ReferralPerson, EpisodePerson):
        stmt = update(table).where(table.person_id == from_id)
        if originals is not None:
            stmt = stmt.where(table.original_person_id.in_(originals))
        await session.execute(stmt.values(person_id=to_id))
    await refresh_follow_ups(session, [from_id, to_id])


async def add_merge(session: AsyncSession, merge: PersonMerge) -> None:
    session.add(merge)


async def get_merge(session: AsyncSession, merge_id: str) -> PersonMerge | None:
    return await session.get(PersonMerge, merge_id)


# ---- referrals ----


async def add_referral(session: AsyncSession, referral: Referral, people: list[ReferralPerson]) -> None:
    session.add(referral)
    await session.flush()
    session.add_all(people)
    # A child this referral added to the index has no other referral: the facts of its one
    # row are the columns' defaults (no previous or next, nothing escalated later, no episode
    # after a decision), so only children already known are refreshed - a round trip fewer
    # for most intakes.
    await refresh_follow_ups(session, [p.person_id for p in people if p.role == "child" and p.match != "new"])


async def add_matches(session: AsyncSession, matches: list[ReferralMatch]) -> None:
    session.add_all(matches)


# The statements every read of a referral runs, built once with bind parameters: building one
# (and its cache key) each time cost about as much CPU as running it (docs/performance.md).
_REFERRAL = select(Referral).where(Referral.id == bindparam("referral_id"))
_REFERRAL_FOR_UPDATE = _REFERRAL.with_for_update()
_REFERRAL_PEOPLE = (
    select(ReferralPerson)
    .where(ReferralPerson.referral_id == bindparam("referral_id"))
    .order_by(ReferralPerson.role.desc(), ReferralPerson.position)  # children first
)
_REFERRAL_MATCHES = (
    select(ReferralMatch)
    .where(ReferralMatch.referral_id == bindparam("referral_id"))
    .order_by(ReferralMatch.score.desc(), ReferralMatch.candidate_person_id)
)


def people_order(row: ReferralPerson) -> tuple[bool, int]:
    """How a referral's people are shown: children first, each in the order the referral
    named them (as `_REFERRAL_PEOPLE` sorts in SQL)."""
    return (row.role != "child", row.position)


def match_order(match: ReferralMatch) -> tuple[float, str]:
    """Best match first (as `_REFERRAL_MATCHES` sorts in SQL)."""
    return (-match.score, match.candidate_person_id)


_REFERRAL_WITH_ROWS = (
    select(Referral, ReferralPerson, ReferralMatch)
    .outerjoin(ReferralPerson, ReferralPerson.referral_id == Referral.id)
    .outerjoin(ReferralMatch, ReferralMatch.referral_id == Referral.id)
    .where(Referral.id == bindparam("referral_id"))
)


async def referral_with_rows(
    session: AsyncSession, referral_id: str
) -> tuple[Referral | None, list[ReferralPerson], list[ReferralMatch]]:
    """The referral with its people rows (children first) and possible matches (best first),
    in one round trip, for a read. The join repeats each person once per match: a referral
    names a handful of people and has a handful of matches at most."""
    rows = (await session.execute(_REFERRAL_WITH_ROWS, {"referral_id": referral_id})).all()
    if not rows:
        return None, [], []
    people = {(p.role, p.position): p for _, p, _ in rows if p is not None}
    matches = {m.candidate_person_id: m for _, _, m in rows if m is not None}
    return (
        rows[0][0],
        sorted(people.values(), key=people_order),
        sorted(matches.values(), key=match_order),
    )


async def get_referral(
    session: AsyncSession, referral_id: str, *, for_update: bool = False
) -> Referral | None:
    stmt = _REFERRAL_FOR_UPDATE if for_update and is_postgres_session(session) else _REFERRAL
    return (await session.execute(stmt, {"referral_id": referral_id})).scalar_one_or_none()


async def copy_decision_to_people(session: AsyncSession, referral: Referral) -> list[ReferralPerson]:
    """The decision onto the referral's people rows, which are returned (children first), and
    the children's timelines refreshed. One UPDATE ... RETURNING, where reading the rows and
    then updating them took two round trips."""
    stmt = (
        update(ReferralPerson)
        .where(ReferralPerson.referral_id == referral.id)
        .values(
            level_of_need=referral.level_of_need, outcome=referral.outcome, decided_at=referral.decided_at
        )
        .returning(ReferralPerson)
    )
    rows = sorted((await session.execute(stmt)).scalars().all(), key=people_order)
    await refresh_follow_ups(session, [r.person_id for r in rows if r.role == "child"])
    return rows


async def referral_by_step_up(session: AsyncSession, step_up_id: str) -> Referral | None:
    return (
        await session.execute(select(Referral).where(Referral.step_up_id == step_up_id))
    ).scalar_one_or_none()


async def referral_people(session: AsyncSession, referral_id: str) -> list[ReferralPerson]:
    return list((await session.execute(_REFERRAL_PEOPLE, {"referral_id": referral_id})).scalars().all())


async def referral_matches(session: AsyncSession, referral_id: str) -> list[ReferralMatch]:
    return list((await session.execute(_REFERRAL_MATCHES, {"referral_id": referral_id})).scalars().all())


async def get_match(session: AsyncSession, referral_id: str, candidate_id: str) -> ReferralMatch | None:
    return await session.get(ReferralMatch, (referral_id, candidate_id))


@dataclass(frozen=True)
class ReferralFilters:
    statuses: list[str] | None = None  # None: any status; []: none (policy.statuses_for_filter)
    source_agency_id: str | None = None
    person_id: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    only_agency_id: str | None = None  # object-level rule: partners see their own only
    updated_since: datetime | None = None  # changed after (shared/changes.py)


async def list_referrals(session: AsyncSession, f: ReferralFilters, page: PageParams) -> list[Referral]:
    stmt = select(Referral)
    if f.statuses is not None:
        stmt = stmt.where(Referral.status.in_(f.statuses)) if f.statuses else stmt.where(false())
    if f.source_agency_id:
        stmt = stmt.where(Referral.source_agency_id == f.source_agency_id)
    if f.only_agency_id:
        stmt = stmt.where(Referral.source_agency_id == f.only_agency_id)
    if f.person_id:
        stmt = stmt.where(
            Referral.id.in_(select(ReferralPerson.referral_id).where(ReferralPerson.person_id == f.person_id))
        )
    if f.received_from:
        stmt = stmt.where(Referral.received_at >= f.received_from)
    if f.received_to:
        stmt = stmt.where(Referral.received_at < f.received_to)
    if f.updated_since:
        stmt = stmt.where(Referral.updated_at > f.updated_since)
    stmt = keyset(stmt, Referral.received_at, Referral.id, page)  # type: ignore[arg-type]
    return list((await session.execute(stmt)).scalars().all())


async def undecided_referral_for(
    session: AsyncSession, person_ids: Sequence[str], *, before: datetime, exclude_id: str | None = None
) -> str | None:
    """The latest referral still awaiting a decision for any of these children."""
    stmt = (
        select(Referral.id)
        .join(ReferralPerson, ReferralPerson.referral_id == Referral.id)
        .where(
            ReferralPerson.person_id.in_(person_ids),
            ReferralPerson.role == "child",
            Referral.status == "received",
            Referral.received_at <= before,
        )
        .order_by(Referral.received_at.desc(), Referral.id.desc())
        .limit(1)
    )
    if exclude_id:
        stmt = stmt.where(Referral.id != exclude_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def referral_person_ids(
    session: AsyncSession, referral_id: str, role: str | None = "child"
) -> list[str]:
    stmt = select(ReferralPerson.person_id).where(ReferralPerson.referral_id == referral_id)
    if role:
        stmt = stmt.where(ReferralPerson.role == role)
    return list((await session.execute(stmt.order_by(ReferralPerson.position))).scalars().all())


async def referrals_naming(session: AsyncSession, person_id: str) -> list[Referral]:
    """Every referral naming this person (merges already followed), oldest first."""
    stmt = (
        select(Referral)
        .where(
            Referral.id.in_(select(ReferralPerson.referral_id).where(ReferralPerson.person_id == person_id))
        )
        .order_by(Referral.received_at, Referral.id)
    )
    return list((await session.execute(stmt)).scalars().all())


# ---- the MASH queue ----

UNASSIGNED = "unassigned"


async def add_assignment(session: AsyncSession, record: ReferralAssignment) -> None:
    session.add(record)


async def mash_queue(
    session: AsyncSession,
    *,
    sort: str,
    assigned_to: str | None,
    page: PageParams,
    updated_since: datetime | None = None,
) -> tuple[list[Referral], str | None]:
    """Referrals awaiting a decision. `sort`: "due" (decision due time, soonest first) or
    "urgency" (`priority` highest first, then due time). `assigned_to`: a practitioner id,
    `UNASSIGNED`, or None for everyone's. One index range scan per page either way."""
    stmt = select(Referral).where(Referral.status == "received")
    if assigned_to == UNASSIGNED:
        stmt = stmt.where(Referral.assigned_to.is_(None))
    elif assigned_to is not None:
        stmt = stmt.where(Referral.assigned_to == assigned_to)
    if updated_since is not None:
        stmt = stmt.where(Referral.updated_at > updated_since)
    if sort == "due":
        if page.cursor and not isinstance(decode_cursor(page.cursor)[0], str):
            raise ValidationProblem("cursor", "not a cursor of this sort order")
        stmt = keyset(stmt, Referral.decision_due_at, Referral.id, page, descending=False)  # type: ignore[arg-type]
        rows = list((await session.execute(stmt)).scalars().all())
        if len(rows) > page.limit:
            rows = rows[: page.limit]
            return rows, encode_cursor(rows[-1].decision_due_at, rows[-1].id)
        return rows, None
    if page.cursor:
        key, last_id = decode_cursor(page.cursor)
        try:
            priority, due = int(key[0]), parse_datetime(key[1])
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            raise ValidationProblem("cursor", "not a cursor this API issued") from exc
        stmt = stmt.where(
            or_(
                Referral.priority < priority,
                and_(
                    Referral.priority == priority,
                    or_(
                        Referral.decision_due_at > due,
                        and_(Referral.decision_due_at == due, Referral.id > last_id),
                    ),
                ),
            )
        )
    stmt = stmt.order_by(Referral.priority.desc(), Referral.decision_due_at, Referral.id).limit(
        page.limit + 1
    )
    rows = list((await session.execute(stmt)).scalars().all())
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1]
        return rows, encode_cursor([last.priority, last.decision_due_at.isoformat()], last.id)
    return rows, None


# ---- the episode projection ----


async def open_episode_for(session: AsyncSession, person_ids: Sequence[str]) -> str | None:
    stmt = (
        select(Episode.id)
        .join(EpisodePerson, EpisodePerson.episode_id == Episode.id)
        .where(EpisodePerson.person_id.in_(person_ids), Episode.closed_at.is_(None))
        .order_by(Episode.opened_at.desc(), Episode.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_episode(session: AsyncSession, episode_id: str) -> Episode | None:
    return await session.get(Episode, episode_id)


async def add_episode_people(session: AsyncSession, episode_id: str, people: dict[str, str]) -> None:
    """`people`: person id as the event named it -> the surviving record. One INSERT that
    leaves those already recorded as they are (an event sent again, or the episode's people
    named twice), rather than reading them first."""
    if people:
        insert = conflict_insert(is_postgres_session(session))
        await session.execute(
            insert(EpisodePerson)
            .values(
                [
                    {"episode_id": episode_id, "original_person_id": orig, "person_id": canon}
                    for orig, canon in people.items()
                ]
            )
            .on_conflict_do_nothing(index_elements=["episode_id", "original_person_id"])
        )
    await refresh_follow_ups(session, people.values())


async def set_referral_episode(session: AsyncSession, referral_id: str, episode_id: str) -> bool:
    result = await session.execute(
        update(Referral)
        .where(Referral.id == referral_id, Referral.episode_id.is_(None))
        .values(episode_id=episode_id, version=Referral.version + 1)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# ---- a link's followers (requeue.py) ----


async def referrals_following_referral(session: AsyncSession, referral_id: str) -> list[Referral]:
    """The referrals parked (`linked`) on this referral alone, not on an open episode too
    (those follow the episode), oldest first, locked for the change that follows."""
    stmt = (
        select(Referral)
        .where(
            Referral.linked_referral_id == referral_id,
            Referral.status == "linked",
            Referral.open_episode_id.is_(None),
        )
        .order_by(Referral.received_at, Referral.id)
        .with_for_update()
    )
    return list((await session.execute(stmt)).scalars().all())


async def referrals_following_episode(session: AsyncSession, episode_id: str) -> list[Referral]:
    """The referrals parked (`linked`) on this episode, oldest first, locked."""
    stmt = (
        select(Referral)
        .where(Referral.open_episode_id == episode_id, Referral.status == "linked")
        .order_by(Referral.received_at, Referral.id)
        .with_for_update()
    )
    return list((await session.execute(stmt)).scalars().all())


# ---- households, relationships, addresses, corrections (issue 20) ----


async def relationships_of(session: AsyncSession, person_ids: Iterable[str]) -> list[PersonRelationship]:
    ids = list(set(person_ids))
    stmt = (
        select(PersonRelationship)
        .where(or_(PersonRelationship.from_person_id.in_(ids), PersonRelationship.to_person_id.in_(ids)))
        .order_by(PersonRelationship.created_at, PersonRelationship.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def current_relationship(
    session: AsyncSession, from_id: str, to_id: str, type_: str
) -> PersonRelationship | None:
    """A current relationship of this type between the two (either way for symmetric ones)."""
    pairs = [and_(PersonRelationship.from_person_id == from_id, PersonRelationship.to_person_id == to_id)]
    if type_ in ("sibling_of", "partner_of"):
        pairs.append(
            and_(PersonRelationship.from_person_id == to_id, PersonRelationship.to_person_id == from_id)
        )
    stmt = select(PersonRelationship).where(
        or_(*pairs), PersonRelationship.type == type_, PersonRelationship.ended_at.is_(None)
    )
    return (await session.execute(stmt.limit(1))).scalars().first()


async def get_relationship(session: AsyncSession, relationship_id: str) -> PersonRelationship | None:
    return await session.get(PersonRelationship, relationship_id, with_for_update=True)


async def addresses_of(session: AsyncSession, person_ids: Iterable[str]) -> list[PersonAddress]:
    stmt = (
        select(PersonAddress)
        .where(PersonAddress.person_id.in_(list(set(person_ids))))
        .order_by(PersonAddress.from_on.desc(), PersonAddress.created_at.desc(), PersonAddress.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def living_at(session: AsyncSession, address_key: str) -> list[PersonAddress]:
    """Everyone whose current address this is."""
    stmt = (
        select(PersonAddress)
        .where(PersonAddress.address_key == address_key, PersonAddress.to_on.is_(None))
        .order_by(PersonAddress.from_on, PersonAddress.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def corrections_of(session: AsyncSession, person_ids: Iterable[str]) -> list[PersonCorrection]:
    stmt = (
        select(PersonCorrection)
        .where(PersonCorrection.person_id.in_(list(set(person_ids))))
        .order_by(PersonCorrection.corrected_at, PersonCorrection.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def referrals_for_nhs_number(
    session: AsyncSession, nhs_number: str, *, only_agency_id: str | None, limit: int
) -> list[Referral]:
    """The referrals naming anyone with this NHS number, newest first (the FHIR search): the
    person index's NHS number index (and whom such a person was merged into), then each
    person's referral rows by `person_id`."""
    people: CompoundSelect[tuple[str | None]] = union(
        select(Person.id).where(Person.nhs_number == nhs_number),
        select(Person.merged_into_id).where(
            Person.nhs_number == nhs_number, Person.merged_into_id.is_not(None)
        ),
    )
    stmt = select(Referral).where(
        Referral.id.in_(select(ReferralPerson.referral_id).where(ReferralPerson.person_id.in_(people)))
    )
    if only_agency_id:
        stmt = stmt.where(Referral.source_agency_id == only_agency_id)
    stmt = stmt.order_by(Referral.received_at.desc(), Referral.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars().all())


async def reserve_in_series(
    conn: AsyncSession | AsyncConnection, series: str, n: int, *, postgres: bool
) -> int:
    """The first of `n` consecutive numbers of a reference series, taken in one upsert (the
    bulk import numbers a batch at once; `next_in_series` says which connection to use)."""
    insert = conflict_insert(postgres)
    stmt = (
        insert(ReferenceCounter)
        .values(name=series, value=n)
        .on_conflict_do_update(index_elements=["name"], set_={"value": ReferenceCounter.value + n})
        .returning(ReferenceCounter.value)
    )
    return int((await conn.execute(stmt)).scalar_one()) - n + 1
