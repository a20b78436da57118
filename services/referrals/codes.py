"""The referrals service's fixed vocabularies: need codes, headlines, CIN source codes, decisions.

Everything here is data that docs/referrals.md documents table by table; change both together.
"""

from __future__ import annotations

from typing import Literal

# The ten Supporting Families headline outcomes (domain.md, step 6), as slugs.
HEADLINES: dict[str, str] = {
    "good_education": "Getting a good education",
    "good_early_years_development": "Good early years development",
    "improved_mental_and_physical_health": "Improved mental and physical health",
    "better_managed_substance_use": "Promoting recovery and reducing harm from substance use",
    "improved_family_relationships": "Improved family relationships",
    "children_safe_from_abuse_and_exploitation": "Children safe from abuse and exploitation",
    "families_diverted_from_crime": "Crime prevention and tackling crime",
    "safe_from_domestic_abuse": "Safe from domestic abuse",
    "secure_housing": "Secure housing",
    "financial_stability": "Financial stability",
}

# Need codes a Request for Support may name, each tagged to exactly one headline.
NEED_CODES: dict[str, str] = {
    "school_attendance": "good_education",
    "exclusion": "good_education",
    "special_educational_needs": "good_education",
    "not_in_education_employment_or_training": "good_education",
    "early_years_development": "good_early_years_development",
    "school_readiness": "good_early_years_development",
    "child_mental_health": "improved_mental_and_physical_health",
    "parental_mental_health": "improved_mental_and_physical_health",
    "physical_health": "improved_mental_and_physical_health",
    "disability": "improved_mental_and_physical_health",
    "substance_misuse": "better_managed_substance_use",
    "parental_substance_misuse": "better_managed_substance_use",
    "family_relationships": "improved_family_relationships",
    "parenting_support": "improved_family_relationships",
    "young_carer": "improved_family_relationships",
    "neglect_concern": "children_safe_from_abuse_and_exploitation",
    "exploitation": "children_safe_from_abuse_and_exploitation",
    "going_missing": "children_safe_from_abuse_and_exploitation",
    "online_safety": "children_safe_from_abuse_and_exploitation",
    "anti_social_behaviour": "families_diverted_from_crime",
    "offending": "families_diverted_from_crime",
    "domestic_abuse": "safe_from_domestic_abuse",
    "housing": "secure_housing",
    "homelessness_risk": "secure_housing",
    "debt_financial": "financial_stability",
    "worklessness": "financial_stability",
}
assert set(NEED_CODES.values()) <= set(HEADLINES)

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
READ_ALL_AGENCY_TYPES = frozenset({"mash", "early_help", "social_care", "service"})
