"""The referrals service's fixed vocabularies: need codes, headlines, CIN source codes, decisions.

Everything here is data that docs/referrals.md documents table by table; change both together.
"""

from __future__ import annotations

from typing import Literal

# The Supporting Families headlines and the need codes under them are shared (GET /v1/code-lists).
from shared.codes import HEADLINES as HEADLINES
from shared.codes import NEED_CODES as NEED_CODES
from shared.roles import STATUTORY_READER_AGENCY_TYPES

# Children in Need census referral source, from the submitting client's agency type.
SOURCE_CODE_BY_AGENCY_TYPE: dict[str, str] = {
    "education": "2A",  # schools
    "health": "3F",  # other health: one client type stands for GPs, health visitors, A&E...
    "housing": "4",
    "social_care": "5A",
    "mash": "5B",  # other internal
    "local_authority_other": "5B",
    "early_help": "5D",
    "service": "5D",  # a step-up from an early help episode
    "police": "6",
    "youth_justice": "7",  # other legal agency
    "voluntary": "8",  # other, including voluntary organisations
}
SELF_REFERRAL_SOURCE_CODE = "1C"
UNKNOWN_SOURCE_CODE = "10"
STEP_UP_SOURCE_CODE = "5D"


# Every source code a referral can carry (what `source_code_for` and a step-up can answer).
SOURCE_CODES: tuple[str, ...] = tuple(
    dict.fromkeys(
        [SELF_REFERRAL_SOURCE_CODE, *sorted(set(SOURCE_CODE_BY_AGENCY_TYPE.values())), UNKNOWN_SOURCE_CODE]
    )
)

# Why a person may be one already in the index (services/referrals/matching.py).
MatchReason = Literal[
    "nhs_number",
    "nhs_number_differs",
    "given_name_exact",
    "given_name_phonetic",
    "given_name_fuzzy",
    "family_name_exact",
    "family_name_phonetic",
    "family_name_fuzzy",
    "date_exact",
    "date_close",
    "postcode",
    "postcode_district",
]


def source_code_for(agency_type: str, referral_type: str) -> str:
    if referral_type == "self_referral":
        return SELF_REFERRAL_SOURCE_CODE
    return SOURCE_CODE_BY_AGENCY_TYPE.get(agency_type, UNKNOWN_SOURCE_CODE)


ReferralType = Literal["request_for_support", "safeguarding_concern", "self_referral"]
ReferralStatus = Literal["received", "decided", "withdrawn", "linked"]
LevelOfNeed = Literal["universal", "universal_plus", "partnership_plus", "specialist"]
Outcome = Literal[
    "no_further_action",
    "signpost_universal",
    "single_agency_early_help",
    "team_around_the_family",
    "social_care_assessment",
    "strategy_discussion",
]
Rag = Literal["red", "amber", "green"]

# Which levels of need each outcome may be recorded with (the threshold document in code).
OUTCOME_LEVELS: dict[str, frozenset[str]] = {
    "no_further_action": frozenset({"universal"}),
    "signpost_universal": frozenset({"universal", "universal_plus"}),
    "single_agency_early_help": frozenset({"universal_plus"}),
    "team_around_the_family": frozenset({"partnership_plus"}),
    "social_care_assessment": frozenset({"specialist"}),
    "strategy_discussion": frozenset({"specialist"}),
}
EARLY_HELP_OUTCOMES = frozenset({"single_agency_early_help", "team_around_the_family"})
ESCALATION_LEVEL = "specialist"

# Agency types that read every referral (everyone else reads only their agency's own).
READ_ALL_AGENCY_TYPES = STATUTORY_READER_AGENCY_TYPES  # one definition: shared/roles.py
