"""Domain errors of the consent service, each with a stable problem `type`."""

from __future__ import annotations

from shared.problems import Problem


class ConsentAlreadyWithdrawn(Problem):
    status, type_slug, title = 409, "consent-already-withdrawn", "Consent already withdrawn"


class DecisionAlreadySuperseded(Problem):
    status, type_slug, title = 409, "decision-already-superseded", "Decision already superseded"
