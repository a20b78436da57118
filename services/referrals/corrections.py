"""Corrections of a person's record, their history, and the details other services may ask for
(issue 20).

A correction (`PATCH /v1/people/{id}`, If-Match) changes the fields it names and records
each change - from what to what - with the reason, who (practitioner, client, agency) and
when, in `person_correction`; nothing is changed silently. Only a MASH or early help role (or
a service) corrects (`policy.require_person_editor`). A merged-away record is not corrected
(409 `person-merged`): its surviving record is. When a change touches what matching compares
(names, date of birth, NHS number, postcode) the matching runs again (`matching.rank`, as at
intake) and the answer lists the records this one may now duplicate: merging them stays the
MASH's decision (`POST /v1/people/{id}/merge`), never automatic.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from services.referrals import policy
from services.referrals import repository as repo
from services.referrals.errors import PersonMergedAway, PersonNotFound
from services.referrals.matching import Facts, Scored, normalise_name, phonetic_key, rank
from services.referrals.models import Person, PersonCorrection
from services.referrals.schemas import PersonCorrectionCreate
from shared.problems import ValidationProblem

if TYPE_CHECKING:
    from services.referrals.service import Context

MATCHED_FIELDS = frozenset({"given_name", "family_name", "date_of_birth", "nhs_number", "postcode"})


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


async def correct(
    ctx: Context, person_id: str, body: PersonCorrectionCreate, precondition: Callable[[Person], None]
) -> tuple[Person, PersonCorrection, list[tuple[Person, Scored]]]:
    """(the corrected person, the correction recorded, the records it may now duplicate)."""
    policy.require_person_editor(ctx.identity, "correct a person's record")
    person = await repo.get_person(ctx.session, person_id)
    if person is None:
        raise PersonNotFound()
    precondition(person)
    if person.merged_into_id:
        raise PersonMergedAway(
            f"Correct the surviving record {await repo.canonical_id(ctx.session, person.id)}"
        )
    changes: dict[str, dict[str, Any]] = {}
    for name in sorted(body.model_fields_set - {"reason"}):
        new, old = getattr(body, name), getattr(person, name)
        if new != old:
            changes[name] = {"from": _plain(old), "to": _plain(new)}
            setattr(person, name, new)
    if not changes:
        first = sorted(body.model_fields_set - {"reason"})[0]
        raise ValidationProblem(first, "the record already says this: nothing to correct")
    if "date_of_birth" in changes and person.kind == "unborn":
        # The baby was born: the record becomes a child's.
        changes["kind"] = {"from": "unborn", "to": "child"}
        changes["unborn_expected_on"] = {"from": _plain(person.unborn_expected_on), "to": None}
        person.kind, person.unborn_expected_on = "child", None
    person.given_name_norm = normalise_name(person.given_name)
    person.family_name_norm = normalise_name(person.family_name)
    person.given_key = phonetic_key(person.given_name_norm)
    person.family_key = phonetic_key(person.family_name_norm)
    person.version += 1
    record = PersonCorrection(
        id=str(uuid.uuid4()),
        person_id=person.id,
        changes=changes,
        reason=body.reason,
        corrected_at=ctx.now,
        corrected_by_practitioner_id=ctx.identity.practitioner_id,
        corrected_by_client_id=ctx.identity.client_id,
        corrected_by_agency_id=ctx.identity.agency_id,
    )
    ctx.session.add(record)
    await ctx.session.flush()
    possible = await rematch(ctx, person) if MATCHED_FIELDS & changes.keys() else []
    return person, record, possible


async def rematch(ctx: Context, person: Person) -> list[tuple[Person, Scored]]:
    """The records this person may duplicate, best first, as an intake would score them."""
    facts = Facts.of(
        person.kind,
        person.given_name,
        person.family_name,
        date_of_birth=person.date_of_birth,
        unborn_expected_on=person.unborn_expected_on,
        nhs_number=person.nhs_number,
        postcode=person.postcode,
    )
    itself = await repo.merged_into(ctx.session, person.id)
    candidates = [c for c in await repo.find_candidates(ctx.session, facts) if c.person_id not in itself]
    ranked = rank(
        facts,
        candidates,
        certain_threshold=ctx.settings.match_certain_threshold,
        floor=ctx.settings.match_possible_threshold,
    )
    found = await repo.people_by_id(ctx.session, (s.person_id for s in ranked))
    return [(found[s.person_id], s) for s in ranked]


async def history(
    ctx: Context, person_id: str, updated_since: datetime | None = None
) -> list[PersonCorrection]:
    """Every correction of the person's surviving record and of the records merged into it
    (`updated_since`: made after it)."""
    if await repo.get_person(ctx.session, person_id) is None:
        raise PersonNotFound()
    ids = await repo.merged_into(ctx.session, await repo.canonical_id(ctx.session, person_id))
    rows = await repo.corrections_of(ctx.session, ids)
    return [c for c in rows if updated_since is None or c.corrected_at > updated_since]


async def details(ctx: Context, person_ids: list[str]) -> tuple[list[tuple[str, Person]], list[str]]:
    """For `POST /internal/people/details`: ([(id asked, its surviving record)], unknown ids)."""
    ids = list(dict.fromkeys(person_ids))
    found = await repo.people_by_id(ctx.session, ids)
    survivors = {pid: await repo.canonical_id(ctx.session, pid) for pid in ids if pid in found}
    records = await repo.people_by_id(ctx.session, survivors.values())
    return [(pid, records[sid]) for pid, sid in survivors.items()], [p for p in ids if p not in found]
