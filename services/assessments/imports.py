"""Bulk import of the incumbent system's open episodes (issue 22 item 2, docs/import.md).

`POST /v1/imports/episodes` takes a batch of open episodes, each with its lead professional
and TAF, and stores it in the request's transaction, wholly or (any row wrong: one 422 naming
each `episodes.<row>.<field>`) not at all. Each episode is opened by the rule every episode
opens by (`episodes.open_episode`), as of its own `opened_at`, and announces itself the usual
way: `episode.opened`, `lead_professional.assigned`, `taf.member_added` - so the notifications
service creates the episode's deadlines, and the referrals service its projection, from the
events they already take. Each row's source id is recorded with the episode it opened
(`shared/imports.py`): a re-run skips it, answering with that episode. With `dry_run` every
rule but the people check runs and the transaction is rolled back.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from services.assessments import episodes, partner_events
from services.assessments import repository as repo
from services.assessments.clients.referrals import ReferralsUnavailable
from services.assessments.context import Context
from services.assessments.errors import PeopleCheckUnavailable
from services.assessments.models import IMPORT_RECORD, Episode, LeadProfessional, TafMember
from services.assessments.schemas import (
    EpisodeImportBatch,
    EpisodeImportResult,
    ImportEpisodeIn,
    LeadProfessionalSet,
)
from shared.imports import ImportedItem, imported, one_batch_at_a_time, record, require_importer, row_errors

EPISODE = "episode"
# The referrals service's people check takes at most this many ids a call.
KNOWN_CHUNK = 200


async def import_batch(ctx: Context, body: EpisodeImportBatch) -> EpisodeImportResult:
    require_importer(ctx.identity)
    await one_batch_at_a_time(ctx.session, "assessments")
    rows = body.episodes
    done = await imported(ctx.session, IMPORT_RECORD, EPISODE, (r.source_id for r in rows))
    todo = [(i, r) for i, r in enumerate(rows) if r.source_id not in done]
    await _check(ctx, todo, [r.source_id for r in rows], people_check=not body.dry_run)
    opened = await _open_all(ctx, [r for _, r in todo])
    created: list[tuple[str, str, str | None]] = [
        (row.source_id, episode.id, None) for (_, row), episode in zip(todo, opened, strict=True)
    ]
    await record(ctx.session, IMPORT_RECORD, EPISODE, created, at=ctx.now, client_id=ctx.identity.client_id)
    if body.dry_run:
        await ctx.session.rollback()
    made = {s: t for s, t, _ in created}
    return EpisodeImportResult(
        episodes=[
            ImportedItem(
                source_id=r.source_id,
                id=made.get(r.source_id) or done[r.source_id][0],
                created=r.source_id in made,
            )
            for r in rows
        ]
    )


async def _check(
    ctx: Context, todo: list[tuple[int, ImportEpisodeIn]], source_ids: list[str], *, people_check: bool
) -> None:
    """Every row's faults at once: repeated source ids, moments in the future, a referral that
    already has an episode, lead professionals without the family's agreement, people the
    referrals service does not hold."""
    errors: list[tuple[str, str]] = []
    opened = await repo.referrals_with_episodes(
        ctx.session, [r.referral_id for _, r in todo if r.referral_id]
    )
    seen: set[str] = set()
    for i, source_id in enumerate(source_ids):
        if source_id in seen:
            errors.append((f"episodes.{i}.source_id", "appears twice in this batch"))
        seen.add(source_id)
    for i, row in todo:
        for name, moment in (
            ("opened_at", row.opened_at),
            ("referral_received_at", row.referral_received_at),
        ):
            if moment is not None and moment > ctx.now:
                errors.append((f"episodes.{i}.{name}", "must not be in the future"))
        if row.lead_professional is not None and not row.lead_professional.family_agreed:
            errors.append((f"episodes.{i}.lead_professional.family_agreed", "the family must agree (true)"))
        if row.referral_id in opened:
            errors.append((f"episodes.{i}.referral_id", "this referral already has an episode"))
    people = list(dict.fromkeys(str(p) for _, r in todo for p in (*r.person_ids, *r.adult_person_ids)))
    if not people_check:
        people = []
    unknown: set[str] = set()
    try:
        for start in range(0, len(people), KNOWN_CHUNK):
            answer = await ctx.runtime.referrals().known_people(people[start : start + KNOWN_CHUNK])
            unknown.update(answer.unknown)
    except ReferralsUnavailable:
        raise PeopleCheckUnavailable(
            "The referrals service cannot confirm these people right now; try again shortly",
            headers={"Retry-After": "2"},
        ) from None
    for i, row in todo:
        for name, ids in (("person_ids", row.person_ids), ("adult_person_ids", row.adult_person_ids)):
            errors += [
                (f"episodes.{i}.{name}.{j}", "no such person in the person index")
                for j, p in enumerate(ids)
                if str(p) in unknown
            ]
    if errors:
        raise row_errors(errors)


async def _open_all(ctx: Context, rows: list[ImportEpisodeIn]) -> list[Episode]:
    """Each row opened as `episodes.open_episode` opens an episode, as of its own `opened_at`,
    with its lead professional and TAF members, and the events each would publish, in the same
    order - set-based: the batch's reference numbers reserved at once (per year, in row order),
    one insert per table and one outbox statement for the batch."""
    first: dict[int, int] = {}
    for year, count in Counter(r.opened_at.year for r in rows).items():
        first[year] = await repo.reserve_reference_numbers(ctx.session, year, count)
    made: list[tuple[Episode, ImportEpisodeIn, Context]] = []
    for row in rows:
        then = dataclasses.replace(ctx, now=row.opened_at)
        number = first[row.opened_at.year]
        first[row.opened_at.year] += 1
        origin = "referral" if row.referral_id else "self_referral"
        referral = (row.referral_id, row.referral_received_at)
        episode = episodes.new_episode(then, number, origin, row.level_of_need, referral)
        made.append((episode, row, then))
    ctx.session.add_all([episode for episode, _, _ in made])
    await ctx.session.flush()
    events: list[tuple[str, dict[str, Any]]] = []
    for episode, row, then in made:
        children = [str(p) for p in row.person_ids]
        await repo.add_people(ctx.session, episode.id, children)
        adults = [str(p) for p in row.adult_person_ids]
        await repo.add_family(ctx.session, episode.id, children, adults, {}, at=row.opened_at)
        events.append(("episode.opened", episodes.opened_data(episode, children)))
        if row.lead_professional is not None:
            events.append(_lead(then, episode, row.lead_professional))
        agencies: set[str] = set()
        for member in row.taf:
            taf = TafMember(
                id=str(uuid.uuid4()), episode_id=episode.id, **member.model_dump(), added_at=row.opened_at
            )
            ctx.session.add(taf)
            agencies.add(taf.agency_id)
            event = "taf.member_added"
            events.append((event, partner_events.taf_member_data(event, taf, sorted(agencies))))
    await ctx.session.flush()
    await ctx.publish_all(events)
    return [episode for episode, _, _ in made]


def _lead(ctx: Context, episode: Episode, lead_in: LeadProfessionalSet) -> tuple[str, dict[str, Any]]:
    at: datetime = ctx.now
    lead = LeadProfessional(
        id=str(uuid.uuid4()),
        episode_id=episode.id,
        **lead_in.model_dump(mode="json"),
        assigned_at=at,
        assigned_by_agency_id=ctx.identity.agency_id,
    )
    ctx.session.add(lead)
    return (
        "lead_professional.assigned",
        {
            "episode_id": episode.id,
            "agency_id": lead.agency_id,
            "email": lead.email,
            "family_agreed": lead.family_agreed,
            "practitioner_id": lead.practitioner_id,
            "manager_delegates": lead.manager_delegates,
            "assigned_at": at.isoformat(),
        },
    )
