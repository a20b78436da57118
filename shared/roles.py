"""Agency types, practitioners' roles, and which roles each kind of agency may hold.

One definition for the gateway (what a token may carry) and for every service's policy
module (what a role may do). A call acts either for a named practitioner, whose roles come
from the practitioner registry or a council identity provider, or for an agency system with
no practitioner named (a *system call*), which acts with its agency type's `SYSTEM_ROLES`.
"""

from __future__ import annotations

MASH = "mash"
EARLY_HELP = "early_help"
SOCIAL_CARE = "social_care"
SERVICE = "service"
ADMIN = "admin"
PARTNER_AGENCY_TYPES = (
    "education",
    "health",
    "police",
    "housing",
    "voluntary",
    "youth_justice",
    "local_authority_other",
)
AGENCY_TYPES = (MASH, EARLY_HELP, SOCIAL_CARE, *PARTNER_AGENCY_TYPES, SERVICE, ADMIN)

MASH_SCREENER = "mash_screener"
MASH_MANAGER = "mash_manager"
EH_PRACTITIONER = "early_help_practitioner"
EH_MANAGER = "early_help_manager"
AGENCY_PRACTITIONER = "agency_practitioner"
AGENCY_ADMIN = "agency_admin"
COUNCIL_ADMIN = "council_admin"
ROLES = (
    MASH_SCREENER,
    MASH_MANAGER,
    EH_PRACTITIONER,
    EH_MANAGER,
    AGENCY_PRACTITIONER,
    AGENCY_ADMIN,
    COUNCIL_ADMIN,
)
MASH_ROLES = frozenset({MASH_SCREENER, MASH_MANAGER})
# Roles that work with children's cases; the two admin roles administer, they do not.
CASEWORK_ROLES = frozenset(ROLES) - {AGENCY_ADMIN, COUNCIL_ADMIN}
# What a practitioner holding only admin roles may still call: the registry, the council's
# admin API and aggregate reports - never a child's record.
ADMINISTRATIVE_SCOPES = frozenset({"practitioners:manage", "admin", "reports:read"})
EARLY_HELP_ROLES = frozenset({EH_PRACTITIONER, EH_MANAGER})

# The roles a practitioner of each agency type may hold; anything else in a token is dropped.
ALLOWED_ROLES: dict[str, frozenset[str]] = {
    MASH: frozenset({MASH_SCREENER, MASH_MANAGER, AGENCY_ADMIN}),
    EARLY_HELP: frozenset({EH_PRACTITIONER, EH_MANAGER, AGENCY_ADMIN}),
    SOCIAL_CARE: frozenset({AGENCY_PRACTITIONER, AGENCY_ADMIN}),
    **{t: frozenset({AGENCY_PRACTITIONER, AGENCY_ADMIN}) for t in PARTNER_AGENCY_TYPES},
    ADMIN: frozenset({COUNCIL_ADMIN, AGENCY_ADMIN}),
    SERVICE: frozenset(),
}

# What an agency system acting without a named practitioner may do: what its agency's
# practitioners together may do (the system answers for its own users).
SYSTEM_ROLES: dict[str, frozenset[str]] = {
    MASH: MASH_ROLES,
    EARLY_HELP: EARLY_HELP_ROLES,
    SOCIAL_CARE: frozenset({AGENCY_PRACTITIONER}),
    **{t: frozenset({AGENCY_PRACTITIONER}) for t in PARTNER_AGENCY_TYPES},
    ADMIN: frozenset({COUNCIL_ADMIN}),
    SERVICE: frozenset(),
}

# Agencies that see every case: the MASH and the council's own early help service.
ALL_SEEING_AGENCY_TYPES = frozenset({MASH, EARLY_HELP})
# Agencies that read every child's front-door record (every referral, every consent): those
# that see every case, children's social care (its statutory safeguarding function, Children
# Act 1989 s17/s47) and the services themselves. Every other agency reads only what it
# submitted (referrals) or what names it (consents).
STATUTORY_READER_AGENCY_TYPES = ALL_SEEING_AGENCY_TYPES | {SOCIAL_CARE, SERVICE}


def allowed_roles(agency_type: str, roles: set[str] | frozenset[str] | list[str]) -> frozenset[str]:
    """The roles of `roles` that a practitioner of `agency_type` may hold."""
    return frozenset(roles) & ALLOWED_ROLES.get(agency_type, frozenset())


def casework(roles: frozenset[str]) -> bool:
    """Whether a practitioner with these roles works with children's cases at all."""
    return bool(roles & CASEWORK_ROLES)
