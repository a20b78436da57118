"""What each received event does: deadlines opened/met/moved/cancelled, projections, front-door alerts.

Module-level handlers, each called with the runtime (its working-day calendar, the early help
managers' email), the receiver's session and the envelope; `main.py` binds the `HANDLERS`
table to the runtime (`shared.runtime.bind_handlers`). Each acts as the service itself
(`Context.for_system`) at the moment it runs, and passes that context to the deadline engine.
The shared receiver applies each event id once, in one transaction with the handler.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import change_feed, policy
from services.notifications.channels.feed import Alert, AlertWriter
from services.notifications.deadlines import service as deadlines
from services.notifications.models import EpisodeLink, EpisodePerson
from services.notifications.runtime import NotificationsRuntime
from services.notifications.service import Context
from shared.clock import LONDON, parse_date, parse_datetime
from shared.db import conflict_insert, is_postgres_session
from shared.events import EventEnvelope
from shared.runtime import RuntimeHandler


def end_of_day(day: date | str) -> datetime:
    """A deadline "on" a date is met by the end of that day in London: due at 00:00 the next day."""
    return datetime.combine(parse_date(day) + timedelta(days=1), time(0, 0), tzinfo=LONDON).astimezone(UTC)


async def _episode_link(session: AsyncSession, episode_id: str) -> EpisodeLink:
    link = await session.get(EpisodeLink, episode_id)
    if link is None:
        link = EpisodeLink(episode_id=episode_id)
        session.add(link)
    return link


def when(ctx: Context, data: dict[str, Any], *keys: str) -> datetime:
    """The first of `keys` present in the event's data, else now."""
    for key in keys:
        if data.get(key):
            return parse_datetime(data[key])
    return ctx.now


# --- referrals ---
async def referral_received(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    d = e.data
    await deadlines.open(
        ctx,
        "front_door_decision",
        subject_type="referral",
        subject_id=d["referral_id"],
        start=when(ctx, d, "received_at"),
        referral_id=d["referral_id"],
        reference=d.get("reference"),
    )
    await change_feed.referral_changed(ctx, "referral.received", d)


async def _tell_referrer(ctx: Context, d: dict[str, Any]) -> None:
    """The outcome alert (`referral.decided`) to the agency that sent the referral `d` names."""
    if not d.get("source_agency_id"):
        return
    writer = AlertWriter(ctx.session, ctx.now, ctx.runtime.settings)
    await writer.add(
        Alert(
            kind="referral.decided",
            title="Outcome of your referral",
            **policy.referral_outcome_to(d["source_agency_id"]),
            referral_id=d["referral_id"],
            reference=d.get("reference"),
            data={"outcome": d.get("outcome")},
        )
    )
    await writer.flush()


async def referral_decided(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    d = e.data
    await deadlines.meet(ctx, "front_door_decision", d["referral_id"], when(ctx, d, "decided_at"))
    await _tell_referrer(ctx, d)


async def referral_requeued(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    """A linked referral back in the MASH queue: its front-door decision is due again, counted
    by the rule from the moment it was re-queued."""
    ctx = Context.for_system(s, rt)
    d = e.data
    await deadlines.reopen(
        ctx,
        "front_door_decision",
        subject_type="referral",
        subject_id=d["referral_id"],
        start=when(ctx, d, "requeued_at"),
        referral_id=d["referral_id"],
        reference=d.get("reference"),
    )


async def referral_linked_outcome(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    """A referral parked on another that was decided: its referrer gets the outcome alert the
    first referrer got (`referral.decided`), about its own referral (policy.referral_outcome_to)."""
    ctx = Context.for_system(s, rt)
    d = e.data
    await _tell_referrer(ctx, d)


async def referral_linked(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    d = e.data
    await deadlines.meet(ctx, "front_door_decision", d["referral_id"], e.occurred_at)
    episode_id = d.get("linked_episode_id")
    link = await s.get(EpisodeLink, episode_id) if episode_id else None
    writer = AlertWriter(ctx.session, ctx.now, ctx.runtime.settings)
    await writer.add(
        Alert(
            kind="referral.linked",
            title="A new referral was linked to your case",
            **policy.lead_professional_to(
                link.lead_agency_id if link else None, link.lead_email if link else None
            ),
            referral_id=d["referral_id"],
            episode_id=episode_id,
            reference=d.get("reference"),
        )
    )
    await writer.flush()


async def referral_withdrawn(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    d = e.data
    await deadlines.cancel(ctx, "front_door_decision", d["referral_id"], when(ctx, d, "withdrawn_at"))
    await change_feed.referral_changed(ctx, "referral.withdrawn", d)


async def safeguarding_concern(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    d = e.data
    writer = AlertWriter(ctx.session, ctx.now, ctx.runtime.settings)
    await writer.add(
        Alert(
            kind="referral.safeguarding_concern",
            title="Safeguarding concern: decide now",
            **policy.safeguarding_concern_to(),
            referral_id=d["referral_id"],
            reference=d.get("reference"),
        )
    )
    await writer.flush()


# --- assessments ---
async def episode_opened(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    d = e.data
    eid = d["episode_id"]
    # Upserts, not read-then-write: the link may exist already (a lead assigned, or the
    # episode closed, before this event arrived) and keeps what it has, which the
    # deadlines below copy (RETURNING hands it over). Two statements for five.
    insert = conflict_insert(is_postgres_session(s))
    upsert = insert(EpisodeLink).values(
        episode_id=eid, referral_id=d.get("referral_id"), reference=d.get("reference")
    )
    link = (
        await s.scalars(
            upsert.on_conflict_do_update(
                index_elements=["episode_id"],
                set_={"referral_id": upsert.excluded.referral_id, "reference": upsert.excluded.reference},
            )
            .returning(EpisodeLink)
            .execution_options(populate_existing=True)
        )
    ).one()
    people = sorted(set(d.get("person_ids") or []))
    if people:
        await s.execute(
            insert(EpisodePerson)
            .values([{"episode_id": eid, "person_id": pid} for pid in people])
            .on_conflict_do_nothing(index_elements=["episode_id", "person_id"])
        )
    opened = when(ctx, d, "opened_at")
    received = when(ctx, d, "referral_received_at", "opened_at")
    await deadlines.open_all(
        ctx,
        {
            "first_contact": (opened, None),
            "assessment_start": (received, None),
            "assessment_completion": (received, None),
        },
        subject_type="episode",
        subject_id=eid,
        episode_id=eid,
        referral_id=d.get("referral_id"),
        reference=d.get("reference"),
        link=link,
    )
    await change_feed.episode_opened(ctx, d)


async def lead_assigned(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    d = e.data
    link = await _episode_link(s, d["episode_id"])
    link.lead_email, link.lead_agency_id = d.get("email"), d.get("agency_id")
    await s.flush()
    await deadlines.assign(ctx, d["episode_id"], d.get("email"), d.get("agency_id"))
    await change_feed.lead_changed(ctx, d, link)


async def contact_recorded(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    d = e.data
    if d.get("first", True):
        await deadlines.meet(ctx, "first_contact", d["episode_id"], when(ctx, d, "contact_at"))


async def meet_then_open(ctx: Context, episode_id: str, at: datetime, *, met: str, then: str) -> None:
    """One step of an episode's timeline: its deadline `met` is met at `at`, and the next one,
    `then`, starts from that moment."""
    await deadlines.meet(ctx, met, episode_id, at)
    await deadlines.open(
        ctx, then, subject_type="episode", subject_id=episode_id, episode_id=episode_id, start=at
    )


async def assessment_started(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    await meet_then_open(
        ctx, e.data["episode_id"], when(ctx, e.data, "started_at"), met="assessment_start", then="plan_agreed"
    )


async def assessment_submitted(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    """Early help managers approve an EHA (not its author): tell them one awaits them.

    Addressed to the early help agency type's feed (where the council's early help
    managers work; this service keeps no practitioner directory) and its webhooks, plus the
    managers' email if configured. Ids only: no names, not even the author's.
    """
    ctx = Context.for_system(s, rt)
    d = e.data
    link = await s.get(EpisodeLink, d["episode_id"])
    if link is not None and link.closed_at is not None:
        return  # nothing to approve on a closed episode
    writer = AlertWriter(ctx.session, ctx.now, ctx.runtime.settings)
    await writer.add(
        Alert(
            kind="assessment.awaiting_approval",
            title="Early Help Assessment awaiting approval",
            **policy.awaiting_approval_to(rt.early_help_managers_email),
            episode_id=d["episode_id"],
            reference=link.reference if link else None,
            data={
                "assessment_id": d["assessment_id"],
                "author_practitioner_id": d.get("author_practitioner_id"),
                "submitted_at": when(ctx, d, "submitted_at").isoformat(),
            },
        )
    )
    await writer.flush()


async def assessment_extended(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    d = e.data
    await deadlines.move(ctx, "assessment_completion", d["episode_id"], end_of_day(d["new_due_on"]))


async def assessment_approved(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    await meet_then_open(
        ctx,
        e.data["episode_id"],
        when(ctx, e.data, "approved_at"),
        met="assessment_completion",
        then="reassessment",
    )


async def plan_agreed(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    await meet_then_open(
        ctx, e.data["episode_id"], when(ctx, e.data, "agreed_at"), met="plan_agreed", then="first_review"
    )
    await change_feed.plan_changed(ctx, e.data)


async def action_created(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    await change_feed.action_assigned(Context.for_system(s, rt), e.data)


async def action_completed(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    await change_feed.action_completed(Context.for_system(s, rt), e.data)


async def taf_member_added(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    await change_feed.taf_member_changed(Context.for_system(s, rt), "taf.member_added", e.data)


async def taf_member_removed(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    await change_feed.taf_member_changed(Context.for_system(s, rt), "taf.member_removed", e.data)


async def review_held(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    d = e.data
    eid = d["episode_id"]
    at = parse_datetime(d["held_on"] + "T12:00:00+00:00") if d.get("held_on") else ctx.now
    await deadlines.meet(ctx, "first_review", eid, at)
    # Reviews repeat: a review meets whatever next_review is open, never pre-meets a future one.
    await deadlines.meet(ctx, "next_review", eid, at, remember=False)
    due = end_of_day(d["next_review_on"]) if d.get("next_review_on") else None
    await deadlines.open(
        ctx, "next_review", subject_type="episode", subject_id=eid, episode_id=eid, start=at, due_at=due
    )


async def stepdown_opened(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    d = e.data
    # From the end of the panel day (23:59 London): due by the end of the 10th working day after it.
    panel_end = end_of_day(d["panel_on"]) - timedelta(minutes=1)
    await deadlines.open(
        ctx,
        "stepdown_joint_visit",
        subject_type="episode",
        subject_id=d["episode_id"],
        episode_id=d["episode_id"],
        start=panel_end,
    )


async def joint_visit_recorded(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    d = e.data
    await deadlines.meet(ctx, "stepdown_joint_visit", d["episode_id"], e.occurred_at)


async def episode_closed(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    d = e.data
    at = when(ctx, d, "closed_at")
    link = await _episode_link(s, d["episode_id"])
    link.closed_at = at
    await s.flush()
    await deadlines.cancel_episode(ctx, d["episode_id"], at)
    await change_feed.episode_closed(ctx, d, link)


# --- consent ---
async def consent_given(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    d = e.data
    await deadlines.open(
        ctx,
        "consent_review",
        subject_type="consent",
        subject_id=d["consent_id"],
        consent_id=d["consent_id"],
        start=when(ctx, d, "given_at"),
    )


async def consent_withdrawn(rt: NotificationsRuntime, s: AsyncSession, e: EventEnvelope) -> None:
    ctx = Context.for_system(s, rt)
    d = e.data
    await deadlines.cancel(ctx, "consent_review", d["consent_id"], when(ctx, d, "withdrawn_at"))
    episode_ids = (
        await s.scalars(select(EpisodePerson.episode_id).where(EpisodePerson.person_id == d["person_id"]))
    ).all()
    writer = AlertWriter(ctx.session, ctx.now, ctx.runtime.settings)
    for eid in sorted(set(episode_ids)):
        link = await s.get(EpisodeLink, eid)
        if link is None or link.closed_at is not None:
            continue
        await writer.add(
            Alert(
                kind="consent.withdrawn",
                title="Consent was withdrawn on your case",
                **policy.lead_professional_to(link.lead_agency_id, link.lead_email),
                episode_id=eid,
                consent_id=d["consent_id"],
                reference=link.reference,
            )
        )
    await writer.flush()


HANDLERS: dict[str, RuntimeHandler] = {
    "referral.received": referral_received,
    "referral.decided": referral_decided,
    "referral.linked": referral_linked,
    "referral.withdrawn": referral_withdrawn,
    "referral.safeguarding_concern": safeguarding_concern,
    "episode.opened": episode_opened,
    "lead_professional.assigned": lead_assigned,
    "contact.recorded": contact_recorded,
    "assessment.started": assessment_started,
    "assessment.submitted": assessment_submitted,
    "assessment.extended": assessment_extended,
    "assessment.approved": assessment_approved,
    "plan.agreed": plan_agreed,
    "action.created": action_created,
    "action.completed": action_completed,
    "taf.member_added": taf_member_added,
    "taf.member_removed": taf_member_removed,
    "review.held": review_held,
    "stepdown.opened": stepdown_opened,
    "joint_visit.recorded": joint_visit_recorded,
    "episode.closed": episode_closed,
    "consent.given": consent_given,
    "consent.withdrawn": consent_withdrawn,
    "referral.requeued": referral_requeued,
    "referral.linked_outcome": referral_linked_outcome,
}
