"""The FHIR R4 facade of the notifications service (issue 22, docs/fhir.md): a deadline as a
`Task`.

    GET /fhir/Task/deadline-{deadline_id}   the deadline `GET /v1/deadlines` lists
    GET /fhir/Task?focus=|status=|business-status=|code=   deadlines searched as Tasks

The search is sent here by the gateway when its query names `code` or `business-status`, or a
`focus` on a deadline's subject (`ServiceRequest/`, `CareTeam/`, `Task/`); a plan-action search
(`focus=CarePlan/<episode id>`) goes to assessments (gateway/routes/notifications.py).

The `deadline-` prefix keeps these Tasks apart from the plan-action Tasks of the assessments
service (`GET /fhir/Task/{action_id}`): the gateway's route table matches the longer literal
template first and sends them here. The read takes the scope of `GET /v1/deadlines`
(`deadlines:read`) and, as that list, shows every deadline to its holders (policy.py). No
email address leaves: the owner is the assignee's agency, else the rule's team.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select

from services.notifications.errors import DeadlineNotFound
from services.notifications.models import Deadline
from services.notifications.service import Context
from shared.fhir import eh_system, token
from shared.problems import ValidationProblem

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


# ---- search: GET /fhir/Task?focus=|status=|business-status=|code=|_count= ----

SEARCH_CAP = 50  # as the other FHIR searches: at most 50 in one Bundle, no next page
FOCUS_TYPES = {fhir_type: subject for subject, fhir_type in SUBJECT.items()}
DEADLINE_STATUS_OF_TASK = {task_status: status for status, task_status in TASK_STATUS.items()}
BUSINESS_STATUSES = ("open", "overdue", "met", "cancelled")


def _values(raw: str | None) -> list[str]:
    """A FHIR search value: a comma means OR (`business-status=open,overdue`)."""
    return [v for v in (raw or "").split(",") if v] if raw is not None else []


def _codes(raw: str | None, param: str, system: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    """The codes of a token parameter; a system, if given, must be this API's."""
    codes = []
    for value in _values(raw):
        given, code = token(value, param)
        if given not in (None, system):
            raise ValidationProblem(param, f"the system is {system}")
        if allowed is not None and code not in allowed:
            raise ValidationProblem(param, f"one of {', '.join(allowed)}")
        codes.append(code)
    if raw is not None and not codes:
        raise ValidationProblem(param, "a value is needed")
    return codes


def _focus(raw: str | None) -> list[tuple[str, str]]:
    """(subject type, subject id) of each `focus` reference: `ServiceRequest/<referral id>`,
    `CareTeam/<episode id>`, `Task/<action id>` (a full URL ending so is taken too)."""
    out = []
    for value in _values(raw):
        kind, _, subject_id = value.rstrip("/").rpartition("/")
        subject = FOCUS_TYPES.get(kind.rsplit("/", 1)[-1])
        if subject is None or not subject_id:
            raise ValidationProblem(
                "focus",
                "a deadline's focus: ServiceRequest/<referral id>, CareTeam/<episode id> or "
                "Task/<action id> (a plan's actions: focus=CarePlan/<episode id> alone)",
            )
        out.append((subject, subject_id))
    if raw is not None and not out:
        raise ValidationProblem("focus", "a value is needed")
    return out


def search_query(
    now: datetime,
    *,
    focus: str | None,
    status: str | None,
    business_status: str | None,
    code: str | None,
) -> Select[Any]:
    """The deadlines the search names (each parameter ANDed, each comma-separated value ORed),
    soonest due first, as `GET /v1/deadlines`."""
    stmt = select(Deadline)
    subjects = _focus(focus)
    if subjects:
        stmt = stmt.where(
            or_(*(and_(Deadline.subject_type == t, Deadline.subject_id == i) for t, i in subjects))
        )
    statuses = _codes(status, "status", "http://hl7.org/fhir/task-status", tuple(DEADLINE_STATUS_OF_TASK))
    if statuses:
        stmt = stmt.where(Deadline.status.in_([DEADLINE_STATUS_OF_TASK[s] for s in statuses]))
    wanted = _codes(business_status, "business-status", DEADLINE_STATUS, BUSINESS_STATUSES)
    if wanted:
        either = []
        for b in set(wanted):
            if b == "overdue":
                either.append(and_(Deadline.status == "open", Deadline.due_at <= now))
            elif b == "open":
                either.append(and_(Deadline.status == "open", Deadline.due_at > now))
            else:
                either.append(Deadline.status == b)
        stmt = stmt.where(or_(*either))
    kinds = _codes(code, "code", DEADLINE_KIND)
    if kinds:
        stmt = stmt.where(Deadline.kind.in_(kinds))
    return stmt.order_by(Deadline.due_at, Deadline.id)


async def search(
    ctx: Context,
    *,
    focus: str | None = None,
    status: str | None = None,
    business_status: str | None = None,
    code: str | None = None,
    count: int = SEARCH_CAP,
) -> list[dict[str, Any]]:
    """Deadlines as Tasks, for any `deadlines:read` holder (every deadline, as `GET /v1/deadlines`):
    at most `count` (1 to 50), soonest due first; more: `GET /v1/deadlines` with its cursor."""
    stmt = search_query(ctx.now, focus=focus, status=status, business_status=business_status, code=code)
    rows = (await ctx.session.scalars(stmt.limit(count))).all()
    return [task_of(d, ctx.now) for d in rows]
