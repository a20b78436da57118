"""Request and response schemas of the assessments service (Pydantic only).

Request models forbid unknown fields and bound every text. SMART rules on plans (owners, due
dates, measures, headlines) are checked in `service.py` so the 422 names the faulty item
with the `plan-not-smart` problem type; Pydantic only checks shapes here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast
from uuid import UUID

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    GetJsonSchemaHandler,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from shared.codes import HEADLINES
from shared.imports import MAX_BATCH, ImportedItem, SourceId
from shared.validation import CleanName, IsoDate, IsoUtcDatetime

# NFC, no invisible characters, bidi controls refused (shared.validation.clean_name).
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), CleanName]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
LongText = Annotated[str, StringConstraints(max_length=8000)]
AgencyId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=40)]
PractitionerId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]

LevelOfNeed = Literal["universal", "universal_plus", "partnership_plus", "specialist"]
CloseReason = Literal[
    "needs_met", "stepped_up", "consent_withdrawn", "moved_away", "disengaged", "no_longer_eligible"
]
EpisodeStatus = Literal["open", "closed"]
EpisodeOrigin = Literal["referral", "step_down", "self_referral"]
ContactMethod = Literal["home_visit", "phone", "video", "office", "school", "other"]
AssessmentStatus = Literal["draft", "submitted", "approved", "returned"]
ActionStatus = Literal["open", "in_progress", "completed"]
AgencyType = Literal[
    "mash",
    "early_help",
    "social_care",
    "education",
    "health",
    "police",
    "housing",
    "voluntary",
    "youth_justice",
    "local_authority_other",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sparse(BaseModel):
    """A section read back as the caller sent it: a key the caller never sent stays absent
    (requests are stored with `exclude_unset`), so the read shows exactly what was stored."""

    @model_serializer(mode="wrap")
    def _only_what_was_sent(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        return {key: value for key, value in data.items() if key in self.model_fields_set}

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # The document shows the fields: the serializer only leaves out those never sent.
        return handler(cast(CoreSchema, {k: v for k, v in core_schema.items() if k != "serialization"}))


# --- episodes -------------------------------------------------------------------------------


class SocialWorker(Strict):
    name: Name
    email: EmailStr
    phone: Phone | None = None
    agency_id: AgencyId | None = None


class SocialWorkerRead(BaseModel):
    name: str
    email: str
    phone: str | None
    agency_id: str | None


class EpisodeCreate(Strict):
    origin: Literal["step_down", "self_referral"]
    person_ids: list[UUID] = Field(min_length=1, max_length=20)
    level_of_need: LevelOfNeed = "partnership_plus"
    stepdown_panel_on: IsoDate | None = Field(
        default=None, description="Required when `origin` is `step_down` (422 naming it otherwise)"
    )
    social_worker: SocialWorker | None = Field(
        default=None,
        description="The social worker handing over: required when `origin` is `step_down`",
    )
    social_work_assessment_ref: Short | None = Field(
        default=None, description="The social work assessment handed over, so the family need not retell it"
    )


class LeadProfessionalSet(Strict):
    name: Name
    agency_id: AgencyId
    email: EmailStr
    phone: Phone | None = None
    family_agreed: bool = Field(description="The family's agreement is recorded and required (false is 422)")
    practitioner_id: PractitionerId | None = Field(
        default=None, description="The registered practitioner who is the lead professional"
    )
    manager_delegates: bool = Field(
        default=False,
        description="The lead professional may manage the TAF and plan and step up (set by an early help manager)",
    )


class LeadProfessionalRead(BaseModel):
    id: str
    name: str
    agency_id: str
    email: str
    phone: str | None
    family_agreed: bool
    practitioner_id: str | None = None
    manager_delegates: bool = False
    assigned_at: datetime
    ended_at: datetime | None


class TafMemberCreate(Strict):
    agency_id: AgencyId
    agency_type: AgencyType
    name: Name
    role: Name
    practitioner_id: PractitionerId | None = None
    family_agreed: bool = Field(
        default=False, description="Whether the family agreed to this agency joining the TAF"
    )


class TafMemberRead(BaseModel):
    id: str
    agency_id: str
    agency_type: AgencyType
    name: str
    role: str
    practitioner_id: str | None = None
    family_agreed: bool = False
    added_at: datetime


class DistanceTravelled(BaseModel):
    outcome_id: str
    headline: str | None
    first_score: int
    latest_score: int
    change: int
    reviews: int


class EpisodeRead(BaseModel):
    id: str
    reference: str
    person_ids: list[str]
    referral_id: str | None
    origin: EpisodeOrigin
    level_of_need: LevelOfNeed
    status: EpisodeStatus
    opened_at: datetime
    first_contact_due_at: datetime
    first_contact_at: datetime | None
    assessment_start_due_at: datetime
    assessment_complete_due_at: datetime
    lead_professional: LeadProfessionalRead | None
    lead_professional_history: list[LeadProfessionalRead]
    taf_members: list[TafMemberRead]
    social_care_involved: bool
    consent_withdrawn_at: datetime | None
    stepdown_panel_on: date | None
    social_worker: SocialWorkerRead | None = Field(description="The social worker handing over a step-down")
    social_work_assessment_ref: str | None
    joint_visit_due_on: date | None
    joint_visit_held_on: date | None
    distance_travelled: list[DistanceTravelled]
    closed_at: datetime | None
    close_reason: CloseReason | None
    closure_summary: str | None
    outcomes_achieved: list[str]
    signed_off_by_practitioner_id: str | None = None
    signed_off_by_client_id: str | None = None
    family_members: list[FamilyMemberRead] = Field(
        default_factory=list, description="The family: its children (`person_ids`) and adults (issue 20)"
    )


class EpisodeSummary(BaseModel):
    id: str
    reference: str
    person_ids: list[str]
    referral_id: str | None
    origin: EpisodeOrigin
    level_of_need: LevelOfNeed
    status: EpisodeStatus
    opened_at: datetime
    social_care_involved: bool
    closed_at: datetime | None


class EpisodeList(BaseModel):
    items: list[EpisodeSummary]
    next_cursor: str | None = None


class CaseloadItem(EpisodeSummary):
    relationships: list[Literal["lead_professional", "taf_member"]]


class CaseloadList(BaseModel):
    items: list[CaseloadItem]
    next_cursor: str | None = None


class ContactCreate(Strict):
    contact_at: IsoUtcDatetime = Field(description="Not in the future, not before the episode opened")
    method: ContactMethod
    notes: LongText


class ContactRead(BaseModel):
    id: str
    episode_id: str
    contact_at: datetime
    method: ContactMethod
    notes: str
    first: bool
    within_deadline: bool | None


class EpisodeClose(Strict):
    reason: CloseReason
    outcomes_achieved: list[Annotated[str, StringConstraints(max_length=36)]] = Field(
        default_factory=list, max_length=50
    )
    summary: LongText = ""


class StepUpCreate(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class StepUpRead(BaseModel):
    # The row's `id` (read with model_validate from a `StepUp`), published as `step_up_id`.
    step_up_id: str = Field(validation_alias=AliasChoices("step_up_id", "id"))
    episode_id: str
    status: Literal["pending", "sent"]
    referral_id: str | None
    requested_at: datetime
    attempts: int


class JointVisitCreate(Strict):
    held_on: IsoDate


class JointVisitRead(BaseModel):
    episode_id: str
    held_on: date
    due_on: date | None = Field(description="When the joint visit was due (null: no due date recorded)")
    within_deadline: bool | None = Field(description="Held by `due_on` (null when there is no due date)")


# --- assessments ----------------------------------------------------------------------------

Item = Annotated[str, StringConstraints(max_length=2000)]
GGRRAACCEESS = Literal[
    "gender",
    "geography",
    "race",
    "religion",
    "age",
    "ability",
    "appearance",
    "class",
    "culture",
    "ethnicity",
    "education",
    "employment",
    "sexuality",
    "sexual_orientation",
    "spirituality",
]


class FamilyMemberSection(Strict):
    person_id: UUID | None = None
    role: Name = Field(description="child, mother, father, carer, sibling...")
    views: LongText = ""
    strengths: list[Item] = Field(default_factory=list, max_length=50)
    needs: list[Item] = Field(default_factory=list, max_length=50)


class DevelopmentalMilestones(Strict):
    on_track: bool
    notes: Annotated[str, StringConstraints(max_length=2000)] = ""


class BaselineMeasures(Strict):
    school_attendance_percent: float | None = Field(default=None, ge=0, le=100)
    exclusions: int | None = Field(default=None, ge=0, le=1000)
    anti_social_behaviour_incidents: int | None = Field(default=None, ge=0, le=10000)
    developmental_milestones: DevelopmentalMilestones | None = None


class AssessmentFields(Strict):
    family_members: list[FamilyMemberSection] | None = Field(default=None, max_length=30)
    baseline: BaselineMeasures | None = None
    factors: list[Annotated[str, StringConstraints(max_length=80)]] | None = Field(
        default=None, max_length=100
    )
    diversity: dict[GGRRAACCEESS, Annotated[str, StringConstraints(max_length=2000)]] | None = None
    analysis: LongText | None = None
    priorities: list[Item] | None = Field(default=None, max_length=50)


class AssessmentCreate(AssessmentFields):
    pass


class AssessmentUpdate(AssessmentFields):
    pass


class Manager(Strict):
    name: Name
    role: Name


class AssessmentApprove(Strict):
    approved_by: Manager


class AssessmentReturn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    returned_by: Manager | None = None


class ExtensionCreate(Strict):
    new_due_on: IsoDate = Field(description="After the current due date, not in the past, within a year")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    approved_by: Manager


class ManagerRead(BaseModel):
    name: str
    role: str


class DevelopmentalMilestonesRead(Sparse):
    on_track: bool
    notes: str | None = None


class BaselineRead(Sparse):
    """The baseline measures as sent; a measure never sent is absent (`{}` when none was)."""

    school_attendance_percent: float | None = None
    exclusions: int | None = None
    anti_social_behaviour_incidents: int | None = None
    developmental_milestones: DevelopmentalMilestonesRead | None = None


class FamilyMemberSectionRead(Sparse):
    """A family member's section as sent; `role` is always there, the rest only when sent."""

    person_id: str | None = None
    role: str
    views: str | None = None
    strengths: list[str] | None = None
    needs: list[str] | None = None


class ExtensionRead(BaseModel):
    id: str
    previous_due_on: date
    new_due_on: date
    reason: str
    approved_by: ManagerRead
    created_at: datetime


class AssessmentRead(BaseModel):
    id: str
    episode_id: str
    status: AssessmentStatus
    started_at: datetime
    due_on: date
    submitted_at: datetime | None
    approved_at: datetime | None
    approved_by: ManagerRead | None
    returned_at: datetime | None
    return_reason: str | None
    family_members: list[FamilyMemberSectionRead]
    baseline: BaselineRead
    factors: list[str]
    diversity: dict[GGRRAACCEESS, str] = Field(description="Notes by GGRRAACCEESS aspect, as sent")
    analysis: str | None
    priorities: list[str]
    extensions: list[ExtensionRead]
    author_practitioner_id: str | None = None
    author_client_id: str | None = None


class AssessmentSummary(BaseModel):
    id: str
    episode_id: str
    status: AssessmentStatus
    started_at: datetime
    submitted_at: datetime | None
    due_on: date
    author_practitioner_id: str | None


class AssessmentList(BaseModel):
    items: list[AssessmentSummary]
    next_cursor: str | None = None


# --- plans ----------------------------------------------------------------------------------


class OutcomeIn(Strict):
    id: Annotated[str, StringConstraints(max_length=36)] | None = Field(
        default=None, description="Keep an outcome of the previous version (its id); omit for a new one"
    )
    headline: Annotated[str, StringConstraints(max_length=60)] | None = None
    description: LongText
    measure: Short | None = None
    baseline: Annotated[str, StringConstraints(max_length=200)] | None = None
    target: Annotated[str, StringConstraints(max_length=200)] | None = None
    target_on: IsoDate | None = None


class ActionOwner(Strict):
    agency_id: AgencyId | None = None
    name: Name | None = None
    practitioner_id: PractitionerId | None = Field(
        default=None,
        description="The owning practitioner: then only they (or an early help manager) update it",
    )


class ActionIn(Strict):
    id: Annotated[str, StringConstraints(max_length=36)] | None = None
    description: LongText
    owner: ActionOwner | None = None
    due_on: IsoDate | None = None
    outcome_refs: list[int | Annotated[str, StringConstraints(max_length=36)]] = Field(
        default_factory=list,
        max_length=20,
        description="Outcomes this action serves: an index into `outcomes` or an outcome id",
    )


class PlanPut(Strict):
    """A SMART plan, or 422 `plan-not-smart` naming each faulty item (`outcomes.<i>.<field>`,
    `actions.<i>.<field>`)."""

    outcomes: list[OutcomeIn] = Field(
        min_length=1,
        max_length=30,
        description="Each: a Supporting Families `headline` (code list `headline`), a `measure`, "
        "`baseline` and `target` (measurable) and a `target_on` not in the past (time-bound); "
        "an `id` only to carry an outcome of the previous version, each once",
    )
    actions: list[ActionIn] = Field(
        min_length=1,
        max_length=100,
        description="Each: an `owner` with `agency_id` and `name`, a `due_on` not in the past, "
        "`outcome_refs` naming outcomes of this plan; an `id` only to carry an action of the "
        "previous version, each once",
    )


class OutcomeRead(BaseModel):
    # The stable `outcome_id` of a `PlanOutcome` row (model_validate), kept across plan versions.
    id: str = Field(validation_alias=AliasChoices("outcome_id", "id"))
    headline: str
    description: str
    measure: str
    baseline: str
    target: str
    target_on: date


class ActionOwnerRead(BaseModel):
    agency_id: str | None
    name: str | None
    practitioner_id: str | None


class ActionRead(BaseModel):
    id: str
    plan_version: int
    description: str
    owner: ActionOwnerRead
    due_on: date
    outcome_refs: list[str]
    status: ActionStatus
    progress_notes: str | None
    completed_at: datetime | None
    etag: str = Field(description="Send as If-Match to PATCH /v1/actions/{id}")


class PlanRead(BaseModel):
    id: str
    episode_id: str
    version: int
    agreed_at: datetime
    outcomes: list[OutcomeRead]
    actions: list[ActionRead]
    versions: list[int]


class ActionUpdate(Strict):
    status: ActionStatus | None = None
    progress_notes: LongText | None = None


# --- reviews --------------------------------------------------------------------------------


class OutcomeProgress(Strict):
    outcome_id: Annotated[str, StringConstraints(max_length=36)]
    score: int = Field(ge=0, le=10)


class ReviewCreate(Strict):
    held_on: IsoDate = Field(description="Not in the future")
    attendees: list[Name] = Field(default_factory=list, max_length=50)
    outcome_progress: list[OutcomeProgress] = Field(default_factory=list, max_length=30)
    next_review_on: IsoDate = Field(
        description="After `held_on` and at most 12 weeks after it (422 `review-too-far-ahead`)"
    )


class OutcomeProgressRead(BaseModel):
    outcome_id: str
    score: int


class ReviewRead(BaseModel):
    id: str
    episode_id: str
    held_on: date
    next_review_on: date
    attendees: list[str]
    outcome_progress: list[OutcomeProgressRead]


# --- timeline and reports -------------------------------------------------------------------


class TimelineItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    at: datetime
    kind: str
    episode_id: str


# Why the person timeline leaves an episode out (access.py Viewer.check; timeline.py).
WithheldReason = Literal[
    "not_on_team_around_the_family", "no_lawful_basis_to_share", "consent_check_unavailable", "not_visible"
]


class Withheld(BaseModel):
    episode_id: str
    reason: WithheldReason


class Timeline(BaseModel):
    items: list[TimelineItem]
    withheld: list[Withheld]


class EpisodeFigures(BaseModel):
    """The episode report's counts as the repository reads them, by column name."""

    episodes_opened: int
    first_contact_within: int
    first_contact_late: int
    first_contact_overdue: int
    assessment_started_within: int
    assessment_started_late: int
    assessment_started_overdue: int
    assessment_completed_within: int
    assessment_completed_late: int
    assessment_completed_overdue: int
    open_more_than_12_months: int
    three_or_more_reviews: int
    open_and_drifting: int
    closures_by_reason: dict[str, int]
    outcomes_achieved_by_headline: dict[str, int]
    # Counts of other columns read in the same pass over the cohort (`extra`), by label.
    extra: dict[str, int] = Field(default_factory=dict)


class PlanActionsOverdue(BaseModel):
    """Open actions (not `completed`) of the current plan of open episodes, due before today."""

    total: int
    by_owner_agency_type: dict[str, int] = Field(
        description="By the owning agency's type (its TAF membership on the episode), `unknown` when "
        "the owner is not on the TAF"
    )


class EpisodeDrift(BaseModel):
    open_more_than_12_months: int
    three_or_more_reviews: int
    open_and_drifting: int


# The timeliness sections are dicts, not models: their first key names the council's timescale
# (settings `first_contact_hours`, `assessment_start_working_days`,
# `assessment_complete_working_days`), so a fixed field name would misstate it for a council
# off the defaults. Why not a model built per settings: see docs/assessments.md ("Reports").
TIMELINESS_DOC = "Keys, in this order: `{within}`, `late`, `{overdue}`; {n} is the configured {setting}."


# `Accept: text/csv` on `GET /v1/reports/episodes`: the same figures, one row per figure.
EPISODE_REPORT_CSV: dict[str, Any] = {
    "schema": {
        "type": "string",
        "description": (
            "CSV (RFC 4180) with a header row `section,measure,value`, then one row per figure in "
            "the order of the JSON: `episodes,opened,<n>`; then every key of `first_contact`, "
            "`assessment_started`, `assessment_completed`, `closures_by_reason`, "
            "`outcomes_achieved_by_headline`, `drift`, `first_review` and `later_reviews`, each "
            "as `<section>,<key>,<n>`; then `plan_actions_overdue,total,<n>` and one "
            "`plan_actions_overdue,by_owner_agency_type.<agency type>,<n>` per agency type. "
            "Columns: `section` (the JSON section), `measure` (its key), `value` (a whole number)."
        ),
    },
    "example": (
        "section,measure,value\r\nepisodes,opened,1\r\nfirst_contact,within_72_hours,1\r\n"
        "first_contact,late,0\r\nfirst_contact,overdue_no_contact,0\r\n"
    ),
}


class EpisodeReport(BaseModel):
    opened_from: date | None
    opened_to: date | None
    episodes_opened: int
    first_contact: dict[str, int] = Field(
        description=TIMELINESS_DOC.format(
            within="within_<N>_hours", overdue="overdue_no_contact", n="<N>", setting="`first_contact_hours`"
        ),
        examples=[{"within_72_hours": 1, "late": 0, "overdue_no_contact": 0}],
    )
    assessment_started: dict[str, int] = Field(
        description=TIMELINESS_DOC.format(
            within="within_<N>_working_days",
            overdue="overdue_not_started",
            n="<N>",
            setting="`assessment_start_working_days`",
        ),
        examples=[{"within_10_working_days": 1, "late": 0, "overdue_not_started": 0}],
    )
    assessment_completed: dict[str, int] = Field(
        description=TIMELINESS_DOC.format(
            within="within_<N>_working_days",
            overdue="overdue_not_completed",
            n="<N>",
            setting="`assessment_complete_working_days`",
        ),
        examples=[{"within_45_working_days": 1, "late": 0, "overdue_not_completed": 0}],
    )
    closures_by_reason: dict[str, int]
    outcomes_achieved_by_headline: dict[str, int]
    drift: EpisodeDrift
    # Issue 21 item 4 (docs/assessments.md, "Timeliness and drift").
    first_review: dict[str, int] = Field(
        description=TIMELINESS_DOC.format(
            within="within_<N>_weeks", overdue="overdue_no_review", n="<N>", setting="`first_review_weeks`"
        )
        + " Episodes with an agreed plan: the first review against the day the plan was first agreed.",
        examples=[{"within_6_weeks": 1, "late": 0, "overdue_no_review": 0}],
    )
    later_reviews: dict[str, int] = Field(
        description=TIMELINESS_DOC.format(
            within="within_<N>_months", overdue="overdue", n="<N>", setting="`review_interval_months`"
        )
        + " Reviews after the first, against the review before; `overdue`: open episodes whose"
        " latest review is more than N months ago.",
        examples=[{"within_3_months": 2, "late": 1, "overdue": 0}],
    )
    plan_actions_overdue: PlanActionsOverdue


# --- contacts, case notes and the chronology (issue 20) -------------------------------------


class ContactList(BaseModel):
    items: list[ContactRead]
    next_cursor: str | None = None


NoteKind = Literal["contact", "visit", "meeting", "phone_call", "other"]
NoteText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class CaseNoteCreate(Strict):
    kind: NoteKind
    occurred_at: IsoUtcDatetime
    text: NoteText
    restricted: bool = Field(
        default=False, description="Visible to early help (and the MASH) only; set by early help"
    )


class CaseNoteAmend(Strict):
    """An amendment: `reason` and at least one changed field; every earlier version is kept."""

    reason: Reason
    kind: NoteKind | None = None
    occurred_at: IsoUtcDatetime | None = None
    text: NoteText | None = None
    restricted: bool | None = None


class NoteAuthor(BaseModel):
    """Who wrote (or amended): the practitioner when the call named one, its agency and client."""

    practitioner_id: str | None
    agency_id: str
    client_id: str


class CaseNoteRead(BaseModel):
    id: str
    episode_id: str
    kind: NoteKind
    occurred_at: datetime
    text: str
    restricted: bool
    author: NoteAuthor
    created_at: datetime
    amended_at: datetime | None
    version: int


class CaseNoteList(BaseModel):
    items: list[CaseNoteRead]
    next_cursor: str | None = None


class CaseNoteVersionRead(BaseModel):
    version: int
    kind: NoteKind
    occurred_at: datetime
    text: str
    restricted: bool
    recorded_at: datetime
    recorded_by: NoteAuthor
    reason: str | None = Field(description="Why it was amended (null for the first version)")


class CaseNoteHistory(BaseModel):
    note_id: str
    episode_id: str
    versions: list[CaseNoteVersionRead] = Field(description="Every version, the first one first")


ChronologyKind = Literal[
    "episode_opened",
    "stepdown_opened",
    "contact",
    "case_note",
    "lead_professional_assigned",
    "taf_member_added",
    "taf_member_removed",
    "assessment_started",
    "assessment_submitted",
    "assessment_approved",
    "assessment_returned",
    "plan_agreed",
    "review_held",
    "stepped_up",
    "joint_visit",
    "episode_closed",
]


ChronologySourceType = Literal[
    "episode",
    "contact",
    "case_note",
    "lead_professional",
    "taf_member",
    "assessment",
    "plan",
    "review",
    "step_up",
]


class ChronologySource(BaseModel):
    type: ChronologySourceType
    id: str


class ChronologyItem(BaseModel):
    at: datetime
    kind: ChronologyKind
    summary: str = Field(description="Short, made from codes and dates only: never a note's text")
    source: ChronologySource
    href: str = Field(description="The API path of the source")
    links: dict[str, str] = Field(
        default_factory=dict, description="Other objects the item names, e.g. `referral`"
    )
    detail: dict[str, str | int | bool | None] = Field(
        default_factory=dict, description="Ids, codes, dates and flags of the item, by kind"
    )


class Chronology(BaseModel):
    episode_id: str
    items: list[ChronologyItem]
    next_cursor: str | None = None


# --- the episode's family (issue 20; family.py) ---------------------------------------------

FamilyRole = Literal["child", "adult"]
FamilyRelationship = Literal["mother", "father", "carer", "guardian", "sibling", "partner", "other"]


class FamilyMemberIn(Strict):
    person_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    role: FamilyRole
    relationship: FamilyRelationship | None = Field(
        default=None, description="To the children (a child's: `sibling`, or none)"
    )


class FamilyMembersSet(Strict):
    """The whole family, replacing what the episode named: every child in `person_ids` stays."""

    members: list[FamilyMemberIn] = Field(min_length=1, max_length=50)


class FamilyMemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    person_id: str
    role: FamilyRole
    relationship: FamilyRelationship | None
    added_at: datetime


class FamilyMemberList(BaseModel):
    items: list[FamilyMemberRead]


class FamilyPersonRead(BaseModel):
    person_id: str
    role: FamilyRole
    relationship: FamilyRelationship | None
    given_name: str | None
    family_name: str | None
    date_of_birth: date | None
    unborn_expected_on: date | None


class FamilyRead(BaseModel):
    """`GET /v1/episodes/{id}/family`: names and dates of birth, for those who may see the episode."""

    episode_id: str
    members: list[FamilyPersonRead]


# --- the drift case list (issue 21 item 4) ----------------------------------------------------

DriftReason = Literal["open_too_long", "no_movement_in_reviews"]


class DriftCase(BaseModel):
    """An open episode that is drifting; no personal data (docs/assessments.md, "The drift list")."""

    episode_id: str
    reference: str
    opened_at: datetime
    lead_professional_agency_id: str | None = Field(description="The current lead professional's agency")
    months_open: int = Field(description="Whole calendar months from opened_at to now")
    reviews: int = Field(description="Reviews held, all of them")
    last_review_on: date | None
    reasons: list[DriftReason] = Field(
        description="`open_too_long`: open more than `drift_open_months` months; "
        "`no_movement_in_reviews`: the latest three reviews show no outcome score improving"
    )


class DriftList(BaseModel):
    items: list[DriftCase]
    next_cursor: str | None = None
    open_months: int = Field(description="The configured `drift_open_months`")


DRIFT_CSV_COLUMNS = (
    "episode_id",
    "reference",
    "opened_at",
    "lead_professional_agency_id",
    "months_open",
    "reviews",
    "last_review_on",
    "reasons",
)
# `GET /v1/reports/drift?format=csv`: every drifting episode (not a page), one row each.
DRIFT_CSV: dict[str, Any] = {
    "schema": {
        "type": "string",
        "description": (
            "CSV (RFC 4180) with a header row `" + ",".join(DRIFT_CSV_COLUMNS) + "`, then one row "
            "per drifting episode, oldest first (every one: `limit` and `cursor` page the JSON only). "
            "Columns: `episode_id`; `reference` (EH-YYYY-NNNNNN); `opened_at` (ISO 8601 UTC); "
            "`lead_professional_agency_id` (empty when none); `months_open`, `reviews` (whole "
            "numbers); `last_review_on` (ISO date, empty when none); `reasons` (`open_too_long` "
            "and/or `no_movement_in_reviews`, separated by `;`)."
        ),
    },
    "example": (
        "episode_id,reference,opened_at,lead_professional_agency_id,months_open,reviews,last_review_on,reasons\r\n"
        "0b8f3c1e-0000-4000-8000-000000000001,EH-2025-000001,2025-01-02T09:00:00+00:00,agency-early-help,"
        "13,3,2025-11-20,open_too_long;no_movement_in_reviews\r\n"
    ),
}
# --- Supporting Families (issue 21 item 1: supporting_families.py) ---------------------------

# The ten headlines (shared/codes.py HEADLINES, code list `headline`), an enum in the OpenAPI.
if TYPE_CHECKING:
    SfHeadline = str
else:
    SfHeadline = Literal[tuple(HEADLINES)]
SfStartSource = Literal["referral_needs", "first_plan"]
SfHeadlineStatus = Literal["not_met", "met", "sustained", "not_sustained"]
SfBreak = Literal["re_referral", "review_below_target"]


class SfEvidence(BaseModel):
    """What shows a headline met: an outcome achieved at closure, or a review scoring the
    outcome at or above its target (a target that is a score, `7` or `7/10`)."""

    kind: Literal["closure_outcome", "review"]
    on: date = Field(description="The closure's day (UTC) or the review's `held_on`")
    outcome_id: str
    review_id: str | None = None
    score: int | None = None
    target_score: int | None = None


class SfHeadlineRead(BaseModel):
    headline: SfHeadline
    at_start: bool
    start_sources: list[SfStartSource]
    status: SfHeadlineStatus = Field(
        description="`not_met`; `met` (its window is still running); `sustained`; `not_sustained` "
        "(broken inside the window: `broken_by`, `broken_on`)"
    )
    met_on: date | None = Field(description="The first day evidenced as met")
    window_ends_on: date | None = Field(description="`met_on` plus `sustain_months` months")
    sustained_on: date | None = Field(description="`window_ends_on`, once reached without a break")
    broken_by: SfBreak | None = None
    broken_on: date | None = None
    evidence: list[SfEvidence]


class SfFamily(BaseModel):
    """A family (its episode), by reference only: no names."""

    episode_id: str
    reference: str
    status: Literal["open", "closed"]
    opened_at: datetime
    closed_at: datetime | None
    needs_recorded: bool = Field(
        description="Whether the referral's needs reached this service (false: opened before issue 21 "
        "or not from a referral; its start headlines then come from the first plan only)"
    )
    headlines_at_start: list[SfHeadline]
    multiple_needs: bool = Field(description="At least `multiple_needs_threshold` headlines at the start")
    met: list[SfHeadline]
    sustained: list[SfHeadline]
    eligible_for_claim: bool
    claimable_on: date | None = Field(description="The day the last start headline was sustained")
    headlines: list[SfHeadlineRead]


class SfFamilies(BaseModel):
    """`GET /v1/reports/supporting-families`: families (episodes) opened in [from, to], oldest first."""

    from_: date | None = Field(alias="from", serialization_alias="from")
    to: date | None
    sustain_months: int
    multiple_needs_threshold: int
    families: list[SfFamily]
    next_cursor: str | None = None

    model_config = ConfigDict(populate_by_name=True)


class SfHeadlineFigures(BaseModel):
    started: int = Field(description="Families started in the quarter with this headline at the start")
    met: int = Field(description="Families whose headline was first met in the quarter")
    sustained: int = Field(description="Families whose headline was sustained in the quarter")


class SfSummary(BaseModel):
    """`GET /v1/reports/supporting-families/summary`: one calendar quarter."""

    quarter: str
    first_day: date
    last_day: date
    sustain_months: int
    multiple_needs_threshold: int
    families_started: int = Field(description="Episodes opened in the quarter")
    with_multiple_needs: int = Field(description="Of those started, with multiple needs at the start")
    needs_not_recorded: int = Field(description="Of those started, whose referral needs are not recorded")
    families_met: int = Field(description="Families whose first headline was met in the quarter")
    families_sustained: int = Field(description="Families whose first headline was sustained in the quarter")
    families_claimable: int = Field(description="Families that became claimable in the quarter")
    by_headline: dict[SfHeadline, SfHeadlineFigures] = Field(description="Every one of the ten headlines")


SF_CLAIMS_COLUMNS = (
    "episode_id",
    "reference",
    "opened_on",
    "closed_on",
    "headlines_at_start",
    "headline_count",
    "claimable_on",
    "met",
    "sustained",
    "evidence",
)
SF_CLAIMS_CSV: dict[str, Any] = {
    "schema": {
        "type": "string",
        "description": (
            "CSV (RFC 4180) with a header row, then one row per claimable family (multiple needs at "
            "the start, every start headline met and sustained), oldest first. Columns: `episode_id`, "
            "`reference` (the episode's), `opened_on`, `closed_on` (UTC days; empty while open), "
            "`headlines_at_start` (headline codes joined by `;`), `headline_count`, `claimable_on`, "
            "`met` (`<headline>@<met_on>` joined by `;`), `sustained` (`<headline>@<sustained_on>` "
            "joined by `;`), `evidence` (joined by `;`: `<headline>=closure_outcome:<outcome_id>@<day>` "
            "or `<headline>=review:<review_id>:<outcome_id>:<score>/<target>@<held_on>`). No names."
        ),
    },
    "example": (
        "episode_id,reference,opened_on,closed_on,headlines_at_start,headline_count,claimable_on,met,"
        "sustained,evidence\r\n"
    ),
}
SF_SUMMARY_CSV: dict[str, Any] = {
    "schema": {
        "type": "string",
        "description": (
            "CSV (RFC 4180) with a header row `section,measure,value`: `families,<figure>,<n>` for "
            "`started`, `with_multiple_needs`, `needs_not_recorded`, `met`, `sustained`, `claimable`; then "
            "`<headline>,<started|met|sustained>,<n>` for each of the ten headlines."
        ),
    },
    "example": "section,measure,value\r\nfamilies,started,0\r\n",
}


# --- bulk import (issue 22: imports.py, docs/import.md) ---------------------------------------


class ImportEpisodeIn(Strict):
    """An open episode of the incumbent system, opened at `opened_at` (its timescales and
    deadlines run from then), with its lead professional and TAF."""

    source_id: SourceId
    referral_id: Annotated[str, StringConstraints(min_length=1, max_length=36)] | None = Field(
        default=None, description="The imported referral it came from (the id the referrals import gave)"
    )
    referral_received_at: IsoUtcDatetime | None = Field(
        default=None, description="When that referral was received (assessment timescales run from it)"
    )
    person_ids: list[UUID] = Field(min_length=1, max_length=20, description="The children (person index ids)")
    adult_person_ids: list[UUID] = Field(default_factory=list, max_length=20)
    level_of_need: LevelOfNeed = "partnership_plus"
    opened_at: IsoUtcDatetime
    lead_professional: LeadProfessionalSet | None = None
    taf: list[TafMemberCreate] = Field(default_factory=list, max_length=30)


class EpisodeImportBatch(Strict):
    """One batch (one transaction, wholly stored or not), at most 500 episodes."""

    episodes: list[ImportEpisodeIn] = Field(min_length=1, max_length=MAX_BATCH)
    dry_run: bool = Field(
        default=False,
        description="Check every row, then store nothing (the people check is left out: a dry run "
        "of a whole file sends ids its people would have)",
    )


class EpisodeImportResult(BaseModel):
    episodes: list[ImportedItem]


# --- bulk import of plans (issue 22: import_plans.py, docs/import.md) ------------------------


class ImportPlanOutcomeIn(Strict):
    """An outcome of the plan, SMART as any plan's (`headline`, `measure`, `baseline`, `target`,
    `target_on`): 422 naming each missing one."""

    source_id: SourceId = Field(description="The incumbent system's id of the outcome (actions name it)")
    headline: Annotated[str, StringConstraints(max_length=60)] | None = None
    description: LongText
    measure: Short | None = None
    baseline: Annotated[str, StringConstraints(max_length=200)] | None = None
    target: Annotated[str, StringConstraints(max_length=200)] | None = None
    target_on: IsoDate | None = Field(default=None, description="Not before the plan was agreed")


class ImportPlanActionIn(Strict):
    """An action with its owner, due date and where it stands."""

    source_id: SourceId = Field(description="The incumbent system's id of the action")
    description: LongText
    owner: ActionOwner | None = Field(default=None, description="`agency_id` and `name` required")
    due_on: IsoDate | None = Field(
        default=None,
        description="Not before the plan was agreed (a date since passed: the action is overdue)",
    )
    outcomes: list[SourceId] = Field(
        default_factory=list, max_length=20, description="The source ids of the outcomes it serves"
    )
    status: ActionStatus = "open"
    progress_notes: LongText | None = None
    completed_at: IsoUtcDatetime | None = Field(
        default=None, description="Required with status `completed`, and only then"
    )


class ImportPlanIn(Strict):
    """An imported open episode's current plan, agreed at `agreed_at`: stored as the episode's
    plan version 1 by the rule every plan is agreed by (`plan.agreed`, `action.created`)."""

    source_id: SourceId
    episode_id: Annotated[str, StringConstraints(min_length=1, max_length=36)] = Field(
        description="The imported episode (the id the episodes import gave)"
    )
    agreed_at: IsoUtcDatetime = Field(description="Not in the future, nor before the episode opened")
    outcomes: list[ImportPlanOutcomeIn] = Field(min_length=1, max_length=30)
    actions: list[ImportPlanActionIn] = Field(min_length=1, max_length=100)


class PlanImportBatch(Strict):
    """One batch (one transaction, wholly stored or not), at most 500 plans."""

    plans: list[ImportPlanIn] = Field(min_length=1, max_length=MAX_BATCH)
    dry_run: bool = Field(
        default=False,
        description="Check every row, then store nothing (a plan whose episode is not stored - a dry "
        "run of a whole file - is checked without its episode)",
    )


class PlanImportResult(BaseModel):
    plans: list[ImportedItem]
