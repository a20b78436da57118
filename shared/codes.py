"""Every fixed list of the API in one place, with labels: what `GET /v1/code-lists` serves.

Each service keeps its `Literal[...]` types next to its schemas (that is what the OpenAPI shows
as an `enum`); `tests/unit/test_code_lists.py` holds every one of them equal to the list here,
so a code added in one place and not the other fails the build. Codes are stable: a code is
never renamed or reused; a label may be reworded.

Need codes and the ten Supporting Families headlines are here too (the referrals service
re-exports them from `services/referrals/codes.py`); docs/referrals.md tables them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

# One vocabulary for how consent was obtained, in referrals and in the consent service.
# (`verbal` was the consent service's word for what is now `in_person` or `phone`; it is still
# accepted on input as `in_person`, see CHANGELOG.md.)
ConsentMethod = Literal["in_person", "phone", "video", "written", "electronic"]
DEPRECATED_CONSENT_METHODS: dict[str, str] = {"verbal": "in_person"}


@dataclass(frozen=True)
class Code:
    code: str
    label: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "label": self.label, **self.extra}


@dataclass(frozen=True)
class CodeList:
    name: str
    description: str
    used_in: tuple[str, ...]
    codes: tuple[Code, ...]

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.codes)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "used_in": list(self.used_in),
            "codes": [c.as_json() for c in self.codes],
        }


def _list(name: str, description: str, used_in: tuple[str, ...], *pairs: tuple[str, str]) -> CodeList:
    return CodeList(name, description, used_in, tuple(Code(c, label) for c, label in pairs))


def _labelled(literal: Any, labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The codes of a Literal, in its order, with their labels (a missing label is an error)."""
    return tuple((code, labels[code]) for code in get_args(literal))


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

CONSENT_METHOD_LABELS = {
    "in_person": "In person (spoken, face to face)",
    "phone": "By phone",
    "video": "By video call",
    "written": "Written and signed",
    "electronic": "Electronic (online form, email)",
}

STATIC_LISTS: tuple[CodeList, ...] = (
    _list(
        "referral_type",
        "What kind of request reached the front door",
        ("referrals.referral_type",),
        ("request_for_support", "Request for Support"),
        ("safeguarding_concern", "Safeguarding concern"),
        ("self_referral", "Self-referral by the family"),
    ),
    _list(
        "referral_status",
        "Where a referral stands",
        ("referrals.status",),
        ("received", "Received, awaiting the MASH decision"),
        ("decided", "Decided by the MASH"),
        ("withdrawn", "Withdrawn by the referrer"),
        ("linked", "Linked to the child's open episode"),
    ),
    _list(
        "level_of_need",
        "The local threshold of need",
        ("referrals.decision.level_of_need", "episodes.level_of_need"),
        ("universal", "Universal (level 1)"),
        ("universal_plus", "Universal plus (level 2)"),
        ("partnership_plus", "Partnership plus: targeted early help (level 3)"),
        ("specialist", "Specialist: children's social care (level 4)"),
    ),
    _list(
        "decision_outcome",
        "The MASH's decision on a referral",
        ("referrals.decision.outcome",),
        ("no_further_action", "No further action"),
        ("signpost_universal", "Signposted to universal services"),
        ("single_agency_early_help", "Single-agency early help"),
        ("team_around_the_family", "Team Around the Family"),
        ("social_care_assessment", "Children's social care assessment"),
        ("strategy_discussion", "Strategy discussion"),
    ),
    _list(
        "rag",
        "The MASH's urgency rating",
        ("referrals.decision.rag",),
        ("red", "Red: same day"),
        ("amber", "Amber"),
        ("green", "Green"),
    ),
    _list(
        "gender",
        "A person's gender as recorded",
        ("referrals.children.gender", "people.gender"),
        ("female", "Female"),
        ("male", "Male"),
        ("other", "Other"),
        ("not_known", "Not known"),
        ("not_stated", "Not stated"),
    ),
    _list(
        "consent_method",
        "How consent was obtained (one vocabulary for referrals and consents)",
        ("referrals.consent.method", "consents.method"),
        *_labelled(ConsentMethod, CONSENT_METHOD_LABELS),
    ),
    _list(
        "consent_given_by",
        "Who gave consent, in relation to the person",
        ("consents.given_by.relationship",),
        ("self", "The person themself"),
        ("parent", "A parent"),
        ("carer", "A carer"),
        ("guardian", "A guardian"),
    ),
    _list(
        "competence",
        "On what footing the person's consent stands",
        ("consents.competence",),
        ("presumed_16_plus", "Presumed competent (16 or over)"),
        ("gillick_competent", "Gillick competent"),
        ("parental", "Given by a person with parental responsibility"),
    ),
    _list(
        "consent_purpose",
        "What the consent is for",
        ("consents.purposes",),
        ("early_help_service", "Receiving an early help service"),
        ("information_sharing", "Sharing information between agencies"),
    ),
    _list(
        "consent_status",
        "Where a consent stands",
        ("consents.status",),
        ("active", "Active"),
        ("withdrawn", "Withdrawn"),
        ("expired", "Expired"),
    ),
    _list(
        "sharing_decision",
        "A decision to share information without consent, or not",
        ("sharing-decisions.decision",),
        ("share", "Share"),
        ("do_not_share", "Do not share"),
    ),
    _list(
        "lawful_basis",
        "The lawful basis of a sharing decision (UK GDPR, DPA 2018)",
        ("sharing-decisions.lawful_basis",),
        ("consent", "Consent"),
        ("public_task_safeguarding", "Public task: safeguarding"),
        ("public_task_statutory", "Public task: a statutory function"),
        ("crime_prevention", "Prevention or detection of crime"),
        ("legal_obligation", "Legal obligation"),
        ("vital_interests", "Vital interests"),
        ("legitimate_interests", "Legitimate interests"),
    ),
    _list(
        "episode_status",
        "Where an early help episode stands",
        ("episodes.status",),
        ("open", "Open"),
        ("closed", "Closed"),
    ),
    _list(
        "episode_origin",
        "How an episode began",
        ("episodes.origin",),
        ("referral", "From a referral's MASH decision"),
        ("step_down", "Stepped down from children's social care"),
        ("self_referral", "The family asked for help"),
    ),
    _list(
        "close_reason",
        "Why an episode closed",
        ("episodes.close.reason",),
        ("needs_met", "Needs met"),
        ("stepped_up", "Stepped up to children's social care"),
        ("consent_withdrawn", "Consent withdrawn"),
        ("moved_away", "Moved out of the area"),
        ("disengaged", "The family disengaged"),
        ("no_longer_eligible", "No longer eligible"),
    ),
    _list(
        "contact_method",
        "How a contact with the family took place",
        ("episodes.contacts.method",),
        ("home_visit", "Home visit"),
        ("phone", "Phone call"),
        ("video", "Video call"),
        ("office", "At the office"),
        ("school", "At school"),
        ("other", "Other"),
    ),
    _list(
        "agency_type",
        "The kind of agency a client belongs to",
        ("admin.clients.agency_type", "episodes.taf_members.agency_type"),
        ("mash", "Multi-Agency Safeguarding Hub"),
        ("early_help", "Early help"),
        ("social_care", "Children's social care"),
        ("education", "Education (schools, colleges, early years)"),
        ("health", "Health"),
        ("police", "Police"),
        ("housing", "Housing"),
        ("voluntary", "Voluntary and community sector"),
        ("youth_justice", "Youth justice"),
        ("local_authority_other", "Other council service"),
    ),
    _list(
        "deadline_unit",
        "The unit of a deadline rule",
        ("deadline-rules.unit",),
        ("working_days", "Working days (the council's calendar)"),
        ("calendar_days", "Calendar days"),
        ("hours", "Hours"),
    ),
)


def build_lists(
    headlines: Mapping[str, str] = HEADLINES, need_codes: Mapping[str, str] = NEED_CODES
) -> dict[str, CodeList]:
    """Every list by name: the static ones plus headlines and needs (each need with its
    Supporting Families headline)."""
    lists = {c.name: c for c in STATIC_LISTS}
    lists["headline"] = _list(
        "headline",
        "The ten Supporting Families headline outcomes",
        ("plans.outcomes.headline",),
        *headlines.items(),
    )
    lists["need"] = CodeList(
        "need",
        "Needs a referral may name, each under one Supporting Families headline",
        ("referrals.needs",),
        tuple(
            Code(code, code.replace("_", " ").capitalize(), {"headline": h, "headline_label": headlines[h]})
            for code, h in need_codes.items()
        ),
    )
    return dict(sorted(lists.items()))


CODE_LISTS: dict[str, CodeList] = build_lists()
