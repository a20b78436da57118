"""Who may do what in the notifications service, and who receives which alert: every rule in one place.

Scopes are checked first (at the gateway and again by the router): `notifications:read` reads
the feed, `webhooks:manage` manages subscriptions, `deadlines:read` reads deadlines, `admin`
changes deadline rules. The rules below come on top. Another agency's feed item or
subscription is 404 (its existence must not leak).

Who may do what
- A feed item belongs to its addressee: the agency it names (`recipient_agency_id`) or every
  agency of the agency type it names (`recipient_agency_type`). Only they list it or mark it read.
- A webhook subscription belongs to the agency that created it: only that agency lists it,
  deletes it, reads its delivery log and retries its deliveries.
- Deadline rules are read with `deadlines:read` or `admin`, and changed by `admin` only.
  Deadlines are not filtered: every `deadlines:read` holder sees them all.

Who receives which alert (`Recipients`; the feed row, its email and its webhooks)
- referral.decided: the referring agency (`source_agency_id`); and, when a referral parked
  (`linked`) on it follows its outcome (`referral.linked_outcome`), that referral's agency,
  about its own referral.
- referral.safeguarding_concern: the MASH (agency type `mash`), at once.
- referral.linked, consent.withdrawn: the episode's lead professional (the feed of their
  agency and their email), else early help (agency type `early_help`).
- assessment.awaiting_approval: the early help managers - agency type `early_help` and the
  managers' shared mailbox (`early_help_managers_email`), if configured.
- Deadline reminder and overdue: the assignee (the lead professional's agency and email), else
  the rule's team (an agency type); escalation: the rule's target, an email address (the
  team's feed told too) or an agency type.
- A webhook subscription receives an alert addressed to its agency (or agency type) whose kind
  it asked for (`event_types`).
- The change feed (issue 20; `change_feed.py`), ids, codes and an `href` only:
  referral.received, referral.withdrawn: the MASH (agency type `mash`) and the referring agency.
  episode.opened: early help (agency type `early_help`). episode.closed, plan.changed: the lead
  professional (else early help) and each agency on the TAF, one item each.
  taf.member_added, taf.member_removed: the member's agency and the lead professional.
  taf.lead_professional_changed: the new lead professional's agency (and their email).
  action.assigned, action.due, action.overdue: the action's owning agency (the owning
  practitioner's id in the data). review.due: the lead professional (the `next_review` reminder).
  An agency told of an episode may still be refused it (404) when it follows the `href`: the
  item says that something changed, never what the agency may not see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from sqlalchemy import ColumnElement, or_

from services.notifications.models import Notification, Subscription
from shared.identity import Identity
from shared.problems import Forbidden

# The scopes that may read the deadline rules, and the one that may change them.
DEADLINE_RULES_READ_SCOPES = ("deadlines:read", "admin")
DEADLINE_RULES_WRITE_SCOPE = "admin"


@dataclass(frozen=True)
class Rule:
    name: str
    action: str
    who: str


# The table docs/notifications.md "Who may do what" shows (a test keeps the two identical).
RULES: tuple[Rule, ...] = (
    Rule(
        "feed-addressee",
        "`GET /v1/notifications`, `POST /v1/notifications/{id}/read` (`notifications:read`)",
        "the agency the item is addressed to, or any agency of the agency type it is addressed to "
        "(anyone else's: 404)",
    ),
    Rule(
        "subscription-owner",
        "`GET /v1/subscriptions`, `DELETE .../{id}`, `GET .../deliveries`, `POST .../retry` "
        "(`webhooks:manage`)",
        "the agency that created the subscription (anyone else's: 404)",
    ),
    Rule(
        "read-deadline-rules",
        "`GET /v1/deadline-rules`",
        "a caller with `deadlines:read` or `admin`",
    ),
    Rule("change-deadline-rule", "`PUT /v1/deadline-rules/{kind}`", "`admin` only"),
    Rule(
        "read-deadlines",
        "`GET /v1/deadlines` (`deadlines:read`)",
        "every holder of the scope, every deadline (not filtered by agency)",
    ),
    Rule("alert-referral-decided", "receives `referral.decided`", "the referring agency"),
    Rule(
        "alert-linked-outcome",
        "receives `referral.decided` for a linked referral (`referral.linked_outcome`)",
        "the linked referral's referring agency, about its own referral",
    ),
    Rule(
        "alert-safeguarding-concern",
        "receives `referral.safeguarding_concern`",
        "the MASH (agency type `mash`)",
    ),
    Rule(
        "alert-case",
        "receives `referral.linked`, `consent.withdrawn`",
        "the episode's lead professional (their agency's feed and their email), else early help",
    ),
    Rule(
        "alert-awaiting-approval",
        "receives `assessment.awaiting_approval`",
        "the early help managers: agency type `early_help`, and `early_help_managers_email` if set",
    ),
    Rule(
        "alert-deadline",
        "receives `deadline.reminder`, `deadline.overdue`",
        "the assignee (lead professional's agency and email), else the rule's team",
    ),
    Rule(
        "alert-deadline",
        "receives `deadline.escalated`",
        "the rule's escalation target: an email address (and the team's feed) or an agency type",
    ),
    Rule(
        "alert-front-door",
        "receives `referral.received`, `referral.withdrawn`",
        "the MASH (agency type `mash`) and the referring agency",
    ),
    Rule("alert-episode-opened", "receives `episode.opened`", "early help (agency type `early_help`)"),
    Rule(
        "alert-team",
        "receives `episode.closed`, `plan.changed`",
        "the lead professional (else early help) and each agency on the TAF",
    ),
    Rule(
        "alert-team-member",
        "receives `taf.member_added`, `taf.member_removed`",
        "the member's agency and the lead professional (else early help)",
    ),
    Rule(
        "alert-new-lead",
        "receives `taf.lead_professional_changed`",
        "the new lead professional's agency (and their email)",
    ),
    Rule(
        "alert-action-owner",
        "receives `action.assigned`, `action.due`, `action.overdue`",
        "the agency owning the action (its practitioner's id in the data)",
    ),
    Rule("alert-review-due", "receives `review.due`", "the lead professional (else early help)"),
    Rule(
        "webhook-addressee",
        "a webhook delivery of an alert",
        "subscriptions of the agency (or agency type) it is addressed to that asked for its kind",
    ),
)


def rules_markdown() -> str:
    lines = ["| Action | Who may | Rule |", "| --- | --- | --- |"]
    lines += [f"| {r.action} | {r.who} | `{r.name}` |" for r in RULES]
    return "\n".join(lines)


# --- who may do what -------------------------------------------------------------------------


def addressed_to(identity: Identity) -> ColumnElement[bool]:
    """The feed items that are the caller's: addressed to its agency or its agency type."""
    return or_(
        Notification.recipient_agency_id == identity.agency_id,
        Notification.recipient_agency_type == identity.agency_type,
    )


def subscription_owner(identity: Identity) -> str:
    """The agency whose subscriptions the caller creates and manages."""
    return identity.agency_id


def owns_subscription(identity: Identity, sub: Subscription) -> bool:
    return sub.agency_id == subscription_owner(identity)


def may_read_deadline_rules(identity: Identity) -> None:
    if not any(identity.has(scope) for scope in DEADLINE_RULES_READ_SCOPES):
        raise Forbidden(DEADLINE_RULES_READ_SCOPES[0])


# --- who receives which alert ----------------------------------------------------------------


class Recipients(TypedDict):
    """An alert's addressees, as `Alert` (channels/feed.py) takes them."""

    recipient_agency_id: str | None
    recipient_agency_type: str | None
    recipient_email: str | None


def recipients(
    agency_id: str | None = None, agency_type: str | None = None, email: str | None = None
) -> Recipients:
    return {"recipient_agency_id": agency_id, "recipient_agency_type": agency_type, "recipient_email": email}


def referral_outcome_to(source_agency_id: str) -> Recipients:
    return recipients(agency_id=source_agency_id)


def safeguarding_concern_to() -> Recipients:
    return recipients(agency_type="mash")


def lead_professional_to(lead_agency_id: str | None, lead_email: str | None) -> Recipients:
    """The episode's lead professional; early help while the episode has none (or none known)."""
    return recipients(
        agency_id=lead_agency_id, agency_type=None if lead_agency_id else "early_help", email=lead_email
    )


def awaiting_approval_to(early_help_managers_email: str | None) -> Recipients:
    """This service keeps no practitioner directory: the early help service, not a named manager."""
    return recipients(agency_type="early_help", email=early_help_managers_email)


def deadline_alert_to(d: Mapping[str, Any], stage: str) -> Recipients:
    """`d`: the deadline's row (its assignee, team and escalation target copied when it opened)."""
    if stage == "escalation":
        target = d["escalation_target"]
        if "@" in target:
            return recipients(email=target, agency_type=d["team"])
        return recipients(agency_type=target)
    if d["assignee_agency_id"] or d["assignee_email"]:
        return recipients(
            agency_id=d["assignee_agency_id"],
            email=d["assignee_email"],
            agency_type=None if d["assignee_agency_id"] else d["team"],
        )
    return recipients(agency_type=d["team"])


def front_door_to(source_agency_id: str | None) -> Recipients:
    """A referral arriving or withdrawn: the MASH decides, the referrer sent it."""
    return recipients(agency_id=source_agency_id, agency_type="mash")


def early_help_to() -> Recipients:
    return recipients(agency_type="early_help")


def team_to(
    lead_agency_id: str | None, lead_email: str | None, taf_agency_ids: list[str]
) -> list[Recipients]:
    """The lead professional (else early help), then each other TAF agency: one item each."""
    out = [lead_professional_to(lead_agency_id, lead_email)]
    out += [recipients(agency_id=a) for a in sorted(set(taf_agency_ids)) if a != lead_agency_id]
    return out


def action_owner_to(owner_agency_id: str, email: str | None = None) -> Recipients:
    return recipients(agency_id=owner_agency_id, email=email)


def subscription_receives(
    sub: Subscription, kind: str, recipient_agency_id: str | None, recipient_agency_type: str | None
) -> bool:
    addressed = (recipient_agency_id and sub.agency_id == recipient_agency_id) or (
        recipient_agency_type and sub.agency_type == recipient_agency_type
    )
    return bool(addressed) and kind in sub.event_types
