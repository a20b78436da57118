"""A short-lived cache of consent access-check answers, per (person, agency, practitioner,
and the agency's joining of the TAF).

Kept brief (1 s by default) so a withdrawal of consent takes effect within 2 seconds even on
a replica that missed the `consent.withdrawn` event; the event clears a person's entries at
once on the replica that receives it. The answer depends on who asks and on when (and with
whose agreement) the agency joined the TAF, so all of these are part of the key: an agency
re-added with the family's agreement is asked afresh.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from services.assessments.clients.consent import AccessDecision


@dataclass(frozen=True)
class Asker:
    """Who asks about a person: the agency, its practitioner (if named) and its TAF joining."""

    agency_id: str
    practitioner_id: str | None = None
    joined_at: datetime | None = None
    family_agreed_to_join: bool | None = None


class AccessCache:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[tuple[str, Asker], tuple[float, AccessDecision]] = {}

    def get(self, person_id: str, asker: Asker) -> AccessDecision | None:
        hit = self._entries.get((person_id, asker))
        if hit is None:
            return None
        expires, decision = hit
        if time.monotonic() >= expires:
            self._entries.pop((person_id, asker), None)
            return None
        return decision

    def put(self, person_id: str, asker: Asker, decision: AccessDecision) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) > 50_000:  # bound memory: expired or not, start afresh
            self._entries.clear()
        self._entries[(person_id, asker)] = (time.monotonic() + self.ttl, decision)

    def forget_person(self, person_id: str) -> None:
        for key in [k for k in self._entries if k[0] == person_id]:
            self._entries.pop(key, None)
