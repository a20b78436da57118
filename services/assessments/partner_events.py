"""Events partners act on that the core rules do not already send (issue 20, item 4).

Notifications turns them into feed items and webhooks addressed to the agencies concerned:
the TAF's agencies hear that the team, the plan or the episode changed. The data are ids and
codes only (`docs/contracts.md`): never a member's name, role text or anything about the family.
"""

from __future__ import annotations

from typing import Any

from services.assessments import repository as repo
from services.assessments.context import Context
from services.assessments.models import PlanAction, TafMember


async def taf_agency_ids(ctx: Context, episode_id: str) -> list[str]:
    """The agencies on the episode's TAF now (members not removed), each once, sorted."""
    return sorted({m.agency_id for m in await repo.taf_members(ctx.session, episode_id)})


async def taf_member_changed(ctx: Context, event: str, member: TafMember) -> None:
    """`taf.member_added` or `taf.member_removed`, after the change is flushed."""
    await ctx.publish(event, taf_member_data(event, member, await taf_agency_ids(ctx, member.episode_id)))


def taf_member_data(event: str, member: TafMember, agency_ids: list[str]) -> dict[str, Any]:
    """The data of `taf.member_added` or `taf.member_removed`; `agency_ids`: the agencies on
    the episode's TAF after the change (`taf_agency_ids`)."""
    at = member.removed_at if event == "taf.member_removed" else member.added_at
    assert at is not None
    return {
        "episode_id": member.episode_id,
        "member_id": member.id,
        "agency_id": member.agency_id,
        "agency_type": member.agency_type,
        "practitioner_id": member.practitioner_id,
        "changed_at": at.isoformat(),
        "taf_agency_ids": agency_ids,
    }


def plan_actions_data(actions: list[PlanAction]) -> list[dict[str, Any]]:
    """The plan version's actions as `plan.agreed` carries them (ids, owner ids, due dates)."""
    return [
        {
            "action_id": a.action_id,
            "owner_agency_id": a.owner_agency_id,
            "owner_practitioner_id": a.owner_practitioner_id,
            "due_on": a.due_on.isoformat(),
            "status": a.status,
        }
        for a in actions
    ]
