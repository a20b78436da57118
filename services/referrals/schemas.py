"""Request and response schemas of the referrals service (Pydantic only).

Input models forbid unknown fields (a misspelt field is a 422 naming it, not silently lost)
and carry every rule that needs nothing but the request itself: lengths, the NHS number's
modulus 11, UK postcodes, need codes, ages 0-25 and unborn children's expected dates.
Rules that need the database or the caller (consent, decisions, access) live in `service`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal, NotRequired

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict

from services.referrals.codes import (
    HEADLINES,
    NEED_CODES,
    SOURCE_CODES,
    LevelOfNeed,
    MatchReason,
    Outcome,
    Rag,
    ReferralStatus,
    ReferralType,
)
from services.referrals.identifiers import (
    format_postcode,
    normalise_nhs_number,
    normalise_postcode,
    normalise_upn,
)
from shared.clock import london_today
from shared.codes import ConsentMethod
from shared.imports import MAX_BATCH, ImportedItem, SourceId
from shared.roles import EARLY_HELP, MASH, PARTNER_AGENCY_TYPES, SOCIAL_CARE
from shared.validation import CleanName, IsoAwareDatetime, IsoDate

MAX_AGE_YEARS = 25
UNBORN_PAST_DAYS = 28  # an expected date a little in the past: the baby may be late
UNBORN_FUTURE_DAYS = 42 * 7

# NFC, no invisible characters, bidi controls refused (shared.validation.clean_name).
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), CleanName]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Role = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=40)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Gender = Literal["female", "male", "other", "not_known", "not_stated"]


def _need_code(value: str) -> str:
    if value not in NEED_CODES:
        raise ValueError(f"unknown need code {value!r} (the list is in docs/referrals.md)")
    return value


# The enum is for the OpenAPI (code list `need`); the validator answers with a clearer message.
NeedCode = Annotated[
    str,
    StringConstraints(max_length=60),
    AfterValidator(_need_code),
    Field(json_schema_extra={"enum": list(NEED_CODES)}),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Referrer(Strict):
    name: Annotated[ShortText, CleanName]
    role: Role
    email: EmailStr | None = None
    phone: Phone | None = None


class _Identifiers(Strict):
    """The NHS number and UPN rules, for every model that takes them (a child referred, a
    person corrected): checked and normalised the same way wherever they arrive."""

    @field_validator("nhs_number", check_fields=False)
    @classmethod
    def _nhs(cls, v: str | None) -> str | None:
        return normalise_nhs_number(v) if v is not None else None

    @field_validator("upn", check_fields=False)
    @classmethod
    def _upn(cls, v: str | None) -> str | None:
        return normalise_upn(v) if v is not None else None


class ChildIn(_Identifiers):
    given_name: Name | None = Field(None, description="Required unless the child is unborn")
    family_name: Name
    date_of_birth: IsoDate | None = Field(None, description="Required unless unborn_expected_on is given")
    unborn_expected_on: IsoDate | None = Field(None, description="Expected date of an unborn child")
    gender: Gender = "not_known"
    nhs_number: str | None = Field(
        None,
        max_length=14,
        description="10 digits, modulus 11 checked; spaces and hyphens are ignored (stored as 10 digits)",
    )
    upn: str | None = Field(
        None,
        max_length=13,
        description="Unique Pupil Number: a letter, 11 digits and a check character (any case; stored upper case)",
    )

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, v: date | None) -> date | None:
        if v is None:
            return v
        today = london_today()
        if v > today:
            raise ValueError("must not be in the future (an unborn child has unborn_expected_on)")
        age = today.year - v.year - ((today.month, today.day) < (v.month, v.day))
        if age > MAX_AGE_YEARS:
            raise ValueError(f"early help is for children and young people aged 0 to {MAX_AGE_YEARS}")
        return v

    @field_validator("unborn_expected_on")
    @classmethod
    def _expected(cls, v: date | None) -> date | None:
        if v is None:
            return v
        today = london_today()
        if not today - timedelta(days=UNBORN_PAST_DAYS) <= v <= today + timedelta(days=UNBORN_FUTURE_DAYS):
            raise ValueError(f"must be between {UNBORN_PAST_DAYS} days ago and 42 weeks from today")
        return v

    @model_validator(mode="after")
    def _born_or_unborn(self) -> ChildIn:
        if self.date_of_birth is None and self.unborn_expected_on is None:
            raise ValueError("date_of_birth is required (or unborn_expected_on for an unborn child)")
        if self.date_of_birth is not None and self.unborn_expected_on is not None:
            raise ValueError("give date_of_birth or unborn_expected_on, not both")
        if self.unborn_expected_on is None and self.given_name is None:
            raise ValueError("given_name is required for a child who has been born")
        return self

    @property
    def kind(self) -> str:
        return "unborn" if self.unborn_expected_on else "child"


class AdultIn(Strict):
    given_name: Name
    family_name: Name
    relationship: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    phone: Phone | None = None
    email: EmailStr | None = None


class AddressIn(Strict):
    line1: ShortText
    town: Name | None = None
    postcode: str = Field(
        max_length=10,
        description="A UK postcode (e.g. `SW1A 1AA`): any case, with or without the space; "
        "stored upper case with the space",
    )

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, v: str) -> str:
        return format_postcode(normalise_postcode(v))


class ConsentIn(Strict):
    """The family's consent to the request. `given_by`, `obtained_at` and `method` are
    required when `obtained` is true (422 naming each missing one); with `obtained: false`
    (a safeguarding concern, or significant harm suspected) they may be left out or null."""

    obtained: bool
    given_by: ShortText | None = Field(None, description="Required when `obtained` is true")
    obtained_at: IsoAwareDatetime | None = Field(
        None, description="Required when `obtained` is true; not in the future"
    )
    method: ConsentMethod | None = Field(None, description="Required when `obtained` is true")


class ReferralCreate(Strict):
    referral_type: ReferralType
    referrer: Referrer
    children: list[ChildIn] = Field(min_length=1, max_length=20)
    adults: list[AdultIn] = Field(default_factory=list, max_length=20)
    address: AddressIn
    needs: list[NeedCode] = Field(min_length=1, max_length=20)
    summary: LongText
    significant_harm_suspected: bool = False
    consent: ConsentIn | None = Field(
        default=None,
        description="Required with `obtained: true` unless the referral is a `safeguarding_concern` "
        "or `significant_harm_suspected` is true (422 consent-required otherwise)",
    )

    @field_validator("needs")
    @classmethod
    def _unique_needs(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class DecidedBy(Strict):
    name: ShortText
    role: Role


class AgencyCheck(Strict):
    agency_type: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    summary: Reason


class DecisionCreate(Strict):
    level_of_need: LevelOfNeed
    outcome: Outcome = Field(
        description="Must fit the level of need: `no_further_action` universal; `signpost_universal` "
        "universal or universal_plus; `single_agency_early_help` universal_plus; "
        "`team_around_the_family` partnership_plus; `social_care_assessment` and "
        "`strategy_discussion` specialist (docs/referrals.md)"
    )
    rag: Rag | None = None
    rationale: LongText
    decided_by: DecidedBy
    agency_checks: list[AgencyCheck] = Field(default_factory=list, max_length=20)


class WithdrawRequest(Strict):
    reason: Reason


class MergeCreate(Strict):
    into_person_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    reason: Reason | None = None


class StepUpCreate(BaseModel):
    """Internal contract (docs/contracts.md); tolerant of fields added later."""

    step_up_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    episode_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    person_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=36)]] = Field(
        min_length=1, max_length=20
    )
    reason: LongText
    agency_id: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    agency_type: Annotated[str, StringConstraints(min_length=1, max_length=40)]


# ---- responses ----


WITHHELD = "null for a partner agency: see docs/referrals.md, who sees what"

# Read-side code lists documented as enums; the values come from the code (validated on the way in).
NeedCodeRead = Annotated[str, Field(json_schema_extra={"enum": list(NEED_CODES)})]
HeadlineRead = Annotated[str, Field(json_schema_extra={"enum": list(HEADLINES)})]
SourceCode = Annotated[
    str,
    Field(
        description="Children in Need census referral source code (docs/referrals.md)",
        json_schema_extra={"enum": list(SOURCE_CODES)},
    ),
]
DateTimeText = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


# The parts of a referral stored as the caller sent them (JSON columns) are read back as they
# were stored: TypedDicts, so a key that was never stored is not added on the way out.


class ReferrerRead(TypedDict):
    """Who made the referral. A step-up from an early help episode has `name` and `role` (the
    agency type) only; a referral made through `POST /v1/referrals` has all four."""

    name: str
    role: str
    email: NotRequired[str | None]
    phone: NotRequired[str | None]


class ReferralAddressRead(TypedDict):
    """The address as the referrer gave it (the postcode formatted, e.g. `SW1A 1AA`)."""

    line1: str
    town: str | None
    postcode: str


class ReferralConsentRead(TypedDict):
    """The consent as the referrer recorded it: with `obtained: false` the other three are null."""

    obtained: bool
    given_by: str | None
    obtained_at: DateTimeText | None
    method: ConsentMethod | None


class DecidedByRead(TypedDict):
    name: str
    role: str


class AgencyCheckRead(TypedDict):
    agency_type: Annotated[str, Field(description="As the MASH recorded it (free text)")]
    summary: str


class ChildRead(BaseModel):
    person_id: str | None = Field(description=f"The child in the person index; {WITHHELD}")
    given_name: str | None
    family_name: str
    date_of_birth: date | None
    unborn_expected_on: date | None
    gender: Gender | None
    nhs_number: str | None
    upn: str | None
    match: Literal["certain", "new"] | None = Field(
        description=f"certain: linked to a person already in the index; new: a new person; {WITHHELD}"
    )


class AdultRead(BaseModel):
    person_id: str | None = Field(description=f"The adult in the person index; {WITHHELD}")
    given_name: str | None
    family_name: str
    relationship: str | None
    phone: str | None
    email: str | None
    match: Literal["certain", "new"] | None = Field(description=WITHHELD)


class MatchRead(BaseModel):
    """A possible existing person; the person's details only for callers with people:read."""

    person_id: str = Field(description="The existing person this may be")
    for_person_id: str = Field(description="The person this referral named")
    score: float
    status: Literal["possible", "confirmed", "rejected"]
    reasons: list[MatchReason]
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    unborn_expected_on: date | None = None
    postcode: str | None = None


class DecisionRead(BaseModel):
    """A partner agency sees the level and outcome of its own referral's decision; the RAG,
    rationale, decision-maker and agency checks (other agencies' information) are null."""

    level_of_need: LevelOfNeed
    outcome: Outcome
    rag: Rag | None
    rationale: str | None
    decided_by: DecidedByRead | None
    agency_checks: list[AgencyCheckRead] | None
    decided_at: datetime
    decided_within_timescale: bool


class NeedRead(BaseModel):
    code: NeedCodeRead
    headline: HeadlineRead = Field(
        description="The need's Supporting Families headline (code list `headline`)"
    )


RequeueReason = Literal["episode_closed", "linked_referral_decided", "linked_referral_withdrawn"]


class ReferralRead(BaseModel):
    id: str
    reference: str
    referral_type: ReferralType
    status: ReferralStatus
    urgent: bool
    significant_harm_suspected: bool
    received_at: datetime
    decision_due_at: datetime
    source_agency_id: str
    source_code: SourceCode
    referrer: ReferrerRead
    children: list[ChildRead]
    adults: list[AdultRead]
    address: ReferralAddressRead | None = Field(description="null for a step-up from an early help episode")
    needs: list[NeedCodeRead]
    need_headlines: list[NeedRead]
    summary: str
    consent: ReferralConsentRead | None
    matches: list[MatchRead] = Field(
        description="Possible existing people: the MASH's only (empty for others)"
    )
    linked_referral_id: str | None = Field(description="The undecided referral this joined: the MASH's only")
    open_episode_id: str | None = Field(
        description="The child's open early help episode: the MASH's and early help's only"
    )
    episode_id: str | None
    decision: DecisionRead | None
    decided_within_timescale: bool | None
    withdrawn_at: datetime | None
    withdrawal_reason: str | None
    step_up_id: str | None
    step_up_episode_id: str | None
    assigned_to: str | None = Field(None, description="The MASH practitioner working on it (MASH only)")
    assigned_at: datetime | None = None
    requeued_at: datetime | None = Field(
        None,
        description="When a linked referral went back to the MASH queue (null for partner agencies)",
    )
    requeue_reason: RequeueReason | None = Field(
        None, description="Why it went back to the MASH queue (null for partner agencies)"
    )


class ReferralSummary(BaseModel):
    id: str
    reference: str
    referral_type: ReferralType
    status: ReferralStatus
    urgent: bool
    received_at: datetime
    decision_due_at: datetime
    source_agency_id: str
    source_code: SourceCode
    level_of_need: LevelOfNeed | None
    outcome: Outcome | None
    decided_at: datetime | None
    decided_within_timescale: bool | None
    linked_referral_id: str | None
    open_episode_id: str | None
    episode_id: str | None
    assigned_to: str | None = Field(None, description="MASH only")


class ReferralList(BaseModel):
    items: list[ReferralSummary]
    next_cursor: str | None = None


class AssignmentCreate(Strict):
    practitioner_id: Annotated[str, StringConstraints(min_length=1, max_length=120)] | None = Field(
        description="The MASH practitioner to work on it; null to unassign (a manager)"
    )


class AssignmentRead(BaseModel):
    referral_id: str
    assigned_to: str | None
    assigned_by: str = Field(description="The practitioner who assigned it, or system:<client_id>")
    assigned_at: datetime


class MashQueueItem(ReferralSummary):
    significant_harm_suspected: bool
    needs: list[NeedCodeRead]
    priority: int = Field(description="Higher first under ?sort=urgency (docs/referrals.md)")
    assigned_at: datetime | None
    overdue: bool = Field(description="The decision is past its due time")


class MashQueue(BaseModel):
    items: list[MashQueueItem]
    next_cursor: str | None = None


class KnownPeopleQuery(Strict):
    person_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=36)]] = Field(
        min_length=1, max_length=200
    )


class KnownPeopleRead(BaseModel):
    known: list[str]
    unknown: list[str]
    survivors: dict[str, str] = Field(
        default_factory=dict, description="Known ids merged into another record -> the record that survives"
    )


class PersonRead(BaseModel):
    id: str
    kind: Literal["child", "unborn", "adult"]
    given_name: str | None
    family_name: str
    date_of_birth: date | None
    unborn_expected_on: date | None
    nhs_number: str | None
    postcode: str | None
    gender: Gender | None
    merged_into_id: str | None
    created_at: datetime
    upn: str | None = None


class PersonMatchRead(PersonRead):
    score: float
    match: Literal["certain", "possible"]
    reasons: list[MatchReason]


class PersonSearchResult(BaseModel):
    items: list[PersonMatchRead]


class MergeRead(BaseModel):
    id: str
    merged_person_id: str
    into_person_id: str
    reason: str | None
    referral_id: str | None
    merged_at: datetime
    merged_by_client_id: str
    undone_at: datetime | None
    undone_by_client_id: str | None


# The kinds of a journey's items: the referrals service's own (journey.py), then the
# assessments service's person timeline (its PERSON_TIMELINE_KINDS; a test keeps them equal).
JourneyKind = Literal[
    "referral_received",
    "referral_linked",
    "referral_requeued",
    "referral_decided",
    "referral_withdrawn",
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
]
# Why a part of a journey is left out: a referral of another agency (journey.py), or an
# episode the assessments service withholds (its access check; a test keeps them equal).
WithheldReason = Literal[
    "submitted by another agency; partner agencies see only their own referrals",
    "not_on_team_around_the_family",
    "no_lawful_basis_to_share",
    "consent_check_unavailable",
    "not_visible",
]


class JourneyItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    at: datetime
    kind: JourneyKind = Field(
        description=(
            "`referral_*` from the referrals service; the others from the assessments service "
            "(an episode's opening, assessments, plan, reviews, step-up, joint visit, closure)"
        )
    )
    source: Literal["referrals", "assessments"]


class Withheld(BaseModel):
    model_config = ConfigDict(extra="allow")

    source: Literal["referrals", "assessments"]
    reason: WithheldReason = Field(
        description=(
            "A referral (`kind: referral`) submitted by another agency; or an episode "
            "(`episode_id`) whose team around the family the caller's agency is not on, about a "
            "person with no lawful basis to share with it, or whose consent could not be checked "
            "just now (`consent_check_unavailable`: ask again later)"
        )
    )


class Unavailable(BaseModel):
    part: Literal["assessments"] = Field(description="The part of the journey that is missing")
    reason: str = Field(description="Why, for a person to read (timed out, HTTP status, malformed answer)")


class JourneyRead(BaseModel):
    person_id: str
    items: list[JourneyItem]
    withheld: list[Withheld]
    incomplete: bool
    unavailable: list[Unavailable]


# --- the referral report (reports.py; definitions: docs/referrals.md) ------------------------


class ReportTotals(BaseModel):
    received: int
    awaiting_decision: int
    linked: int
    withdrawn: int
    decided: int
    urgent: int


class ReportBySourceCode(BaseModel):
    source_code: SourceCode
    received: int
    decided: int
    no_further_action: int
    early_help: int
    social_care: int
    decided_within_timescale: int
    no_further_action_rate: float | None
    conversion_to_early_help: float | None
    children: int
    re_referrals: int
    re_referral_rate: float | None


class ReportByOutcome(BaseModel):
    outcome: Outcome | ReferralStatus = Field(
        description="The decision's outcome; a referral not decided counts under its status "
        "(`received`, `linked`, `withdrawn`)"
    )
    count: int


class ReportTimeliness(BaseModel):
    """Decided within the configured `decision_working_days` of receipt."""

    decided: int
    within_timescale: int
    share: float | None
    # Issue 21: which timescale `within_timescale` counts, named from the council's setting.
    timescale: str = Field(
        "within_1_working_day",
        description="`within_<N>_working_day(s)`, N the configured `decision_working_days`",
        examples=["within_1_working_day"],
    )
    working_days: int = Field(1, description="The configured `decision_working_days`")


class ReportConversion(BaseModel):
    decided: int
    early_help: int
    share: float | None
    episodes_opened: int


class ReportReReferrals(BaseModel):
    children_referred: int
    re_referrals: int
    share: float | None


class ReportNfaFollowUp(BaseModel):
    referrals_closed_no_further_action: int
    children: int
    re_referred_later: int
    re_referred_within_12_months: int
    stepped_up_later: int
    early_help_episode_later: int
    re_referred_share: float | None


class ReferralReport(BaseModel):
    """`GET /v1/reports/referrals`: shares are rounded to 4 places, null when nothing to divide by."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    totals: ReportTotals
    by_source_code: list[ReportBySourceCode]
    by_outcome: list[ReportByOutcome]
    decided_within_timescale: ReportTimeliness
    conversion_to_early_help: ReportConversion
    re_referrals_within_12_months: ReportReReferrals
    no_further_action_follow_up: ReportNfaFollowUp


# ---- households, relationships, corrections (issue 20; `households.py`) ----

RelationshipType = Literal["mother_of", "father_of", "carer_of", "guardian_of", "sibling_of", "partner_of"]
PersonId = Annotated[str, StringConstraints(min_length=1, max_length=36)]


class RelationshipCreate(Strict):
    """`person` (the path's) is `type` of `related_person_id`: Samira `mother_of` Amira."""

    related_person_id: PersonId
    type: RelationshipType
    from_on: IsoDate | None = None
    to_on: IsoDate | None = None

    @model_validator(mode="after")
    def _order(self) -> RelationshipCreate:
        if self.from_on and self.to_on and self.to_on < self.from_on:
            raise ValueError("to_on must not be before from_on")
        return self


class RelationshipEnd(Strict):
    to_on: IsoDate | None = Field(default=None, description="Default: today (London)")
    reason: Reason | None = None


class RelationshipRead(BaseModel):
    id: str
    person_id: str = Field(description="Who is `type` of `related_person_id` (the surviving records)")
    type: RelationshipType
    related_person_id: str
    from_on: date | None
    to_on: date | None
    current: bool
    referral_id: str | None = Field(description="The referral it was read from, if any")
    created_at: datetime
    created_by_agency_id: str
    ended_at: datetime | None
    end_reason: str | None


class RelationshipList(BaseModel):
    items: list[RelationshipRead]


class AddressRead(BaseModel):
    id: str
    line1: str
    town: str | None
    postcode: str
    from_on: date
    to_on: date | None
    current: bool
    referral_id: str | None


class AddressList(BaseModel):
    items: list[AddressRead]


class HouseholdMember(BaseModel):
    person_id: str
    kind: Literal["child", "unborn", "adult"]
    given_name: str | None
    family_name: str
    date_of_birth: date | None
    lives_here_from: date


class HouseholdRead(BaseModel):
    """Who lives with the person now: everyone whose current address is theirs."""

    person_id: str
    address: AddressRead | None
    members: list[HouseholdMember]


class PersonCorrectionCreate(_Identifiers):
    """The fields to correct (at least one) and why. `nhs_number`, `upn`, `gender` and
    `postcode` may be set to null (a wrong one removed)."""

    given_name: Name | None = None
    family_name: Name | None = None
    date_of_birth: IsoDate | None = None
    gender: Gender | None = None
    nhs_number: str | None = Field(default=None, max_length=14)
    upn: str | None = Field(default=None, max_length=16)
    postcode: str | None = Field(default=None, max_length=10)
    reason: Reason

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, v: str | None) -> str | None:
        return normalise_postcode(v) if v is not None else None

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, v: date | None) -> date | None:
        if v is not None and v > london_today():
            raise ValueError("must not be in the future")
        return v

    @model_validator(mode="after")
    def _something(self) -> PersonCorrectionCreate:
        if not (self.model_fields_set - {"reason"}):
            raise ValueError("name at least one field to correct")
        for name in ("given_name", "family_name", "date_of_birth"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be removed, only corrected")
        return self


class FieldChange(BaseModel):
    """A value as text (a date as `YYYY-MM-DD`), null when there was none or it was removed."""

    from_: str | None = Field(alias="from")
    to: str | None

    model_config = ConfigDict(populate_by_name=True)


class PersonCorrectionRead(BaseModel):
    id: str
    person_id: str
    changes: dict[str, FieldChange]
    reason: str
    corrected_at: datetime
    corrected_by_practitioner_id: str | None
    corrected_by_client_id: str
    corrected_by_agency_id: str


class PersonHistory(BaseModel):
    items: list[PersonCorrectionRead]


class PersonCorrected(PersonRead):
    correction: PersonCorrectionRead
    possible_matches: list[PersonMatchRead] = Field(
        description="Other records this one may now duplicate (the matching re-run after a "
        "change of names, date of birth, NHS number or postcode): for the MASH to merge"
    )


class PeopleDetailsQuery(Strict):
    person_ids: list[PersonId] = Field(min_length=1, max_length=200)


class PersonDetails(BaseModel):
    person_id: str = Field(description="The id asked for")
    current_person_id: str = Field(description="The surviving record (itself unless merged)")
    kind: Literal["child", "unborn", "adult"]
    given_name: str | None
    family_name: str
    date_of_birth: date | None
    unborn_expected_on: date | None


class PeopleDetailsRead(BaseModel):
    people: list[PersonDetails]
    unknown: list[str]


# ---- the threshold audit (issue 21; `threshold_audit.py`) ----


class ThresholdAuditCreate(Strict):
    decided_from: IsoDate = Field(description="First day (London) of the decisions to sample, inclusive")
    decided_to: IsoDate = Field(description="Last day (London), inclusive")
    share: float = Field(
        gt=0,
        le=1,
        description="The share of each outcome's decisions to sample (rounded half up, at least one "
        "per outcome decided in the period)",
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=2**31 - 1,
        description="The same seed over the same decisions draws the same sample; omitted, one is "
        "chosen and returned",
    )
    reviewer_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=120)]] = Field(
        default_factory=list,
        max_length=50,
        description="MASH managers to assign the items to in turn (never an item's decider); "
        "none: every item is open to any other MASH manager",
    )

    @model_validator(mode="after")
    def _period(self) -> ThresholdAuditCreate:
        if self.decided_from > self.decided_to:
            raise ValueError("decided_from must not be after decided_to")
        return self


ThresholdAuditItemStatus = Literal["awaiting_review", "reviewed", "agreement_recorded"]


class ThresholdAuditItemSummary(BaseModel):
    """An item as the audit lists it: never the original decision; the referral is named only
    once the blind review is recorded."""

    id: str
    status: ThresholdAuditItemStatus
    reviewer_id: str | None = Field(description="Who reviews it; null: any other MASH manager may")
    referral_id: str | None = Field(description="Null until the blind review is recorded")
    reviewed_at: datetime | None
    agrees: bool | None


class ThresholdAuditStratum(BaseModel):
    outcome: Outcome
    decisions: int = Field(description="Decisions with this outcome in the period (not sampled before)")
    sampled: int


class ThresholdAuditListRow(BaseModel):
    id: str
    decided_from: date
    decided_to: date
    share: float
    seed: int
    decisions: int
    sampled: int
    reviewed: int
    created_at: datetime
    created_by: str
    updated_at: datetime


class ThresholdAuditRead(ThresholdAuditListRow):
    strata: list[ThresholdAuditStratum] = Field(description="Per outcome: decisions and how many drawn")
    sample: list[ThresholdAuditItemSummary]


class ThresholdAuditList(BaseModel):
    items: list[ThresholdAuditListRow]
    next_cursor: str | None = None


class AuditChild(BaseModel):
    age_years: int | None = Field(description="Age on the day received; null for an unborn child")
    unborn: bool
    referred_before: bool = Field(description="The child was referred before this referral")


class AuditAgencyCheck(BaseModel):
    agency_type: str
    summary: str


class AuditFacts(BaseModel):
    """What the MASH knew: the referral's facts, without names or the decision."""

    referral_type: ReferralType
    source_code: str
    received_at: datetime
    urgent: bool
    significant_harm_suspected: bool
    needs: list[str]
    summary: str
    children: list[AuditChild]
    adult_relationships: list[str | None]
    agency_checks: list[AuditAgencyCheck]


class AuditOriginalDecision(BaseModel):
    referral_id: str
    reference: str
    level_of_need: LevelOfNeed
    outcome: Outcome
    rag: Rag | None
    rationale: str
    decided_at: datetime
    decided_by: DecidedByRead | None


class AuditReview(BaseModel):
    reviewer_id: str
    level_of_need: LevelOfNeed
    outcome: Outcome
    reviewed_at: datetime
    agrees: bool | None
    reason: str | None
    agreement_at: datetime | None


class ThresholdAuditItemRead(BaseModel):
    """`GET .../items/{item_id}`: blind until the caller's own review is recorded."""

    id: str
    audit_id: str
    status: ThresholdAuditItemStatus
    reviewer_id: str | None
    facts: AuditFacts
    review: AuditReview | None = Field(description="Null until recorded")
    original_decision: AuditOriginalDecision | None = Field(
        description="Withheld (null) until the reviewer has recorded their own decision"
    )


class ThresholdAuditReviewCreate(Strict):
    level_of_need: LevelOfNeed
    outcome: Outcome = Field(description="Must fit the level of need, as a decision's must")


class ThresholdAuditAgreementCreate(Strict):
    agrees: bool = Field(description="Having seen the original decision: does the reviewer agree with it?")
    reason: Reason | None = Field(default=None, description="Required when `agrees` is false")


class AgreementFigures(BaseModel):
    sampled: int
    reviewed: int = Field(description="Blind reviews recorded")
    agreement_recorded: int
    agreed: int
    disagreed: int
    agreement_rate: float | None = Field(description="agreed / agreement_recorded (4 places); null if none")
    same_level: int = Field(description="Blind reviews that chose the original level of need")
    same_outcome: int = Field(description="Blind reviews that chose the original outcome")
    same_level_rate: float | None = Field(description="same_level / reviewed")
    same_outcome_rate: float | None = Field(description="same_outcome / reviewed")


class AgreementByLevel(AgreementFigures):
    level_of_need: LevelOfNeed = Field(description="The original decision's level of need")


class AgreementByMonth(AgreementFigures):
    month: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM of the original decision (London)")


class ThresholdAuditReport(BaseModel):
    """`GET /v1/reports/threshold-audit`: sampled decisions made in the period (London days)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    totals: AgreementFigures
    by_level_of_need: list[AgreementByLevel]
    by_month: list[AgreementByMonth]


# ---- the JSNA feed (issue 21; `jsna.py`, definitions: docs/referrals.md) ----

JsnaPeriodKind = Literal["month", "quarter"]
JsnaFormat = Literal["json", "csv", "svg", "png"]
SuppressionReason = Literal["primary", "secondary"]


class JsnaPeriod(BaseModel):
    label: str = Field(description="`2026-01` (a month) or `2026-Q1` (a calendar quarter)")
    start: date = Field(description="First day (London), inclusive")
    end: date = Field(description="Last day (London), inclusive")


class JsnaCell(BaseModel):
    """Families referred in the period, in the district, whose referral named the need."""

    period: str = Field(description="The period's label")
    need: NeedCodeRead
    district: str = Field(description="Postcode district (the outward code, `S60`), or `unknown`")
    count: int | None = Field(description="Families; null where suppressed")
    suppressed: bool
    reason: SuppressionReason | None = Field(
        description="`primary`: a count from 1 to the threshold less one; `secondary`: "
        "suppressed so that a primary cell cannot be worked out from the totals; null if published"
    )


class JsnaTotal(BaseModel):
    """A sum of cells: a need over every district (`district` null), a district over every need
    (`need` null), or the whole period (both null). A family referred with two needs counts in
    each, so these are family-need counts, not numbers of families."""

    period: str
    need: NeedCodeRead | None
    district: str | None
    count: int | None = Field(description="Null where withheld, so no suppressed cell can be recovered")
    suppressed: bool


class JsnaReport(BaseModel):
    """`GET /v1/reports/jsna`: referred families by need, period and postcode district."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from", description="First day of the first whole period")
    to: date = Field(description="Last day of the last whole, complete period")
    period: JsnaPeriodKind
    threshold: int = Field(description="Counts from 1 to this less one are suppressed")
    needs: list[NeedCodeRead] = Field(description="Every need code, in the code list's order")
    districts: list[str] = Field(description="Every district with a referral in the range; `unknown` last")
    periods: list[JsnaPeriod]
    cells: list[JsnaCell] = Field(description="Period x need x district, zeros included")
    totals: list[JsnaTotal]


# ---- bulk import (issue 22: imports.py, docs/import.md) ----


class ImportChildIn(ChildIn):
    """A child (or unborn child) of the incumbent system, matched against the person index."""

    source_id: SourceId
    postcode: str | None = Field(None, max_length=10, description="Where the child lives (matching)")

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, v: str | None) -> str | None:
        return None if v is None else format_postcode(normalise_postcode(v))


class ImportAdultIn(Strict):
    source_id: SourceId
    given_name: Name
    family_name: Name
    postcode: str | None = Field(None, max_length=10)

    _postcode = field_validator("postcode")(ImportChildIn._postcode.__func__)  # type: ignore[attr-defined]


class ImportRelationshipIn(Strict):
    """`person` is `type` of `related_person` (both source ids of people imported)."""

    source_id: SourceId
    person: SourceId
    type: RelationshipType
    related_person: SourceId
    from_on: IsoDate | None = None


def _referring_agency(value: str) -> str:
    if value not in REFERRING_AGENCY_TYPES:
        raise ValueError(f"one of {', '.join(REFERRING_AGENCY_TYPES)}")
    return value


REFERRING_AGENCY_TYPES = (MASH, EARLY_HELP, SOCIAL_CARE, *PARTNER_AGENCY_TYPES)
ReferringAgencyType = Annotated[
    str, AfterValidator(_referring_agency), Field(json_schema_extra={"enum": list(REFERRING_AGENCY_TYPES)})
]


class ImportAdultOfReferral(Strict):
    person: SourceId
    relationship: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


class ImportDecisionIn(Strict):
    level_of_need: LevelOfNeed
    outcome: Outcome
    rag: Rag | None = None
    rationale: LongText
    decided_by: DecidedBy
    decided_at: IsoAwareDatetime


class ImportReferralIn(Strict):
    """A referral the incumbent system holds, as it was received and decided. It keeps its
    dates; no event announces it (what it led to is imported as the episode itself)."""

    source_id: SourceId
    referral_type: ReferralType
    source_agency_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    source_agency_type: ReferringAgencyType
    referrer: Referrer
    children: list[SourceId] = Field(min_length=1, max_length=20, description="Source ids of imported people")
    adults: list[ImportAdultOfReferral] = Field(default_factory=list, max_length=20)
    address: AddressIn | None = None
    needs: list[NeedCode] = Field(min_length=1, max_length=20)
    summary: LongText
    received_at: IsoAwareDatetime
    decision: ImportDecisionIn | None = Field(
        None, description="The MASH decision, when it was made (received, undecided otherwise)"
    )


class ReferralImportBatch(Strict):
    """One batch: one transaction, wholly stored or not. Rows refer to people by source id
    (imported in this batch or an earlier one). Each list holds at most 500 rows."""

    children: list[ImportChildIn] = Field(default_factory=list, max_length=MAX_BATCH)
    adults: list[ImportAdultIn] = Field(default_factory=list, max_length=MAX_BATCH)
    relationships: list[ImportRelationshipIn] = Field(default_factory=list, max_length=MAX_BATCH)
    referrals: list[ImportReferralIn] = Field(default_factory=list, max_length=MAX_BATCH)
    dry_run: bool = Field(
        default=False, description="Check every row as a real run would, then store nothing"
    )


class ReferralImportResult(BaseModel):
    """What each row created (or had created, on a re-run), in the order sent."""

    children: list[ImportedItem]
    adults: list[ImportedItem]
    relationships: list[ImportedItem]
    referrals: list[ImportedItem]
