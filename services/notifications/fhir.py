"""The FHIR R4 facade of the notifications service (issue 22, docs/fhir.md): a deadline as a
`Task`.

    GET /fhir/Task/deadline-{deadline_id}   the deadline `GET /v1/deadlines` lists

The `deadline-` prefix keeps these Tasks apart from the plan-action Tasks of the assessments
service (`GET /fhir/Task/{action_id}`): the gateway's route table matches the longer literal
template first and sends them here. The read takes the scope of `GET /v1/deadlines`
(`deadlines:read`) and, as that list, shows every deadline to its holders (policy.py). No
email address leaves: the owner is the assignee's agency, else the rule's team.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.notifications.errors import DeadlineNotFound
from services.notifications.models import Deadline
from services.notifications.service import Context
from shared.fhir import eh_system

TASK_PREFIX = "deadline-"
DEADLINE_ID = eh_system("Id/deadline")
DEADLINE_KIND = eh_system("CodeSystem/deadline-kind")
DEADLINE_STATUS = eh_system("CodeSystem/deadline-status")
AGENCY_ID = eh_system("Id/agency")
AGENCY_TYPE = eh_system("Id/agency-type")
REFERENCE = eh_system("Id/reference")

# Deadline status -> Task.status; an overdue deadline is still in progress, its
# businessStatus says `overdue`.
TASK_STATUS = {"open": "in-progress", "met": "completed", "cancelled": "cancelled"}
# The deadline's subject -> the facade's resource for it (the episode is its CareTeam; a
# consent or a plan action has none yet, so only its identifier is given).
SUBJECT = {"referral": "ServiceRequest", "episode": "CareTeam", "action": "Task"}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _subject(d: Deadline) -> dict[str, Any]:
    kind = SUBJECT.get(d.subject_type)
    if kind is not None:
        return {"reference": f"{kind}/{d.subject_id}"}
    return {"identifier": {"system": eh_system(f"Id/{d.subject_type}"), "value": d.subject_id}}


def _owner(d: Deadline) -> dict[str, Any]:
    if d.assignee_agency_id:
        return {"type": "Organization", "identifier": {"system": AGENCY_ID, "value": d.assignee_agency_id}}
    return {
        "type": "Organization",
        "identifier": {"system": AGENCY_TYPE, "value": d.team},
        "display": f"The {d.team} team",
    }


def business_status(d: Deadline, now: datetime) -> str:
    if d.status == "open":
        return "overdue" if d.due_at <= now else "open"
    return d.status


def task_of(d: Deadline, now: datetime) -> dict[str, Any]:
    """A deadline as a FHIR R4 Task."""
    state = business_status(d, now)
    period: dict[str, Any] = {"start": _iso(d.opened_at)}
    ended = d.met_at or d.cancelled_at
    if ended is not None:
        period["end"] = _iso(ended)
    out: dict[str, Any] = {
        "resourceType": "Task",
        "id": TASK_PREFIX + d.id,
        "identifier": [{"system": DEADLINE_ID, "value": d.id}],
        "status": TASK_STATUS.get(d.status, "in-progress"),
        "businessStatus": {"coding": [{"system": DEADLINE_STATUS, "code": state}], "text": state},
        "intent": "order",
        "code": {"coding": [{"system": DEADLINE_KIND, "code": d.kind}], "text": d.kind.replace("_", " ")},
        "focus": _subject(d),
        "for": _subject(d),
        "authoredOn": _iso(d.opened_at),
        "lastModified": _iso(d.updated_at),
        "executionPeriod": period,
        "restriction": {"period": {"end": _iso(d.due_at)}},
        "owner": _owner(d),
    }
    if d.reference:
        out["groupIdentifier"] = {"system": REFERENCE, "value": d.reference}
    return out


async def task(ctx: Context, deadline_id: str) -> dict[str, Any]:
    """The deadline as a Task, for any `deadlines:read` holder (as `GET /v1/deadlines`)."""
    d = await ctx.session.get(Deadline, deadline_id)
    if d is None:
        raise DeadlineNotFound(f"No deadline {deadline_id}")
    return task_of(d, ctx.now)
