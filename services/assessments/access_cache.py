"""A short-lived cache of consent access-check answers, per (person, agency).

Kept brief (1 s by default) so a withdrawal of consent takes effect within 2 seconds even on
a replica that missed the `consent.withdrawn` event; the event clears a person's entries at
once on the replica that receives it.
"""

from __future__ import annotations

import time

from services.assessments.clients.consent import AccessDecision


class AccessCache:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[tuple[str, str], tuple[float, AccessDecision]] = {}

    def get(self, person_id: str, agency_id: str) -> AccessDecision | None:
        hit = self._entries.get((person_id, agency_id))
        if hit is None:
            return None
        expires, decision = hit
        if time.monotonic() >= expires:
            self._entries.pop((person_id, agency_id), None)
            return None
        return decision

    def put(self, person_id: str, agency_id: str, decision: AccessDecision) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) > 50_000:  # bound memory: expired or not, start afresh
            self._entries.clear()
        self._entries[(person_id, agency_id)] = (time.monotonic() + self.ttl, decision)

    def forget_person(self, person_id: str) -> None:
        for key in [k for k in self._entries if k[0] == person_id]:
            self._entries.pop(key, None)
