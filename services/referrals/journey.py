"""A person's journey: referrals and decisions from here, the rest from the assessments service.

The assessments part is asked for with the caller's agency, so that service applies its own
rules (TAF membership, lawful sharing) and names what it withholds. If it cannot answer, the
referrals part still comes back, marked `incomplete` with the reason.
"""

from __future__ import annotations

import asyncio
from typing import Any

from services.referrals import people, policy
from services.referrals import repository as repo
from services.referrals.clients.assessments import AssessmentsClient, AssessmentsUnavailable, Timeline
from services.referrals.models import Referral
from services.referrals.schemas import JourneyItem, JourneyRead, Unavailable, Withheld
from services.referrals.service import Context


def assessments_client(ctx: Context) -> AssessmentsClient:
    settings = ctx.settings
    return AssessmentsClient(
        ctx.runtime.client("assessments", settings.assessments_url),
        timeout=settings.journey_timeout_seconds,
    )


def referral_items(referral: Referral, view: policy.View) -> list[JourneyItem]:
    """The referral's events as this caller may see them (policy.view_of)."""
    base = {"source": "referrals", "referral_id": referral.id, "reference": referral.reference}
    raw: list[dict[str, Any]] = [
        {
            **base,
            "at": referral.received_at,
            "kind": "referral_received",
            "referral_type": referral.referral_type,
            "source_code": referral.source_code,
            "source_agency_id": referral.source_agency_id,
            "urgent": referral.urgent,
            "status": policy.shown_status(view, referral.status),
        }
    ]
    if (referral.status == "linked" or referral.requeued_at) and not view.own_only:
        raw.append(
            {
                **base,
                "at": referral.received_at,
                "kind": "referral_linked",
                "linked_referral_id": referral.linked_referral_id if view.links else None,
                "open_episode_id": referral.open_episode_id if view.open_episode else None,
            }
        )
    if referral.requeued_at and not view.own_only:
        raw.append(
            {
                **base,
                "at": referral.requeued_at,
                "kind": "referral_requeued",
                "reason": referral.requeue_reason,
                "decision_due_at": referral.decision_due_at,
            }
        )
    if referral.decided_at:
        raw.append(
            {
                **base,
                "at": referral.decided_at,
                "kind": "referral_decided",
                "level_of_need": referral.level_of_need,
                "outcome": referral.outcome,
                "rag": None if view.own_only else referral.rag,
                "decided_within_timescale": referral.decided_within_timescale,
                "episode_id": referral.episode_id,
            }
        )
    if referral.withdrawn_at:
        raw.append({**base, "at": referral.withdrawn_at, "kind": "referral_withdrawn"})
    return [JourneyItem.model_validate(item) for item in raw]


async def journey(ctx: Context, person_id: str) -> JourneyRead:
    await people.get(ctx, person_id)
    survivor = await repo.canonical_id(ctx.session, person_id)
    # Episodes were opened under whichever id the person had then: ask for each of them.
    ids = sorted(await repo.merged_into(ctx.session, survivor))
    items: list[JourneyItem] = []
    withheld: list[Withheld] = []
    view = policy.view_of(ctx.identity)
    for referral in await repo.referrals_naming(ctx.session, survivor):
        if policy.may_read(ctx.identity, referral):
            items.extend(referral_items(referral, view))
        else:
            withheld.append(
                Withheld.model_validate(
                    {
                        "source": "referrals",
                        "kind": "referral",
                        "reason": "submitted by another agency; partner agencies see only their own referrals",
                    }
                )
            )
    unavailable: list[Unavailable] = []
    client = assessments_client(ctx)
    answers = await asyncio.gather(
        *(
            client.timeline(pid, agency_id=ctx.identity.agency_id, agency_type=ctx.identity.agency_type)
            for pid in ids
        ),
        return_exceptions=True,
    )
    for answer in answers:
        if isinstance(answer, Timeline):
            items.extend(answer.items)
            withheld.extend(answer.withheld)
        elif isinstance(answer, AssessmentsUnavailable):
            unavailable.append(
                Unavailable(part="assessments", reason=f"the assessments service did not answer ({answer})")
            )
        else:
            raise answer
    items.sort(key=lambda i: (i.at, i.kind))
    return JourneyRead(
        person_id=survivor,
        items=items,
        withheld=withheld,
        incomplete=bool(unavailable),
        unavailable=unavailable[:1],
    )
