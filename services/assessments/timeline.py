"""The assessments part of a person's journey, served to the referrals service
(`GET /internal/people/{id}/timeline`): each visible episode's events, and what is withheld.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from services.assessments import repository as repo
from services.assessments.access import Viewer
from services.assessments.context import Context
from services.assessments.models import Episode
from services.assessments.schemas import Timeline, TimelineItem, Withheld
from shared.identity import Identity


async def person_timeline(ctx: Context, person_id: str, agency_id: str, agency_type: str) -> Timeline:
    """The assessments part of a person's journey as `agency_id` may see it. Withheld
    episodes are named with a reason and nothing else. Visible items are disclosures to
    that agency (unless it is early help), recorded like any read."""
    as_agency = Identity(
        sub=f"timeline:{agency_id}",
        client_id="timeline",
        agency_id=agency_id,
        agency_type=agency_type,
    )
    viewer = Viewer(as_agency, ctx.runtime)
    items: list[TimelineItem] = []
    withheld: list[Withheld] = []
    for episode in await repo.episodes_of_person(ctx.session, person_id):
        access, reason = await viewer.check(ctx.session, episode)
        if access is None:
            withheld.append(Withheld(episode_id=episode.id, reason=reason or "not_visible"))
            continue
        viewer.disclosed(access, "episode", episode.id)
        items.extend(await episode_events(ctx, episode))
    items.sort(key=lambda i: (i.at, i.kind))
    await viewer.store_disclosures()
    return Timeline(items=items, withheld=withheld)


def _at_day(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


async def episode_events(ctx: Context, episode: Episode) -> list[TimelineItem]:
    eid = episode.id
    kind = "stepdown_opened" if episode.origin == "step_down" else "episode_opened"
    out = [
        TimelineItem(
            at=episode.opened_at,
            kind=kind,
            episode_id=eid,
            reference=episode.reference,
            origin=episode.origin,
            level_of_need=episode.level_of_need,
            referral_id=episode.referral_id,
        )
    ]
    for lp in await repo.lead_history(ctx.session, eid):
        out.append(
            TimelineItem(
                at=lp.assigned_at,
                kind="lead_professional_assigned",
                episode_id=eid,
                agency_id=lp.agency_id,
            )
        )
    for a in await repo.assessments_of(ctx.session, eid):
        out.append(
            TimelineItem(at=a.started_at, kind="assessment_started", episode_id=eid, assessment_id=a.id)
        )
        if a.approved_at:
            out.append(
                TimelineItem(at=a.approved_at, kind="assessment_approved", episode_id=eid, assessment_id=a.id)
            )
    for p in await repo.plans_of(ctx.session, eid):
        out.append(
            TimelineItem(at=p.agreed_at, kind="plan_agreed", episode_id=eid, plan_id=p.id, version=p.version)
        )
    for r in await repo.reviews_of(ctx.session, eid):
        out.append(
            TimelineItem(
                at=_at_day(r.held_on),
                kind="review_held",
                episode_id=eid,
                review_id=r.id,
                next_review_on=r.next_review_on.isoformat(),
            )
        )
    for s in await repo.step_ups_of(ctx.session, eid):
        out.append(
            TimelineItem(
                at=s.requested_at,
                kind="stepped_up",
                episode_id=eid,
                step_up_id=s.id,
                referral_id=s.referral_id,
            )
        )
    if episode.joint_visit_held_on:
        out.append(TimelineItem(at=_at_day(episode.joint_visit_held_on), kind="joint_visit", episode_id=eid))
    if episode.closed_at:
        out.append(
            TimelineItem(
                at=episode.closed_at,
                kind="episode_closed",
                episode_id=eid,
                reason=episode.close_reason,
            )
        )
    return out
