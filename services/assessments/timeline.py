"""An episode's record in time: the assessments part of a person's journey, served to the
referrals service (`GET /internal/people/{id}/timeline`: each visible episode's events, and
what is withheld), and the episode's chronology (`GET /v1/episodes/{id}/chronology`, issue 20).

Both come from one merge, `episode_record`: one query per source (the opening, contacts, case
notes, lead professionals, TAF membership, assessments, plan versions, reviews, step-ups, the
joint visit and closure), reading ids, codes and times only, never a note's text. The person
timeline keeps the kinds and fields it always had (`PERSON_TIMELINE_KINDS`); the chronology
has every kind, each with a short summary made from codes and a link to its source.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from services.assessments import policy
from services.assessments import repository as repo
from services.assessments.access import Viewer
from services.assessments.context import Context
from services.assessments.episodes import visible_episode
from services.assessments.models import Episode
from services.assessments.schemas import (
    Chronology,
    ChronologyItem,
    ChronologySource,
    Timeline,
    TimelineItem,
    Withheld,
)
from shared.clock import parse_datetime
from shared.identity import Identity
from shared.pagination import PageParams, decode_cursor, encode_cursor
from shared.problems import ValidationProblem


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


@dataclass(frozen=True)
class Event:
    """One thing that happened on an episode. `detail` holds ids and codes only; for the kinds
    of the person timeline it is exactly that item's fields."""

    at: datetime
    kind: str
    source_type: str
    source_id: str
    href: str
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[datetime, str, str]:
        """A total order: the time, then the kind and the source's id for equal times."""
        return (self.at, self.kind, self.source_id)


# What the person timeline (served to the referrals service) has always shown.
PERSON_TIMELINE_KINDS = frozenset(
    {
        "episode_opened",
        "stepdown_opened",
        "lead_professional_assigned",
        "assessment_started",
        "assessment_approved",
        "plan_agreed",
        "review_held",
        "stepped_up",
        "joint_visit",
        "episode_closed",
    }
)
# The kinds each source yields: a source none of whose kinds is wanted is not queried.
_SOURCES: dict[str, frozenset[str]] = {
    "episode": frozenset({"episode_opened", "stepdown_opened", "joint_visit", "episode_closed"}),
    "contact": frozenset({"contact"}),
    "case_note": frozenset({"case_note"}),
    "lead": frozenset({"lead_professional_assigned"}),
    "taf": frozenset({"taf_member_added", "taf_member_removed"}),
    "assessment": frozenset(
        {"assessment_started", "assessment_submitted", "assessment_approved", "assessment_returned"}
    ),
    "plan": frozenset({"plan_agreed"}),
    "review": frozenset({"review_held"}),
    "step_up": frozenset({"stepped_up"}),
}
_ORIGINS = {"referral": "from a MASH referral", "self_referral": "by self-referral"}
_NOTE_KINDS = {
    "contact": "contact",
    "visit": "visit",
    "meeting": "meeting",
    "phone_call": "phone call",
    "other": "note",
}


def _words(code: str | None) -> str:
    return (code or "").replace("_", " ")


async def episode_record(
    ctx: Context,
    episode: Episode,
    *,
    kinds: Collection[str] | None = None,
    include_restricted: bool = False,
) -> list[Event]:
    """The episode's events of `kinds` (all when None), in source order (not sorted).
    Restricted case notes only with `include_restricted`."""
    eid = episode.id
    base = f"/v1/episodes/{eid}"
    wanted = frozenset(kinds) if kinds is not None else frozenset().union(*_SOURCES.values())

    def wants(source: str) -> bool:
        return bool(_SOURCES[source] & wanted)

    out: list[Event] = []
    if wants("episode"):
        kind = "stepdown_opened" if episode.origin == "step_down" else "episode_opened"
        how = "Step-down from social care" if episode.origin == "step_down" else "Episode"
        out.append(
            Event(
                episode.opened_at,
                kind,
                "episode",
                eid,
                base,
                f"{how} {episode.reference} opened {_ORIGINS.get(episode.origin, '')}".rstrip()
                + f"; level of need {_words(episode.level_of_need)}",
                {
                    "reference": episode.reference,
                    "origin": episode.origin,
                    "level_of_need": episode.level_of_need,
                    "referral_id": episode.referral_id,
                },
                {"referral": f"/v1/referrals/{episode.referral_id}"} if episode.referral_id else {},
            )
        )
    if wants("lead"):
        for lead_id, agency_id, assigned_at in await repo.chrono_leads(ctx.session, eid):
            out.append(
                Event(
                    assigned_at,
                    "lead_professional_assigned",
                    "lead_professional",
                    lead_id,
                    base,
                    f"Lead professional assigned (agency {agency_id})",
                    {"agency_id": agency_id},
                )
            )
    if wants("taf"):
        for member_id, agency_id, agency_type, added_at, removed_at in await repo.chrono_taf(
            ctx.session, eid
        ):
            detail = {"member_id": member_id, "agency_id": agency_id, "agency_type": agency_type}
            who = f"{_words(agency_type)} agency {agency_id}"
            out.append(
                Event(
                    added_at,
                    "taf_member_added",
                    "taf_member",
                    member_id,
                    base,
                    f"TAF: {who} joined",
                    detail,
                )
            )
            if removed_at is not None:
                out.append(
                    Event(
                        removed_at,
                        "taf_member_removed",
                        "taf_member",
                        member_id,
                        base,
                        f"TAF: {who} left",
                        detail,
                    )
                )
    if wants("assessment"):
        for a_id, started, submitted, approved, returned in await repo.chrono_assessments(ctx.session, eid):
            href, detail = f"/v1/assessments/{a_id}", {"assessment_id": a_id}
            for at, kind, what in (
                (started, "assessment_started", "started"),
                (submitted, "assessment_submitted", "submitted for approval"),
                (approved, "assessment_approved", "approved"),
                (returned, "assessment_returned", "returned for changes"),
            ):
                if at is not None:
                    out.append(
                        Event(at, kind, "assessment", a_id, href, f"Early Help Assessment {what}", detail)
                    )
    if wants("plan"):
        for plan_id, version, agreed_at in await repo.chrono_plans(ctx.session, eid):
            out.append(
                Event(
                    agreed_at,
                    "plan_agreed",
                    "plan",
                    plan_id,
                    f"{base}/plan/versions/{version}",
                    f"TAF plan version {version} agreed",
                    {"plan_id": plan_id, "version": version},
                )
            )
    if wants("review"):
        for review_id, held_on, next_on in await repo.chrono_reviews(ctx.session, eid):
            out.append(
                Event(
                    _at_day(held_on),
                    "review_held",
                    "review",
                    review_id,
                    f"{base}/reviews",
                    f"TAF review held; next review on {next_on.isoformat()}",
                    {"review_id": review_id, "next_review_on": next_on.isoformat()},
                )
            )
    if wants("step_up"):
        for step_up_id, requested_at, referral_id in await repo.chrono_step_ups(ctx.session, eid):
            out.append(
                Event(
                    requested_at,
                    "stepped_up",
                    "step_up",
                    step_up_id,
                    f"{base}/step-ups",
                    "Stepped up to the MASH (safeguarding referral)"
                    + ("" if referral_id else "; not yet confirmed"),
                    {"step_up_id": step_up_id, "referral_id": referral_id},
                    {"referral": f"/v1/referrals/{referral_id}"} if referral_id else {},
                )
            )
    if wants("contact"):
        for contact_id, contact_at, method, first in await repo.chrono_contacts(ctx.session, eid):
            out.append(
                Event(
                    contact_at,
                    "contact",
                    "contact",
                    contact_id,
                    f"{base}/contacts/{contact_id}",
                    f"Contact with the family ({_words(method)})" + (", the first" if first else ""),
                    {"method": method, "first": first},
                )
            )
    if wants("case_note"):
        notes = await repo.chrono_notes(ctx.session, eid, include_restricted=include_restricted)
        for note_id, occurred_at, note_kind, restricted, version in notes:
            out.append(
                Event(
                    occurred_at,
                    "case_note",
                    "case_note",
                    note_id,
                    f"{base}/notes/{note_id}",
                    f"Case note: {_NOTE_KINDS.get(note_kind, 'note')}"
                    + (" (restricted)" if restricted else "")
                    + (" (amended)" if version > 1 else ""),
                    {"note_kind": note_kind, "restricted": restricted, "version": version},
                )
            )
    if wants("episode") and episode.joint_visit_held_on:
        out.append(
            Event(
                _at_day(episode.joint_visit_held_on),
                "joint_visit",
                "episode",
                eid,
                base,
                "Step-down joint visit held",
            )
        )
    if wants("episode") and episode.closed_at:
        out.append(
            Event(
                episode.closed_at,
                "episode_closed",
                "episode",
                eid,
                base,
                f"Episode closed ({_words(episode.close_reason)})",
                {"reason": episode.close_reason},
            )
        )
    return [e for e in out if e.kind in wanted]


async def episode_events(ctx: Context, episode: Episode) -> list[TimelineItem]:
    """The episode's part of a person's journey (kinds and fields as they have always been)."""
    return [
        TimelineItem(at=e.at, kind=e.kind, episode_id=episode.id, **e.detail)
        for e in await episode_record(ctx, episode, kinds=PERSON_TIMELINE_KINDS)
    ]


# --- the chronology -------------------------------------------------------------------------


def _cursor_key(cursor: str) -> tuple[datetime, str, str]:
    at, rest = decode_cursor(cursor)
    kind, _, source_id = rest.partition("/")
    try:
        return parse_datetime(str(at)), kind, source_id
    except ValueError:
        raise ValidationProblem("cursor", "not a cursor this API issued") from None


async def chronology(
    ctx: Context,
    episode_id: str,
    params: PageParams,
    *,
    order: Literal["asc", "desc"] = "desc",
    kinds: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    changed_after: datetime | None = None,
) -> Chronology:
    """The episode's record, newest first (or `order=asc`), keyset-paginated on (at, kind,
    source id); `kinds`, `since` and `until` (both inclusive) filter. Read like the episode:
    404 when the caller may not see it, a disclosure when it is not early help. Restricted
    notes only for those who may read them (policy.may_read_restricted)."""
    if since is not None and until is not None and since > until:
        raise ValidationProblem("from", "is after `to`")
    episode, access = await visible_episode(ctx, episode_id)
    events = await episode_record(
        ctx,
        episode,
        kinds=kinds or None,
        include_restricted=policy.may_read_restricted(ctx.identity),
    )
    if since is not None:
        events = [e for e in events if e.at >= since]
    if until is not None:
        events = [e for e in events if e.at <= until]
    if changed_after is not None:  # `updated_since`: exclusive
        events = [e for e in events if e.at > changed_after]
    descending = order == "desc"
    events.sort(key=lambda e: e.key, reverse=descending)
    if params.cursor:
        after = _cursor_key(params.cursor)
        events = [e for e in events if (e.key < after if descending else e.key > after)]
    page = events[: params.limit]
    cursor = None
    if len(events) > params.limit:
        last = page[-1]
        cursor = encode_cursor(last.at, f"{last.kind}/{last.source_id}")
    ctx.viewer.disclosed(access, "chronology", episode.id)
    return Chronology(
        episode_id=episode.id,
        items=[
            ChronologyItem(
                at=e.at,
                kind=e.kind,  # type: ignore[arg-type]
                summary=e.summary,
                source=ChronologySource(type=e.source_type, id=e.source_id),
                href=e.href,
                links=e.links,
                detail=e.detail,
            )
            for e in page
        ],
        next_cursor=cursor,
    )
