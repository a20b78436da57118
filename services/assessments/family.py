"""The episode's family (issue 20): who it names, children and adults, and their names.

- `family_members` [{person_id, role: child | adult, relationship?}] is set when the episode
  opens: its children (`person_ids`, which keeps meaning the children) and, for an episode
  opened by a referral decision, the referral's adults (`adult_person_ids` of
  `referral.decided`, with `adult_relationships` codes).
- The episode's managers (`policy.may_manage_team`, rule `manage-family`) replace the whole
  list with `PUT /v1/episodes/{id}/family-members`; every child of `person_ids` must stay
  (422), and each person must be one the referrals service knows (422, or 503 when it cannot
  say). The episode's children are not changed by it: who the episode is for, and so whose
  consent a partner needs, stays as opened.
- `GET /v1/episodes/{id}/family`: names and dates of birth, read from the referrals service
  (`POST /internal/people/details`, this service's credential), for whoever may see the
  episode (`access.py`: a partner on the TAF with consent; anyone else 404, as the episode).
  The read is a disclosure, recorded as the episode read's is (resource `family`).
"""

from __future__ import annotations

import logging

from services.assessments import repository as repo
from services.assessments.clients.referrals import ReferralsUnavailable
from services.assessments.context import Context
from services.assessments.episodes import ensure_known, managed_open_episode, touch, visible_episode
from services.assessments.errors import PeopleCheckUnavailable, UnknownPeople
from services.assessments.models import EpisodeFamilyMember
from services.assessments.schemas import (
    FamilyMemberRead,
    FamilyMembersSet,
    FamilyPersonRead,
    FamilyRead,
)
from shared.problems import ValidationProblem

log = logging.getLogger("assessments.family")


async def set_members(ctx: Context, episode_id: str, body: FamilyMembersSet) -> list[FamilyMemberRead]:
    episode, access = await managed_open_episode(ctx, episode_id, "manage-family")
    ids = [m.person_id for m in body.members]
    for i, pid in enumerate(ids):
        if pid in ids[:i]:
            raise ValidationProblem(f"members.{i}.person_id", "is listed twice")
    roles = {m.person_id: m.role for m in body.members}
    for pid in access.person_ids:
        if roles.get(pid) != "child":
            raise ValidationProblem(
                "members", f"the episode's children (person_ids) stay in its family as children: {pid}"
            )
    try:
        await ensure_known(ctx, ids)
    except UnknownPeople as exc:  # it names person_ids.<i>: here they are members.<i>.person_id
        for e in exc.errors or []:
            e["field"] = e["field"].replace("person_ids.", "members.") + ".person_id"
            e["loc"] = ["members", e["loc"][1], "person_id"]
        raise
    current = {m.person_id: m for m in await repo.family_members(ctx.session, episode.id)}
    members = [
        EpisodeFamilyMember(
            episode_id=episode.id,
            person_id=m.person_id,
            role=m.role,
            relationship=m.relationship,
            # Kept from when they joined the family, so `added_at` is not rewritten by each PUT.
            added_at=current[m.person_id].added_at if m.person_id in current else ctx.now,
        )
        for m in body.members
    ]
    await repo.replace_family(ctx.session, episode.id, members)
    touch(episode)
    await ctx.session.flush()
    return [FamilyMemberRead.model_validate(m) for m in await repo.family_members(ctx.session, episode.id)]


async def members_of(ctx: Context, episode_id: str) -> list[FamilyMemberRead]:
    return [FamilyMemberRead.model_validate(m) for m in await repo.family_members(ctx.session, episode_id)]


async def family(ctx: Context, episode_id: str) -> FamilyRead:
    episode, access = await visible_episode(ctx, episode_id)
    members = await repo.family_members(ctx.session, episode.id)
    try:
        details = await ctx.runtime.referrals().people_details([m.person_id for m in members])
    except ReferralsUnavailable as exc:
        log.warning("people details unavailable", extra={"error": str(exc)})
        raise PeopleCheckUnavailable(
            "The referrals service cannot give the family's details right now; try again shortly",
            headers={"Retry-After": "2"},
        ) from None
    ctx.viewer.disclosed(access, "family", episode.id)
    return FamilyRead(
        episode_id=episode.id,
        members=[
            FamilyPersonRead(
                person_id=m.person_id,
                role=m.role,  # type: ignore[arg-type]
                relationship=m.relationship,  # type: ignore[arg-type]
                given_name=details.get(m.person_id, {}).get("given_name"),
                family_name=details.get(m.person_id, {}).get("family_name"),
                date_of_birth=details.get(m.person_id, {}).get("date_of_birth"),
                unborn_expected_on=details.get(m.person_id, {}).get("unborn_expected_on"),
            )
            for m in members
        ],
    )
