"""Domain errors of the assessments service, each with a stable problem `type`."""

from __future__ import annotations

from typing import Any

from shared.problems import Conflict, NotFound, Problem, ServiceUnavailable


class EpisodeClosed(Conflict):
    type_slug, title = "episode-closed", "Episode closed"

    def __init__(self) -> None:
        super().__init__("This episode is closed and read-only")


class NotAStepDown(Conflict):
    type_slug, title = "not-a-step-down", "Not a step-down episode"


class JointVisitAlreadyRecorded(Conflict):
    type_slug, title = "joint-visit-recorded", "Joint visit already recorded"


class StepUpInProgress(Conflict):
    type_slug, title = "step-up-in-progress", "Step-up in progress"


class UnknownPeople(Problem):
    """422 naming each `person_ids.<index>` the referrals service does not know."""

    status, type_slug, title = 422, "unknown-person", "Unknown person"

    def __init__(self, indexes: list[int]) -> None:
        message = "is not a person the referrals service knows"
        errors: list[dict[str, Any]] = [
            {"field": f"person_ids.{i}", "loc": ["person_ids", i], "message": message} for i in indexes
        ]
        fields = ", ".join(f"person_ids.{i}" for i in indexes)
        super().__init__(f"{fields}: {message}", errors=errors)


class PeopleCheckUnavailable(ServiceUnavailable):
    type_slug, title = "people-check-unavailable", "People check unavailable"


class ConsentCheckUnavailable(Problem):
    status, type_slug, title = 503, "consent-check-unavailable", "Consent check unavailable"


class EpisodeNotFound(NotFound):
    type_slug = "episode-not-found"


class AssessmentNotFound(NotFound):
    type_slug = "assessment-not-found"


class AssessmentInProgress(Conflict):
    type_slug, title = "assessment-in-progress", "An assessment is in progress"


class ReassessmentNotDue(Conflict):
    type_slug, title = "reassessment-not-due", "Reassessment not due"


class AssessmentWrongState(Conflict):
    type_slug, title = "assessment-state", "Not allowed in this assessment state"


class PlanNotSmart(Problem):
    """422 listing every faulty item (`outcomes.1.target_on`, `actions.0.owner.agency_id`...)."""

    status, type_slug, title = 422, "plan-not-smart", "Plan is not SMART"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        fields = ", ".join(e["field"] for e in errors)
        super().__init__(f"Not SMART: {fields}", errors=errors)


class PlanNotFound(NotFound):
    type_slug = "plan-not-found"


class ActionNotFound(NotFound):
    type_slug = "action-not-found"


class ActionSuperseded(Conflict):
    type_slug, title = "action-superseded", "Action not in the current plan"


class NoPlan(Conflict):
    type_slug, title = "no-plan", "No plan yet"


class ContactNotFound(NotFound):
    type_slug = "contact-not-found"


class NoteNotFound(NotFound):
    """No such note on this episode, or a restricted one the caller may not see."""

    type_slug = "note-not-found"
