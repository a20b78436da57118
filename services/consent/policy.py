"""Who may do what in the consent service, and whom a person's consent covers: every rule in one place.

Scopes are checked first (at the gateway and again by the router): `consent:write` records and
withdraws consents, `sharing:write` records sharing decisions, `consent:read` reads; the
access check and the disclosure log's intake take service identities only. The rules below
come on top. A refusal here keeps the problem it always had: an object the caller may not see
is 404 (its existence must not leak), a consent or decision that breaks a rule is 422 naming
the field.

Who sees what
- Consents, sharing decisions and disclosures of every person: the MASH, the council's early
  help service, social care and service identities (`CONSENT_READER_TYPES`).
- Any other agency (a partner given `consent:read`, which none has by default) sees only the
  consents whose `agencies` name its own agency id (not TAF-wide consents: this service does
  not know TAF membership), the decisions about its agency and the disclosures made to it.

Who may give consent (`check_competence`)
- The person themself when 16 or over (`presumed_16_plus`) or Gillick competent; a parent,
  carer or guardian (`parental`) for a child under 16. The date of birth, when given, is
  checked on the UK date consent was obtained and never stored.

Who may record a sharing decision (`check_decision`)
- `share` needs a lawful basis. On the basis `consent`, a live consent of the person must cover
  the purpose and name the agency or the TAF; on any other basis, an approving manager
  (`approved_by`), who is never the decision maker (`decided_by`).

Whom the access check allows (`answer`)
1. The latest sharing decision for (person, agency, purpose) that no correction supersedes
   decides if there is one: `share` allows, `do_not_share` denies - even against a consent.
2. Otherwise a live consent covering the purpose allows when it names the agency, or when it
   names `team_around_the_family` and the agency sits on the TAF, joined it no later than the
   consent was obtained (`joined_at`; absent: covered, as for callers from before the rule) or
   the family agreed to its joining (`family_agreed_to_join`).
3. Otherwise denied.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from services.consent.models import Consent, Disclosure, SharingDecision
from services.consent.repository import AccessFact, LiveConsent
from services.consent.schemas import (
    TEAM_AROUND_THE_FAMILY,
    AccessCheckRead,
    AccessReason,
    ConsentCreate,
    SharingDecisionCreate,
)
from shared.clock import LONDON
from shared.identity import Identity
from shared.problems import ValidationProblem
from shared.roles import STATUTORY_READER_AGENCY_TYPES

ADULT_AGE = 16
CONSENT_READER_TYPES = STATUTORY_READER_AGENCY_TYPES  # one definition: shared/roles.py
PARENTAL_RELATIONSHIPS = frozenset({"parent", "carer", "guardian"})


class CompetenceRule(ValidationProblem):
    """422 `competence-rule`: who gave consent does not match the person's age or competence."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message, type_slug="competence-rule")


class ApprovalRequired(ValidationProblem):
    def __init__(self) -> None:
        super().__init__(
            "approved_by",
            "sharing without consent needs the approving manager",
            type_slug="approval-required",
        )


@dataclass(frozen=True)
class Rule:
    name: str
    action: str
    who: str


# The table docs/consent.md "Who may do what" shows (a test keeps the two identical).
RULES: tuple[Rule, ...] = (
    Rule(
        "sees-every-person",
        "read consents, sharing decisions and disclosures (`consent:read`)",
        "the MASH, early help, social care and service identities: every person's",
    ),
    Rule(
        "sees-own-agency",
        "read consents, sharing decisions and disclosures (`consent:read`), any other agency",
        "only consents naming its agency id, decisions about its agency, disclosures to it "
        "(anything else 404)",
    ),
    Rule(
        "give-consent",
        "`POST /v1/consents` (`consent:write`), `given_by.relationship` `self`",
        "the person, 16 or over (`presumed_16_plus`) or `gillick_competent`",
    ),
    Rule(
        "give-consent",
        "`POST /v1/consents` (`consent:write`), `given_by.relationship` `parent` / `carer` / `guardian`",
        "a parent, carer or guardian (`parental`) of a child under 16",
    ),
    Rule(
        "withdraw-consent",
        "`POST /v1/consents/{id}/withdraw` (`consent:write`)",
        "a caller who may see the consent (above)",
    ),
    Rule(
        "share-on-consent",
        "`POST /v1/sharing-decisions` (`sharing:write`) `share` on the basis `consent`",
        "a `sharing:write` holder, when a live consent of the person covers the purpose and names "
        "the agency or the TAF",
    ),
    Rule(
        "share-without-consent",
        "`POST /v1/sharing-decisions` (`sharing:write`) `share` on any other basis",
        "a decision maker (`decided_by`) with an approving manager (`approved_by`) who is someone else",
    ),
    Rule(
        "access-check",
        "`GET /v1/access-checks`, `POST /internal/disclosures`",
        "service identities only",
    ),
    Rule(
        "access-by-decision",
        "an agency receives a person's information: a sharing decision for (person, agency, purpose)",
        "the latest decision no correction supersedes decides: `share` allows, `do_not_share` denies "
        "even against consent",
    ),
    Rule(
        "access-by-consent",
        "an agency receives a person's information: no decision",
        "an agency a live consent covering the purpose names",
    ),
    Rule(
        "access-by-taf-consent",
        "an agency receives a person's information: no decision, a TAF-wide consent",
        "an agency on the TAF (`on_team_around_the_family`) that joined no later than the consent "
        "was obtained (`joined_at`), or whose joining the family agreed to (`family_agreed_to_join`)",
    ),
    Rule(
        "bulk-import",
        "`POST /v1/imports/consents` (`imports:write`, issue 22)",
        "the council's admin client, as a system call (no practitioner); anyone else 403 `import-not-permitted`",
    ),
)


def rules_markdown() -> str:
    lines = ["| Action | Who may | Rule |", "| --- | --- | --- |"]
    lines += [f"| {r.action} | {r.who} | `{r.name}` |" for r in RULES]
    return "\n".join(lines)


# --- who sees what ---------------------------------------------------------------------------


def sees_every_person(identity: Identity) -> bool:
    return identity.agency_type in CONSENT_READER_TYPES


def may_see_consent(identity: Identity, consent: Consent) -> bool:
    return sees_every_person(identity) or identity.agency_id in consent.agencies


def may_see_decision(identity: Identity, decision: SharingDecision) -> bool:
    return sees_every_person(identity) or decision.agency_id == identity.agency_id


def may_see_disclosure(identity: Identity, disclosure: Disclosure) -> bool:
    """As `agency_filter`, for one disclosure: every one, or only those made to the caller's agency."""
    return sees_every_person(identity) or disclosure.agency_id == identity.agency_id


def agency_filter(identity: Identity) -> str | None:
    """The only agency whose decisions and disclosures the caller sees (None: every agency's)."""
    return None if sees_every_person(identity) else identity.agency_id


# --- who may give consent --------------------------------------------------------------------


def age_on(date_of_birth: date, on: date) -> int:
    return on.year - date_of_birth.year - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))


def check_competence(body: ConsentCreate) -> None:
    """Who may give consent for whom (domain.md, "Consent and information sharing")."""
    relationship = body.given_by.relationship
    obtained_on = body.obtained_at.astimezone(LONDON).date()
    age = None
    if body.person_date_of_birth is not None:
        if body.person_date_of_birth > obtained_on:
            raise ValidationProblem("person_date_of_birth", "is after the date consent was obtained")
        age = age_on(body.person_date_of_birth, obtained_on)
    if relationship == "self":
        if body.competence == "parental":
            raise CompetenceRule(
                "competence",
                "a person consenting for themselves is presumed_16_plus or gillick_competent",
            )
        if body.competence == "presumed_16_plus" and age is not None and age < ADULT_AGE:
            raise CompetenceRule(
                "person_date_of_birth",
                f"the person was {age} when consent was obtained: under 16, record "
                "gillick_competent or consent given by a parent, carer or guardian",
            )
    elif relationship in PARENTAL_RELATIONSHIPS:
        if body.competence != "parental":
            raise CompetenceRule("competence", f"consent given by a {relationship} is recorded as parental")
        if age is not None and age >= ADULT_AGE:
            raise CompetenceRule(
                "given_by.relationship",
                "a person of 16 or over gives their own consent (relationship self)",
            )


# --- who may record a sharing decision -------------------------------------------------------


def needs_consent(body: SharingDecisionCreate) -> bool:
    """Whether the decision rests on the person's consent (the caller then loads the live ones)."""
    return body.decision == "share" and body.lawful_basis == "consent"


def check_decision(body: SharingDecisionCreate, live_consents: Iterable[LiveConsent] = ()) -> None:
    """`live_consents`: the person's live consents, when `needs_consent(body)`."""
    if body.decision == "share":
        if body.lawful_basis is None:
            raise ValidationProblem("lawful_basis", "sharing needs a lawful basis (see GET /v1/lawful-bases)")
        if body.lawful_basis == "consent":
            if not any(
                body.purpose in c.purposes
                and (body.agency_id in c.agencies or TEAM_AROUND_THE_FAMILY in c.agencies)
                for c in live_consents
            ):
                raise ValidationProblem(
                    "lawful_basis",
                    "no live consent of this person covers this purpose and agency; choose "
                    "another basis (with an approving manager) or record consent first",
                    type_slug="consent-required",
                )
        elif not body.approved_by:
            raise ApprovalRequired()
    if body.approved_by and body.approved_by.strip().lower() == body.decided_by.strip().lower():
        raise ValidationProblem(
            "approved_by",
            "the approving manager must be someone other than the decision maker",
            type_slug="approval-required",
        )


# --- whom the access check allows ------------------------------------------------------------


@dataclass(frozen=True)
class TafMembership:
    """What the asking service knows of the agency's place on the person's TAF.

    `joined_at` None: the caller did not say when the agency joined (callers from before the
    rule); a TAF-wide consent then covers it as it always did. The assessments service always
    sends it.
    """

    on_taf: bool = False
    joined_at: datetime | None = None
    family_agreed_to_join: bool = False


def check_taf_membership(taf: TafMembership) -> None:
    if not taf.on_taf and (taf.joined_at is not None or taf.family_agreed_to_join):
        raise ValidationProblem(
            "on_team_around_the_family",
            "joined_at and family_agreed_to_join describe a TAF member: send on_team_around_the_family=true",
        )


def consent_reason(agencies: list[str], obtained_at: datetime, taf: TafMembership) -> AccessReason | None:
    """Why this TAF-wide consent covers the agency (None: it does not), given its `agencies`.

    A TAF-wide consent covers a TAF agency only if the agency was on the TAF when the consent
    was obtained (the family knew whom they agreed to share with), or the family agreed to its
    joining afterwards.
    """
    if TEAM_AROUND_THE_FAMILY not in agencies or not taf.on_taf:
        return None
    if taf.joined_at is None or taf.joined_at <= obtained_at:
        return "consent_covers_team_around_the_family"
    if taf.family_agreed_to_join:
        return "consent_covers_team_around_the_family_family_agreed"
    return "consent_predates_joining"


def answer(rows: Sequence[AccessFact], agency_id: str, purpose: str, taf: TafMembership) -> AccessCheckRead:
    if rows and rows[0].kind == "d":
        allowed = rows[0].decision == "share"
        return AccessCheckRead(
            allowed=allowed,
            basis="sharing_decision",
            reference_id=rows[0].id,
            reason="decision_share" if allowed else "decision_do_not_share",
        )
    predates_joining = False
    for row in rows:
        if purpose not in (row.purposes or ()):
            continue
        agencies = row.agencies or []
        reason = "consent_names_agency" if agency_id in agencies else consent_reason(agencies, row.at, taf)
        if reason == "consent_predates_joining":
            predates_joining = True  # an older consent may still name the agency
        elif reason is not None:
            return AccessCheckRead(allowed=True, basis="consent", reference_id=row.id, reason=reason)
    return AccessCheckRead(
        allowed=False,
        basis=None,
        reference_id=None,
        reason="consent_predates_joining" if predates_joining else "no_consent_or_decision",
    )
