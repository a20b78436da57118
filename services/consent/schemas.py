"""Request and response schemas of the consent service (Pydantic only)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from shared.codes import DEPRECATED_CONSENT_METHODS, ConsentMethod
from shared.imports import MAX_BATCH, ImportedItem, SourceId
from shared.validation import CleanName, IsoAwareDatetime, IsoDate

Purpose = Literal["early_help_service", "information_sharing"]
Relationship = Literal["self", "parent", "carer", "guardian"]
Competence = Literal["presumed_16_plus", "gillick_competent", "parental"]


def _current_method(value: object) -> object:
    """`verbal` (this service's word before the one vocabulary) is read as `in_person`."""
    return DEPRECATED_CONSENT_METHODS.get(value, value) if isinstance(value, str) else value


Method = Annotated[
    ConsentMethod,
    BeforeValidator(_current_method),
    Field(
        description="How consent was obtained (code list `consent_method`; `verbal`, deprecated, is stored as `in_person`)"
    ),
]
Decision = Literal["share", "do_not_share"]
LawfulBasisCode = Literal[
    "consent",
    "public_task_safeguarding",
    "public_task_statutory",
    "crime_prevention",
    "legal_obligation",
    "vital_interests",
    "legitimate_interests",
]
AccessBasis = Literal["consent", "sharing_decision"]
# Why the access check answered as it did (docs/consent.md, "The access check").
AccessReason = Literal[
    "decision_share",
    "decision_do_not_share",
    "consent_names_agency",
    "consent_covers_team_around_the_family",
    "consent_covers_team_around_the_family_family_agreed",
    "consent_predates_joining",
    "no_consent_or_decision",
]
# A disclosure rests on an access decision; or on the MASH's statutory screening function
# (it sees every case to decide the response; UK GDPR Art 6(1)(e), DPA 2018 Sch 1 para 18);
# or on another agency's statutory safeguarding function (children's social care under the
# Children Act 1989 s17/s47 reading the front door's referrals); or it is an agency reading
# back what it submitted itself (its own referral and what became of it).
DisclosureBasis = Literal[
    "consent", "sharing_decision", "mash_screening", "statutory_function", "own_submission"
]
ConsentStatus = Literal["active", "withdrawn", "expired"]

# Consent given to everyone on the Team Around the Family instead of named agencies.
TEAM_AROUND_THE_FAMILY = "team_around_the_family"
AgencyId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
# The practitioner a call acted for (the gateway's practitioner id); absent for a system call.
PractitionerId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GivenBy(_Request):
    name: Annotated[str, CleanName] = Field(min_length=1, max_length=200)
    relationship: Relationship = Field(
        description="`self` goes with competence `presumed_16_plus` or `gillick_competent`; "
        "`parent`, `carer` or `guardian` with `parental` (422 otherwise)"
    )


class ConsentCreate(_Request):
    person_id: UUID
    given_by: GivenBy
    competence: Competence = Field(
        description="Must fit `given_by.relationship`: `parental` for a parent, carer or guardian; "
        "`presumed_16_plus` or `gillick_competent` for `self` (422 otherwise)"
    )
    purposes: list[Purpose] = Field(min_length=1, max_length=2)
    agencies: list[AgencyId] = Field(
        min_length=1,
        max_length=50,
        description='Agency ids, or ["team_around_the_family"] for everyone on the TAF.',
    )
    method: Method
    obtained_at: IsoAwareDatetime = Field(description="Not in the future")
    expires_on: IsoDate | None = Field(default=None, description="After today (London)")
    person_date_of_birth: IsoDate | None = Field(
        default=None,
        description="Checked, never stored: with `presumed_16_plus` the person must be 16 or over "
        "on `obtained_at`; with `parental` they must be under 16.",
    )

    @field_validator("purposes")
    @classmethod
    def _unique_purposes(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))

    @field_validator("agencies")
    @classmethod
    def _unique_agencies(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class GivenByRead(BaseModel):
    name: str
    relationship: Relationship


class WithdrawalRead(BaseModel):
    id: str
    reason: str
    withdrawn_at: datetime
    recorded_by_agency_id: str


class ConsentRead(BaseModel):
    id: str
    person_id: str
    given_by: GivenByRead
    competence: Competence
    purposes: list[Purpose]
    agencies: list[str] = Field(
        description='Agency ids, or ["team_around_the_family"] for everyone on the TAF.'
    )
    method: ConsentMethod
    obtained_at: datetime
    expires_on: date | None
    status: ConsentStatus
    withdrawal: WithdrawalRead | None
    recorded_by_agency_id: str
    created_at: datetime


class ConsentList(BaseModel):
    items: list[ConsentRead]
    next_cursor: str | None = None


class ConsentWithdraw(_Request):
    reason: str = Field(min_length=1, max_length=2000)


class LawfulBasisRead(BaseModel):
    code: LawfulBasisCode
    title: str
    uk_gdpr: str
    special_category: str
    dpa_2018: str | None
    notes: str


class LawfulBasisList(BaseModel):
    items: list[LawfulBasisRead]


class SharingDecisionCreate(_Request):
    person_id: UUID
    agency_id: AgencyId
    purpose: Purpose
    decision: Decision
    lawful_basis: LawfulBasisCode | None = Field(
        default=None,
        description="Required to share; see GET /v1/lawful-bases. `consent` needs a live consent "
        "of the person covering this purpose and agency (or the TAF).",
    )
    justification: str = Field(min_length=1, max_length=4000, description="Not blank")
    decided_by: str = Field(min_length=1, max_length=200)
    approved_by: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The approving manager: required when sharing on a basis other than consent; "
        "someone other than `decided_by`.",
    )
    decided_at: IsoAwareDatetime | None = Field(default=None, description="Default: now; not in the future")
    supersedes_id: UUID | None = Field(
        default=None,
        description="The decision this one corrects (decisions are never edited): one about the "
        "same person, not already superseded.",
    )

    @field_validator("justification")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v


class SharingDecisionRead(BaseModel):
    id: str
    person_id: str
    agency_id: str
    purpose: Purpose
    decision: Decision
    lawful_basis: LawfulBasisCode | None
    justification: str
    decided_by: str
    approved_by: str | None
    supersedes_id: str | None
    superseded_by_id: str | None
    decided_at: datetime
    recorded_by_agency_id: str
    created_at: datetime


class SharingDecisionList(BaseModel):
    items: list[SharingDecisionRead]
    next_cursor: str | None = None


class AccessCheckRead(BaseModel):
    allowed: bool
    basis: AccessBasis | None
    reference_id: str | None
    reason: AccessReason
    practitioner_id: str | None = Field(
        default=None, description="The practitioner the asking service acts for, as it was sent."
    )


class DisclosureCreate(_Request):
    person_id: UUID
    agency_id: AgencyId
    resource_type: str = Field(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_.-]*$")
    resource_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    basis: DisclosureBasis
    reference_id: UUID | None = None
    request_id: str | None = Field(default=None, max_length=100)
    disclosed_at: IsoAwareDatetime
    practitioner_id: PractitionerId | None = Field(
        default=None, description="The practitioner who read it; absent when an agency system read it."
    )


class DisclosureRead(BaseModel):
    id: str
    person_id: str
    agency_id: str
    resource_type: str
    resource_id: str
    basis: DisclosureBasis
    reference_id: str | None
    request_id: str | None
    disclosed_at: datetime
    recorded_at: datetime
    # Null for a system call, and for every disclosure recorded before practitioners were known.
    practitioner_id: str | None = None


class DisclosureList(BaseModel):
    items: list[DisclosureRead]
    next_cursor: str | None = None


class DisclosureExport(BaseModel):
    person_id: str
    exported_at: datetime
    count: int
    disclosures: list[DisclosureRead]


# --- bulk import (issue 22: imports.py, docs/import.md) ---------------------------------------


class ImportWithdrawal(_Request):
    withdrawn_at: IsoAwareDatetime = Field(description="Not before `obtained_at`, not in the future")
    reason: str = Field(min_length=1, max_length=2000)


class ImportConsentIn(ConsentCreate):
    """A consent of the incumbent system, as `POST /v1/consents` takes it (the same rules: who
    may give consent for whom), with its withdrawal when it was withdrawn. It may have expired:
    `expires_on` is after the day it was obtained."""

    source_id: SourceId
    expires_on: IsoDate | None = Field(
        default=None, description="After the day consent was obtained (London)"
    )
    withdrawal: ImportWithdrawal | None = None


class ConsentImportBatch(_Request):
    """One batch (one transaction, wholly stored or not), at most 500 consents."""

    consents: list[ImportConsentIn] = Field(min_length=1, max_length=MAX_BATCH)
    dry_run: bool = Field(default=False, description="Check every row, then store nothing")


class ConsentImportResult(BaseModel):
    consents: list[ImportedItem]
