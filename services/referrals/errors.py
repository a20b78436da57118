"""Domain errors of the referrals service, each with a stable problem `type`."""

from __future__ import annotations

from shared.problems import Conflict, NotFound, ValidationProblem


class ConsentRequired(ValidationProblem):
    title = "Consent required"

    def __init__(self) -> None:
        super().__init__(
            "consent",
            "the family's consent to this request is required unless significant harm is "
            "suspected (then send referral_type safeguarding_concern or "
            "significant_harm_suspected: true)",
            type_slug="consent-required",
        )


class DecisionLevelMismatch(ValidationProblem):
    title = "Level of need and outcome disagree"

    def __init__(self, outcome: str, level: str, allowed: list[str]) -> None:
        super().__init__(
            "outcome",
            f"outcome {outcome!r} needs level_of_need {' or '.join(allowed)}, not {level!r}",
            type_slug="decision-level-mismatch",
        )


class DecisionAlreadyMade(Conflict):
    type_slug, title = "decision-already-made", "Decision already made"


class ReferralNotAwaitingDecision(Conflict):
    type_slug, title = "referral-not-awaiting-decision", "Referral is not awaiting a decision"


class MatchAlreadyResolved(Conflict):
    type_slug, title = "match-already-resolved", "Match already confirmed or rejected"


class MergeRefused(Conflict):
    type_slug, title = "merge-refused", "Merge refused"


class ReferralNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No referral with this id that your agency may see")


class PersonNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No person with this id")


class RelationshipExists(Conflict):
    type_slug, title = "relationship-exists", "Relationship already recorded"


class RelationshipAlreadyEnded(Conflict):
    type_slug, title = "relationship-already-ended", "Relationship already ended"


class PersonMergedAway(Conflict):
    type_slug, title = "person-merged", "This record was merged into another"


# ---- the threshold audit (issue 21) ----


class ThresholdAuditNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No threshold audit with this id that your agency drew")


class AuditItemNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No item with this id in this threshold audit")


class ReviewAlreadyRecorded(Conflict):
    type_slug, title = "review-already-recorded", "Second review already recorded"


class ReviewNotRecorded(Conflict):
    type_slug, title = "review-not-recorded", "Record your own decision first"


class AgreementAlreadyRecorded(Conflict):
    type_slug, title = "agreement-already-recorded", "Agreement already recorded"
