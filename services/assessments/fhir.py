"""The FHIR R4 facade of the assessments service (issue 22, docs/fhir.md): an episode's Team
Around the Family as a `CareTeam`, its current plan as a `CarePlan` (outcomes as contained
`Goal`s, actions as activities) and each plan action as a `Task`.

Every read goes through the same rule functions as `/v1` (`episodes.visible_episode`,
`plans.read_plan`, the `Viewer`'s consent check), so a FHIR read is allowed, refused (404) and
noted as a disclosure exactly as the `/v1` read it stands for:

    GET /fhir/CareTeam/{episode_id}     as GET /v1/episodes/{id}        (disclosure `episode`)
    GET /fhir/CarePlan/{episode_id}     as GET /v1/episodes/{id}/plan   (disclosure `plan`)
    GET /fhir/Task/{action_id}          the action in the newest plan that has it (`plan`)
    GET /fhir/Task?focus=CarePlan/{id}  the current plan's actions (`plan`)

The episode's children are referenced by their person index id (`.../Id/person`), in a
contained `Group` that is the resource's subject: FHIR's subject is one reference, an episode
is for one or more children.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from services.assessments import plans
from services.assessments import repository as repo
from services.assessments.context import Context
from services.assessments.episodes import visible_episode
from services.assessments.errors import ActionNotFound, EpisodeNotFound, PlanNotFound
from services.assessments.models import Episode
from services.assessments.schemas import ActionRead, OutcomeRead, PlanRead
from shared.fhir import eh_system
from shared.problems import ValidationProblem

PERSON_ID = eh_system("Id/person")
AGENCY_ID = eh_system("Id/agency")
PRACTITIONER_ID = eh_system("Id/practitioner")
EPISODE_REFERENCE = eh_system("Id/episode-reference")
PLAN_ID = eh_system("Id/plan")
HEADLINE = eh_system("CodeSystem/supporting-families-headline")
TAF_ROLE = eh_system("CodeSystem/taf-role")
BASELINE_EXTENSION = eh_system("StructureDefinition/goal-baseline")

# /v1 action status -> CarePlan.activity.detail.status and Task.status.
ACTIVITY_STATUS = {"open": "not-started", "in_progress": "in-progress", "completed": "completed"}
TASK_STATUS = {"open": "ready", "in_progress": "in-progress", "completed": "completed"}
SUBJECT = {"reference": "#children", "display": "The episode's children"}


def _children(person_ids: list[str]) -> dict[str, Any]:
    """The episode's children as a contained Group (the subject of every resource here)."""
    return {
        "resourceType": "Group",
        "id": "children",
        "type": "person",
        "actual": True,
        "quantity": len(person_ids),
        "member": [
            {"entity": {"type": "Patient", "identifier": {"system": PERSON_ID, "value": p}}}
            for p in person_ids
        ],
    }


def _org(agency_id: str | None, display: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"type": "Organization", "identifier": {"system": AGENCY_ID, "value": agency_id}}
    if display:
        ref["display"] = display
    return ref


def _practitioner(practitioner_id: str) -> dict[str, Any]:
    return {"type": "Practitioner", "identifier": {"system": PRACTITIONER_ID, "value": practitioner_id}}


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# ---- CareTeam ----


def _role(local_id: str, code: str, text: str, agency_id: str, practitioner_id: str | None) -> dict[str, Any]:
    role: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": local_id,
        "organization": _org(agency_id),
        "code": [{"coding": [{"system": TAF_ROLE, "code": code}], "text": text}],
    }
    if practitioner_id:
        role["practitioner"] = _practitioner(practitioner_id)
    return role


async def care_team(ctx: Context, episode_id: str) -> dict[str, Any]:
    """The episode's TAF (as `GET /v1/episodes/{id}` shows it, and noted as that read is)."""
    episode, access = await visible_episode(ctx, episode_id)
    ctx.viewer.disclosed(access, "episode", episode.id)
    lead = await repo.current_lead(ctx.session, episode.id)
    contained: list[dict[str, Any]] = [_children(access.person_ids)]
    participants: list[dict[str, Any]] = []
    if lead is not None:
        role = _role("lead", "lead_professional", "Lead professional", lead.agency_id, lead.practitioner_id)
        role["telecom"] = [{"system": "email", "value": lead.email}]
        if lead.phone:
            role["telecom"].append({"system": "phone", "value": lead.phone})
        contained.append(role)
        participants.append(
            {
                "role": role["code"],
                "member": {"reference": "#lead", "display": lead.name},
                "onBehalfOf": _org(lead.agency_id),
                "period": {"start": _iso(lead.assigned_at)},
            }
        )
    for i, m in enumerate(await repo.taf_members(ctx.session, episode.id)):
        role = _role(f"member-{i}", "member", m.role, m.agency_id, m.practitioner_id)
        contained.append(role)
        participants.append(
            {
                "role": role["code"],
                "member": {"reference": f"#member-{i}", "display": m.name},
                "onBehalfOf": _org(m.agency_id),
                "period": {"start": _iso(m.added_at)},
            }
        )
    out: dict[str, Any] = {
        "resourceType": "CareTeam",
        "id": episode.id,
        "meta": {"versionId": str(episode.version)},
        "contained": contained,
        "identifier": [{"system": EPISODE_REFERENCE, "value": episode.reference}],
        "status": "active" if episode.status == "open" else "inactive",
        "category": [{"text": "Team Around the Family"}],
        "name": f"Team Around the Family {episode.reference}",
        "subject": SUBJECT,
        "period": {"start": _iso(episode.opened_at)},
    }
    if episode.closed_at is not None:
        out["period"]["end"] = _iso(episode.closed_at)
    if participants:
        out["participant"] = participants
    return out


# ---- CarePlan and Task ----


def _goal(o: OutcomeRead) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "id": f"goal-{o.id}",
        "identifier": [{"system": eh_system("Id/outcome"), "value": o.id}],
        "lifecycleStatus": "active",
        "category": [{"coding": [{"system": HEADLINE, "code": o.headline}]}],
        "description": {"text": o.description},
        "subject": SUBJECT,
        "target": [{"measure": {"text": o.measure}, "detailString": o.target, "dueDate": _iso(o.target_on)}],
        "extension": [{"url": BASELINE_EXTENSION, "valueString": o.baseline}],
    }


def _owner(a: ActionRead) -> dict[str, Any]:
    """The action's owner: its practitioner when it names one, else its agency."""
    if a.owner.practitioner_id:
        ref = _practitioner(a.owner.practitioner_id)
        if a.owner.name:
            ref["display"] = a.owner.name
        return ref
    return _org(a.owner.agency_id, a.owner.name)


def _activity(a: ActionRead) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "kind": "Task",
        "status": ACTIVITY_STATUS[a.status],
        "description": a.description,
        "performer": [_owner(a)],
        "scheduledPeriod": {"end": _iso(a.due_on)},
        "goal": [{"reference": f"#goal-{ref}"} for ref in a.outcome_refs],
    }
    activity: dict[str, Any] = {"id": a.id, "detail": detail}
    if a.progress_notes:
        activity["progress"] = [{"text": a.progress_notes}]
    return activity


def care_plan_resource(episode: Episode, person_ids: list[str], plan: PlanRead) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": episode.id,
        "meta": {"versionId": str(plan.version)},
        "contained": [_children(person_ids), *[_goal(o) for o in plan.outcomes]],
        "identifier": [{"system": PLAN_ID, "value": plan.id}],
        "status": "active" if episode.status == "open" else "completed",
        "intent": "plan",
        "title": f"Family plan {episode.reference}, version {plan.version}",
        "subject": SUBJECT,
        "created": _iso(plan.agreed_at),
        "period": {"start": _iso(plan.agreed_at)},
        "careTeam": [{"reference": f"CareTeam/{episode.id}"}],
        "goal": [{"reference": f"#goal-{o.id}"} for o in plan.outcomes],
        "activity": [_activity(a) for a in plan.actions],
    }


async def _current_plan(ctx: Context, episode_id: str) -> tuple[Episode, list[str], PlanRead]:
    """The episode's current plan, read (and noted) as `GET /v1/episodes/{id}/plan` is."""
    plan = await plans.read_plan(ctx, episode_id, None)
    episode = await repo.get_episode(ctx.session, episode_id)
    assert episode is not None  # read_plan found it visible
    return episode, await repo.person_ids(ctx.session, episode_id), plan


async def care_plan(ctx: Context, episode_id: str) -> dict[str, Any]:
    episode, people, plan = await _current_plan(ctx, episode_id)
    return care_plan_resource(episode, people, plan)


def task_resource(episode: Episode, person_ids: list[str], plan: PlanRead, a: ActionRead) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Task",
        "id": a.id,
        "contained": [_children(person_ids)],
        "basedOn": [{"reference": f"CarePlan/{episode.id}"}],
        "status": TASK_STATUS[a.status],
        "intent": "plan",
        "description": a.description,
        "focus": {"reference": f"CarePlan/{episode.id}"},
        "for": SUBJECT,
        "authoredOn": _iso(plan.agreed_at),
        "owner": _owner(a),
        "restriction": {"period": {"end": _iso(a.due_on)}},
        "reasonCode": {
            "coding": [
                {"system": HEADLINE, "code": o.headline} for o in plan.outcomes if o.id in set(a.outcome_refs)
            ]
        },
    }
    if not out["reasonCode"]["coding"]:
        del out["reasonCode"]
    if a.completed_at is not None:
        out["executionPeriod"] = {"end": _iso(a.completed_at)}
    if a.progress_notes:
        out["note"] = [{"text": a.progress_notes}]
    return out


async def task(ctx: Context, action_id: str) -> dict[str, Any]:
    """A plan action as a Task: the action in the newest plan version that has it, for whoever
    may see its episode (404 otherwise, as `PATCH /v1/actions/{id}`); noted as a plan read."""
    found = await repo.action_in_latest_plan(ctx.session, action_id)
    if found is None:
        raise ActionNotFound("No such action")
    row, plan_row = found
    episode = await repo.get_episode(ctx.session, plan_row.episode_id)
    access = None
    if episode is not None:
        access, _ = await ctx.viewer.check(ctx.session, episode)
    if access is None or episode is None:
        raise ActionNotFound("No such action")
    ctx.viewer.disclosed(access, "plan", plan_row.id)
    plan = await plans.plan_read(ctx, plan_row)
    action = next(a for a in plan.actions if a.id == row.action_id)
    return task_resource(episode, access.person_ids, plan, action)


def focus_episode(focus: str) -> str:
    """The episode id of a `focus=CarePlan/<episode id>` search value."""
    kind, slash, episode_id = focus.rpartition("/")
    if not slash or not kind.endswith("CarePlan") or not episode_id:
        raise ValidationProblem("focus", "search by the plan: focus=CarePlan/<episode id>")
    return episode_id


async def tasks_of_plan(ctx: Context, focus: str) -> list[dict[str, Any]]:
    """The current plan's actions as Tasks. An episode the caller may not see, or one with no
    plan, finds nothing (an empty Bundle, as a partner's ServiceRequest search)."""
    episode_id = focus_episode(focus)
    try:
        episode, people, plan = await _current_plan(ctx, episode_id)
    except (EpisodeNotFound, PlanNotFound):
        return []
    return [task_resource(episode, people, plan, a) for a in plan.actions]
