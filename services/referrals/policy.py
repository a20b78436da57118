"""Who may do what, and who sees what, in the referrals service: every rule in one place.

docs/referrals.md ("Who may do what / who sees what") is this module in prose; change both
together. Scopes are checked first (at the gateway and again by the router); these rules
come on top, per role of the practitioner the call acts for (a system call acts with its
agency type's `SYSTEM_ROLES`, shared/roles.py) and per agency of the object.

Who may do what
- Submit a referral: any caller with `referrals:create`.
- Read a referral: the MASH, early help, social care and service identities read every one;
  any other agency only those it submitted (anything else is 404: its existence must not leak).
- Withdraw: the submitting agency, or the MASH (a MASH role).
- Decide, confirm or reject a possible match, merge people or undo a merge, read the MASH
  queue: a MASH role (`mash_screener` or `mash_manager`); anyone else 403.
- Assign a queued referral: a `mash_manager` to anyone; a `mash_screener` only to themself.
- Correct a person's record, add or end a relationship between people (issue 20): a MASH
  role or an early help role (practitioner or manager), or a service; anyone else 403.
- The threshold audit (issue 21): the `AUDIT_RULES` table at the end of this module.

Who sees what (`view_of`, applied to every referral, list row and journey item)
- Matches (possible duplicates), `linked_referral_id` and `assigned_to`: MASH and service only.
- `open_episode_id` (the child already has an open early help episode): MASH, service and
  early help (which sees every episode anyway).
- A partner agency (anyone who reads only its own referrals) sees what it submitted and what
  became of it: status (`linked` shows as `received`: the link is the MASH's business),
  reference, received/due/decided times, the decision's level and outcome and the episode it
  opened - not the decision's rationale, RAG, decision-maker or agency checks (other agencies'
  information), not the person ids the index gave the people it named, nor whether they
  matched someone already known.

Disclosures (`disclosure_of`): a read by an agency other than the MASH, early help or a service
of a child's information it did not itself provide is recorded in the consent service's
disclosure log, with the practitioner.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.referrals.codes import NEED_CODES, READ_ALL_AGENCY_TYPES
from services.referrals.models import Referral
from shared.identity import Identity
from shared.problems import Problem
from shared.roles import EARLY_HELP, EARLY_HELP_ROLES, MASH, MASH_MANAGER, MASH_ROLES, MASH_SCREENER

# ---- who may do what ----


class RoleRequired(Problem):
    status, type_slug, title = 403, "role-required", "Your role does not allow this"


class NotSubmitter(Problem):
    status, type_slug, title = 403, "not-submitter", "Not the submitting agency"


def reads_all(identity: Identity) -> bool:
    """MASH, early help and social care (which takes step-ups and s47 work) read every referral."""
    return identity.agency_type in READ_ALL_AGENCY_TYPES


def may_read(identity: Identity, referral: Referral) -> bool:
    return reads_all(identity) or referral.source_agency_id == identity.agency_id


def is_mash(identity: Identity) -> bool:
    return identity.has_role(*MASH_ROLES)


def require_mash(identity: Identity, action: str) -> None:
    """Only the MASH decides a referral, resolves matches, merges people, works the queue."""
    if not is_mash(identity):
        raise RoleRequired(f"Only a MASH screener or manager may {action}")


def require_withdraw(identity: Identity, referral: Referral) -> None:
    if referral.source_agency_id != identity.agency_id and not is_mash(identity):
        raise NotSubmitter("Only the agency that submitted a referral, or the MASH, may withdraw it")


def require_assign(identity: Identity, practitioner_id: str | None) -> None:
    """A MASH manager assigns to anyone (or unassigns); a screener takes a referral themself."""
    if identity.has_role(MASH_MANAGER):
        return
    if (
        identity.has_role(MASH_SCREENER)
        and practitioner_id is not None
        and practitioner_id == identity.practitioner_id
    ):
        return
    if identity.has_role(MASH_SCREENER):
        raise RoleRequired("A MASH screener may assign a referral only to themself")
    raise RoleRequired("Only a MASH manager, or a screener taking it themself, may assign a referral")


def require_person_editor(identity: Identity, action: str) -> None:
    """The person index is the MASH's and early help's to correct: they hold the family's
    record; partners (and social care) read it, or tell the MASH."""
    if identity.is_service or identity.has_role(*MASH_ROLES, *EARLY_HELP_ROLES):
        return
    raise RoleRequired(f"Only a MASH or early help practitioner may {action}")


# ---- who sees what ----


@dataclass(frozen=True)
class View:
    """What of a referral a caller sees (see the module docstring)."""

    links: bool  # matches (possible duplicates) and linked_referral_id
    open_episode: bool
    assignment: bool
    # A partner: its own submissions, status and outcome only (no person ids, match flags,
    # decision rationale or agency checks).
    own_only: bool

    @property
    def withholds_nothing(self) -> bool:
        """The MASH's (and a service's) view: every field as stored."""
        return self.links and self.open_episode and self.assignment and not self.own_only


def view_of(identity: Identity) -> View:
    mash = identity.is_service or identity.agency_type == MASH
    return View(
        links=mash,
        open_episode=mash or identity.agency_type == EARLY_HELP,
        assignment=mash,
        own_only=not reads_all(identity),
    )


def shown_status(view: View, status: str) -> str:
    """A partner's referral the MASH linked to an existing case shows as received."""
    return "received" if view.own_only and status == "linked" else status


def statuses_for_filter(view: View, status: str | None) -> list[str] | None:
    """The stored statuses a `?status=` filter means for this caller (None: no filter)."""
    if status is None:
        return None
    if view.own_only:
        if status == "received":
            return ["received", "linked"]
        if status == "linked":
            return []
    return [status]


# ---- the MASH queue ----

SAFEGUARDING_HEADLINES = frozenset({"children_safe_from_abuse_and_exploitation", "safe_from_domestic_abuse"})


def queue_priority(urgent: bool, needs: list[str]) -> int:
    """Higher is more urgent: a safeguarding concern first, then needs under a safeguarding
    headline, then the number of needs named. Ties go by the decision's due time."""
    safeguarding = any(NEED_CODES.get(n) in SAFEGUARDING_HEADLINES for n in needs)
    return (100 if urgent else 0) + (10 if safeguarding else 0) + min(len(needs), 9)


# ---- disclosures ----

# Agencies whose reads are not disclosures: the MASH and early help hold every case as their
# function, and the services call each other for those who asked.
NO_DISCLOSURE_AGENCY_TYPES = frozenset({MASH, EARLY_HELP, "service"})
# The lawful basis recorded for such a read: the reader's statutory safeguarding function
# (children's social care, Children Act 1989 s17/s47, reads the front door's referrals and the
# person index). Only agencies whose scopes reach another agency's information here (social
# care's `referrals:read` of every referral, `people:read`) ever make one.
DISCLOSURE_BASIS = "statutory_function"


def discloses(identity: Identity, provided_by_agency_id: str | None = None) -> bool:
    """Whether this caller reading a child's information is a disclosure. Information the
    caller's own agency provided (its own referral) is not."""
    if identity.agency_type in NO_DISCLOSURE_AGENCY_TYPES:
        return False
    return provided_by_agency_id is None or provided_by_agency_id != identity.agency_id


# ---- the threshold audit (issue 21, `threshold_audit.py`) ----


@dataclass(frozen=True)
class Rule:
    name: str
    action: str
    who: str


# The table docs/referrals.md "Threshold audit: who may do what" shows (a test keeps the two
# identical). Scopes come first: `triage:write` for the audit, `reports:read` for the report.
AUDIT_RULES: tuple[Rule, ...] = (
    Rule(
        "audit-draw",
        "`POST /v1/threshold-audits`",
        "a `mash_manager` of a MASH agency (a named practitioner, or the MASH's system); anyone else 403",
    ),
    Rule(
        "audit-read",
        "`GET /v1/threshold-audits`, `GET /v1/threshold-audits/{id}`",
        "a `mash_manager` of the MASH agency that drew the audit (another agency's: 404); the "
        "items never show the original decision, and name the referral only once reviewed",
    ),
    Rule(
        "audit-review",
        "`GET .../items/{item_id}`, `POST .../items/{item_id}/review`, `POST .../items/{item_id}/agreement`",
        "a named `mash_manager` of that MASH (not a system call) who is not the decision's decider "
        "(403 `own-decision`), on an item assigned to them or to no one (reviewing takes it); an "
        "item another manager reviews or was assigned: 403 `not-your-item`",
    ),
    Rule(
        "audit-blind",
        "the item's `original_decision`",
        "withheld until the reviewer's own level of need and outcome are recorded",
    ),
    Rule(
        "audit-report",
        "`GET /v1/reports/threshold-audit` (`reports:read`)",
        "every holder of the scope: aggregate figures only (no referral, reviewer or reason)",
    ),
)


def audit_rules_markdown() -> str:
    lines = ["| Action | Who may | Rule |", "| --- | --- | --- |"]
    lines += [f"| {r.action} | {r.who} | `{r.name}` |" for r in AUDIT_RULES]
    return "\n".join(lines)


class OwnDecision(Problem):
    status, type_slug, title = 403, "own-decision", "You made this decision"


class NotYourItem(Problem):
    status, type_slug, title = 403, "not-your-item", "This item is another reviewer's"


def is_audit_manager(identity: Identity) -> bool:
    """A MASH manager of a MASH agency: who draws and reviews threshold audits."""
    return identity.agency_type == MASH and identity.has_role(MASH_MANAGER)


def require_audit_manager(identity: Identity, action: str) -> None:
    """audit-draw, audit-read."""
    if not is_audit_manager(identity):
        raise RoleRequired(f"Only a MASH manager may {action}")


def require_reviewer(identity: Identity, decider_id: str | None, reviewer_id: str | None) -> str:
    """audit-review: a named MASH manager, not the decider, on an item that is theirs or
    no one's. Returns the reviewer's practitioner id."""
    require_audit_manager(identity, "review a threshold audit item")
    me = identity.practitioner_id
    if me is None:
        raise RoleRequired("A second review is a named MASH manager's: a system call may not make one")
    if decider_id is not None and decider_id == me:
        raise OwnDecision("You made this decision: its second review must be another MASH manager's")
    if reviewer_id is not None and reviewer_id != me:
        raise NotYourItem("This item is assigned to, or reviewed by, another MASH manager")
    return me
