"""The change feed: a feed item (and its webhooks, and an email where one is known) for every
state change a partner acts on (issue 20, item 4), and the plan actions' due dates (item 5).

Each function is called by a handler in `handlers.py` with the handler's context and the
event's data, after the handler's own work (deadlines, projections). Who receives what is
`policy.py`'s; each item carries ids, codes and an `href` to the /v1 resource it is about,
which the receiver follows with its own access - never a name, an address or free text.

Actions' due dates are deadlines of kind `action_due` (subject: the action), assigned to the
owning agency rather than the lead professional: `plan.agreed` carries every action of the
new version, so a due date moved is moved, an action dropped or completed is closed, and a
new one opened (`action.created` opens it too: whichever arrives first).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from services.notifications import policy
from services.notifications.channels.feed import Alert, AlertWriter
from services.notifications.deadlines import repository as deadlines_repo
from services.notifications.deadlines import service as deadlines
from services.notifications.models import EpisodeLink
from services.notifications.service import Context
from shared.clock import LONDON, parse_date, parse_datetime

ACTION_DUE = "action_due"


def _episode_href(episode_id: str, tail: str = "") -> str:
    return f"/v1/episodes/{episode_id}{tail}"


async def _write(ctx: Context, alerts: list[Alert]) -> None:
    writer = AlertWriter(ctx.session, ctx.now, ctx.runtime.settings)
    for alert in alerts:
        await writer.add(alert)
    await writer.flush()


# --- referrals --------------------------------------------------------------------------------


async def referral_changed(ctx: Context, kind: str, d: dict[str, Any]) -> None:
    """`referral.received` or `referral.withdrawn`: the MASH and the referrer."""
    title = {"referral.received": "A referral was received", "referral.withdrawn": "A referral was withdrawn"}
    await _write(
        ctx,
        [
            Alert(
                kind=kind,
                title=title[kind],
                **policy.front_door_to(d.get("source_agency_id")),
                referral_id=d["referral_id"],
                reference=d.get("reference"),
                data={"href": f"/v1/referrals/{d['referral_id']}"},
            )
        ],
    )


# --- episodes and their team --------------------------------------------------------------------


async def episode_opened(ctx: Context, d: dict[str, Any]) -> None:
    eid = d["episode_id"]
    await _write(
        ctx,
        [
            Alert(
                kind="episode.opened",
                title="An early help episode was opened",
                **policy.early_help_to(),
                episode_id=eid,
                referral_id=d.get("referral_id"),
                reference=d.get("reference"),
                data={"href": _episode_href(eid)},
            )
        ],
    )


async def episode_closed(ctx: Context, d: dict[str, Any], link: EpisodeLink) -> None:
    eid = d["episode_id"]
    await _write(
        ctx,
        [
            Alert(
                kind="episode.closed",
                title="An early help episode was closed",
                **to,
                episode_id=eid,
                reference=link.reference,
                data={"href": _episode_href(eid), "reason": d.get("reason")},
            )
            for to in policy.team_to(link.lead_agency_id, link.lead_email, d.get("taf_agency_ids") or [])
        ],
    )


async def taf_member_changed(ctx: Context, kind: str, d: dict[str, Any]) -> None:
    """`taf.member_added` / `taf.member_removed`: the member's agency and the lead professional."""
    eid = d["episode_id"]
    link = await ctx.session.get(EpisodeLink, eid)
    lead_agency, lead_email = (link.lead_agency_id, link.lead_email) if link else (None, None)
    verb = "added to" if kind == "taf.member_added" else "removed from"
    targets = [policy.lead_professional_to(lead_agency, lead_email)]
    if d.get("agency_id") and d["agency_id"] != lead_agency:
        targets.append(policy.recipients(agency_id=d["agency_id"]))
    data = {
        "href": _episode_href(eid),
        "member_agency_id": d.get("agency_id"),
        "practitioner_id": d.get("practitioner_id"),
    }
    await _write(
        ctx,
        [
            Alert(
                kind=kind,
                title=f"An agency was {verb} the team around the family",
                **to,
                episode_id=eid,
                reference=link.reference if link else None,
                data=data,
            )
            for to in targets
        ],
    )


async def lead_changed(ctx: Context, d: dict[str, Any], link: EpisodeLink) -> None:
    eid = d["episode_id"]
    await _write(
        ctx,
        [
            Alert(
                kind="taf.lead_professional_changed",
                title="You are the lead professional of a case",
                **policy.lead_professional_to(d.get("agency_id"), d.get("email")),
                episode_id=eid,
                reference=link.reference,
                data={"href": _episode_href(eid), "practitioner_id": d.get("practitioner_id")},
            )
        ],
    )


# --- plans and actions ---------------------------------------------------------------------------


async def plan_changed(ctx: Context, d: dict[str, Any]) -> None:
    """A new plan version: the team hears of it, and the actions' due dates follow it."""
    eid = d["episode_id"]
    link = await ctx.session.get(EpisodeLink, eid)
    lead_agency, lead_email = (link.lead_agency_id, link.lead_email) if link else (None, None)
    await _write(
        ctx,
        [
            Alert(
                kind="plan.changed",
                title="The family's plan changed",
                **to,
                episode_id=eid,
                reference=link.reference if link else None,
                data={
                    "href": _episode_href(eid, "/plan"),
                    "plan_id": d.get("plan_id"),
                    "version": d.get("version"),
                },
            )
            for to in policy.team_to(lead_agency, lead_email, d.get("taf_agency_ids") or [])
        ],
    )
    if "actions" in d:  # sent by assessments since issue 20
        await sync_action_deadlines(ctx, eid, d["actions"])


async def sync_action_deadlines(ctx: Context, episode_id: str, actions: list[dict[str, Any]]) -> None:
    listed = {a["action_id"]: a for a in actions}
    for open_one in await deadlines_repo.open_deadlines(ctx.session, kind=ACTION_DUE, episode_id=episode_id):
        action = listed.get(open_one.subject_id)
        if action is None:  # dropped from the plan
            await deadlines.cancel(ctx, ACTION_DUE, open_one.subject_id, ctx.now)
        elif action.get("status") == "completed":
            await deadlines.meet(ctx, ACTION_DUE, open_one.subject_id, ctx.now)
        elif _end_of_day(action["due_on"]) != open_one.due_at:
            await deadlines.move(ctx, ACTION_DUE, open_one.subject_id, _end_of_day(action["due_on"]))
    for action in actions:
        if action.get("status") != "completed":
            await open_action_deadline(ctx, episode_id, action)


async def open_action_deadline(ctx: Context, episode_id: str, a: dict[str, Any]) -> None:
    d = await deadlines.open(
        ctx,
        ACTION_DUE,
        subject_type="action",
        subject_id=a["action_id"],
        episode_id=episode_id,
        start=ctx.now,
        due_at=_end_of_day(a["due_on"]),
    )
    if d is not None and d.status == "open":
        # The action's owner is reminded, not the lead professional (deadlines.assign skips it).
        d.assignee_agency_id, d.assignee_email = a["owner_agency_id"], None
        await ctx.session.flush()


async def action_assigned(ctx: Context, d: dict[str, Any]) -> None:
    eid = d["episode_id"]
    await open_action_deadline(ctx, eid, d)
    link = await ctx.session.get(EpisodeLink, eid)
    await _write(
        ctx,
        [
            Alert(
                kind="action.assigned",
                title="A plan action was assigned to your agency",
                **policy.action_owner_to(d["owner_agency_id"]),
                episode_id=eid,
                reference=link.reference if link else None,
                data={
                    "href": _episode_href(eid, "/plan"),
                    "action_id": d["action_id"],
                    "owner_practitioner_id": d.get("owner_practitioner_id"),
                    "due_on": d.get("due_on"),
                },
            )
        ],
    )


async def action_completed(ctx: Context, d: dict[str, Any]) -> None:
    at = parse_datetime(d["completed_at"]) if d.get("completed_at") else ctx.now
    await deadlines.meet(ctx, ACTION_DUE, d["action_id"], at)


def _end_of_day(day: str) -> datetime:
    """Due "on" a date: by the end of that day in London (as `handlers.end_of_day`)."""
    return datetime.combine(parse_date(day) + timedelta(days=1), time(0, 0), tzinfo=LONDON).astimezone(UTC)
