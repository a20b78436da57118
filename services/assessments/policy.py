"""Who may do what in the assessments service: every role and relationship rule, in one place.

Seeing comes first and is not decided here: `access.py` answers 404 to a caller who may not
see the episode. The rules below are asked only once the caller can see it, so a refusal is
403 `not-permitted`, naming the rule and what it needs.

Roles come from the caller's identity (`shared/roles.py`): a practitioner's own roles, or, for
a *system call* (an agency system naming no practitioner), its agency type's SYSTEM_ROLES - so
the early help system acts as an early help manager, a partner agency's system as an agency
practitioner. A system that names no one answers for its own users, and for its own
separation of duties: it is judged by its roles only (it cannot be "the author" or "the lead
professional", and it is never refused as either). Service identities (services calling one
another) keep the powers they had.

Relationships: the episode's lead professional (`practitioner_id` of the current lead, in the
caller's agency), a TAF member practitioner, the author of an assessment, the practitioner
owning an action.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.assessments.models import Assessment, CaseNote, LeadProfessional, PlanAction
from shared.identity import Identity
from shared.problems import Problem
from shared.roles import (
    ADMIN,
    AGENCY_PRACTITIONER,
    EARLY_HELP,
    EH_MANAGER,
    EH_PRACTITIONER,
    MASH,
    SOCIAL_CARE,
)


class NotPermitted(Problem):
    """403: the caller can see the object, but its role or relationship does not allow this."""

    status, type_slug, title = 403, "not-permitted", "Not permitted"

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}", extra={"rule": rule})


class NotActionOwner(NotPermitted):
    """Kept as its own problem type (`not-action-owner`), as documented before issue 18."""

    type_slug, title = "not-action-owner", "Not the action's owner"


class PractitionerRequired(Problem):
    """403: a worklist of "my" cases needs a call that names the practitioner."""

    status, type_slug, title = 403, "practitioner-required", "A practitioner token is needed"


@dataclass(frozen=True)
class Rule:
    name: str
    action: str
    who: str


# The table docs/assessments.md "Who may do what" shows (a test keeps the two identical).
RULES: tuple[Rule, ...] = (
    Rule(
        "open-episode",
        "`POST /v1/episodes` origin `step_down`",
        "an early help role (practitioner or manager), or a social care agency practitioner",
    ),
    Rule(
        "open-episode",
        "`POST /v1/episodes` origin `self_referral`",
        "early help manager (the self-referral route)",
    ),
    Rule(
        "open-episode",
        "`POST /v1/episodes` by a partner agency, or origin `referral`",
        "no one (episodes from referrals open only from the MASH decision)",
    ),
    Rule(
        "manage-team",
        "add / remove a TAF member",
        "early help manager; the lead professional where the manager delegates",
    ),
    Rule(
        "manage-family",
        "`PUT .../family-members` (the episode's children and adults)",
        "early help manager; the lead professional where the manager delegates",
    ),
    Rule(
        "change-lead-professional",
        "`PUT .../lead-professional` (`family_agreed` must be true)",
        "early help manager; the lead professional where the manager delegates",
    ),
    Rule(
        "delegate-to-lead",
        "`manager_delegates: true` on the lead professional",
        "early help manager",
    ),
    Rule(
        "rewrite-plan",
        "`PUT .../plan`",
        "early help manager; the lead professional where the manager delegates",
    ),
    Rule(
        "step-up",
        "`POST .../step-up`",
        "early help manager; the lead professional where the manager delegates",
    ),
    Rule(
        "approve-assessment",
        "approve or return a submitted assessment",
        "early help manager who is not its author",
    ),
    Rule("close-episode", "`POST .../close` (sign-off recorded)", "early help manager"),
    Rule(
        "update-action",
        "`PATCH /v1/actions/{id}` of an action naming its owner practitioner",
        "that practitioner (in the owning agency), or an early help manager",
    ),
    Rule(
        "update-action",
        "`PATCH /v1/actions/{id}` of an action naming no practitioner",
        "the owning agency",
    ),
    Rule(
        "awaiting-approval",
        "`GET /v1/assessments?status=submitted`",
        "early help manager",
    ),
    Rule(
        "caseload",
        "`GET /v1/me/caseload`",
        "a named practitioner (their episodes as lead professional or TAF member)",
    ),
    Rule(
        "write-note",
        "`POST .../notes` (a case note on an open episode)",
        "anyone who can see the episode (`episodes:write`); the author is recorded from the token",
    ),
    Rule(
        "read-restricted-note",
        "read a `restricted` note (one, the list, its history, the chronology)",
        "early help and the MASH; to anyone else it does not exist (404, left out of lists)",
    ),
    Rule(
        "restrict-note",
        "`restricted: true` on a new or amended note",
        "early help (those who may read restricted notes)",
    ),
    Rule(
        "amend-note",
        "`PATCH .../notes/{id}` of a note naming its author practitioner",
        "that practitioner (in the author agency), or an early help manager",
    ),
    Rule(
        "amend-note",
        "`PATCH .../notes/{id}` of a note written by a system call",
        "the author agency, or an early help manager",
    ),
    Rule(
        "read-reports",
        "`GET /v1/reports/supporting-families/summary` (aggregate figures)",
        "the MASH, early help, or the council's admin (`reports:read`)",
    ),
    Rule(
        "read-family-outcomes",
        "`GET /v1/reports/supporting-families` and `.../claims` (per family, by episode reference)",
        "the MASH, early help, or the council's admin (`reports:read`)",
    ),
    Rule(
        "bulk-import",
        "`POST /v1/imports/episodes` (`imports:write`, issue 22)",
        "the council's admin client, as a system call (no practitioner); anyone else 403 `import-not-permitted`",
    ),
    Rule(
        "bulk-import",
        "`POST /v1/imports/plans` (`imports:write`, issue 22)",
        "the council's admin client, as a system call (no practitioner); anyone else 403 `import-not-permitted`",
    ),
)

DELEGABLE = "early help manager, or the lead professional where the manager delegates"


def rules_markdown() -> str:
    lines = ["| Action | Who may | Rule |", "| --- | --- | --- |"]
    lines += [f"| {r.action} | {r.who} | `{r.name}` |" for r in RULES]
    return "\n".join(lines)


# --- relationships ---------------------------------------------------------------------------


def is_lead_professional(identity: Identity, lead: LeadProfessional | None) -> bool:
    return (
        lead is not None
        and identity.practitioner_id is not None
        and lead.practitioner_id == identity.practitioner_id
        and lead.agency_id == identity.agency_id
    )


def is_manager(identity: Identity) -> bool:
    return identity.is_service or identity.has_role(EH_MANAGER)


# --- the rules -------------------------------------------------------------------------------


def may_open_episode(identity: Identity, origin: str) -> None:
    if identity.is_service:
        return
    if origin == "step_down":
        if identity.has_role(EH_PRACTITIONER, EH_MANAGER):
            return
        if identity.agency_type == SOCIAL_CARE and identity.has_role(AGENCY_PRACTITIONER):
            return  # social care hands the family over to early help
        raise NotPermitted(
            "open-episode",
            "a step-down is opened by early help or by the social care team handing over "
            "(role early_help_practitioner, early_help_manager, or a social care agency_practitioner)",
        )
    if origin == "self_referral":
        if identity.has_role(EH_MANAGER):
            return
        raise NotPermitted(
            "open-episode", "the self-referral route is an early help manager's (role early_help_manager)"
        )
    raise NotPermitted(
        "open-episode", "an episode from a referral opens only from the MASH decision, never by this call"
    )


def may_manage_team(identity: Identity, lead: LeadProfessional | None, rule: str = "manage-team") -> None:
    """TAF membership, the lead professional, the plan and step-up: early help runs the case."""
    if is_manager(identity):
        return
    if lead is not None and lead.manager_delegates and is_lead_professional(identity, lead):
        return
    raise NotPermitted(rule, f"needs role early_help_manager ({DELEGABLE})")


def may_delegate(identity: Identity) -> None:
    if not is_manager(identity):
        raise NotPermitted(
            "delegate-to-lead", "only an early help manager (role early_help_manager) may delegate"
        )


def may_approve(identity: Identity, assessment: Assessment, verb: str = "approve") -> None:
    """An early help manager who is not the author. Practitioners are compared when both are
    named; a system call is judged by its role only (see the module docstring)."""
    if not is_manager(identity):
        raise NotPermitted(
            "approve-assessment", f"only an early help manager (role early_help_manager) may {verb} it"
        )
    if (
        identity.practitioner_id is not None
        and assessment.author_practitioner_id is not None
        and identity.practitioner_id == assessment.author_practitioner_id
    ):
        raise NotPermitted(
            "approve-assessment", f"you started this assessment: another early help manager must {verb} it"
        )


def may_close(identity: Identity) -> None:
    if not is_manager(identity):
        raise NotPermitted(
            "close-episode", "closure needs an early help manager's sign-off (role early_help_manager)"
        )


def may_update_action(identity: Identity, action: PlanAction) -> None:
    if identity.is_service:
        return
    if action.owner_practitioner_id is not None:
        if identity.has_role(EH_MANAGER):
            return
        if (
            identity.practitioner_id == action.owner_practitioner_id
            and identity.agency_id == action.owner_agency_id
        ):
            return
        raise NotActionOwner(
            "update-action",
            "only the practitioner who owns this action (or an early help manager) may update it",
        )
    if identity.agency_id != action.owner_agency_id:
        raise NotActionOwner("update-action", "only the agency that owns this action may update it")


def may_list_awaiting_approval(identity: Identity) -> None:
    if not is_manager(identity):
        raise NotPermitted(
            "awaiting-approval", "the approval worklist is for early help managers (role early_help_manager)"
        )


def caseload_practitioner(identity: Identity) -> str:
    if identity.practitioner_id is None:
        raise PractitionerRequired(
            "A caseload is a practitioner's: call with a token that names the practitioner "
            "(the token exchange at /oauth/token), not the agency system's own token"
        )
    return identity.practitioner_id


# --- case notes (issue 20) -------------------------------------------------------------------


def may_read_restricted(identity: Identity) -> bool:
    """Restricted notes are early help's. The MASH (and a service) reads every episode in full
    without a consent check, so it reads them too; social care and every other agency read an
    episode as a TAF member with consent, and a restricted note is not theirs to see."""
    return identity.sees_all


def may_restrict_note(identity: Identity) -> None:
    if not may_read_restricted(identity):
        raise NotPermitted(
            "restrict-note", "only early help may mark a note restricted (it would be hidden from you)"
        )


def may_amend_note(identity: Identity, note: CaseNote) -> None:
    """The author practitioner, or an early help manager. A note written by a system call (no
    practitioner named) is its agency's, like an action naming no practitioner."""
    if is_manager(identity):
        return
    if note.author_practitioner_id is not None:
        if (
            identity.practitioner_id == note.author_practitioner_id
            and identity.agency_id == note.author_agency_id
        ):
            return
        raise NotPermitted(
            "amend-note",
            "only the note's author (or an early help manager, role early_help_manager) may amend it",
        )
    if identity.agency_id != note.author_agency_id:
        raise NotPermitted(
            "amend-note", "only the agency that wrote this note (or an early help manager) may amend it"
        )


# --- reports (issue 21) ----------------------------------------------------------------------

REPORT_READER_AGENCY_TYPES = frozenset({MASH, EARLY_HELP, ADMIN})


def may_read_reports(identity: Identity, rule: str = "read-reports") -> None:
    """Deny by default: the scope alone is not enough, the agency must be one that reads the
    council's reports (an agency given `reports:read` by mistake still hears 403)."""
    if identity.agency_type not in REPORT_READER_AGENCY_TYPES:
        raise NotPermitted(rule, "only the MASH, early help or the council's admin read these reports")


def may_read_family_outcomes(identity: Identity) -> None:
    may_read_reports(identity, "read-family-outcomes")
