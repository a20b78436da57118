"""Who may see an episode, and the disclosures that seeing it makes.

Rules (issue 5, line 9):
- `mash`, `early_help` and service identities see every episode.
- Any other agency sees an episode only if it is on the episode's Team Around the Family
  **and** the consent service allows that agency for every person on the episode
  (`purpose=information_sharing`, `on_team_around_the_family=true`). Otherwise: 404.
  The check also says who asks (`practitioner_id`) and how the agency joined the TAF
  (`joined_at` of its first current membership, `family_agreed_to_join` as that membership
  recorded it): a TAF-wide consent covers an agency that joined after it was given only with
  the family's agreement (issue 18; the consent service decides).
- The consent service is asked at most once per request per person; answers are cached for
  `access_cache_seconds`. If it cannot be reached, access is denied: a single-object read
  answers 503 `consent-check-unavailable` (the caller is on the TAF, so this reveals nothing
  new), lists and timelines leave the episode out.
- A read by any agency other than early help (and other than a service) is a disclosure,
  naming the practitioner who read when the call names one.
  GET requests run on a read-only session, so the disclosures of a read are written in
  their own short write transaction, committed *before* the response is sent: data is never
  shown without its disclosure stored. The background worker then posts them to the consent
  service (`POST /internal/disclosures`), retrying with backoff until it accepts them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from services.assessments import repository as repo
from services.assessments.access_cache import Asker
from services.assessments.app_runtime import AppRuntimeDep, AssessmentsRuntime
from services.assessments.clients.consent import AccessDecision, ConsentUnavailable, DisclosureRejected
from services.assessments.models import Episode, PendingDisclosure
from shared.clock import iso_z, utcnow
from shared.events import backoff
from shared.identity import CurrentIdentity, Identity
from shared.logs import request_id_var
from shared.problems import NotFound, Problem

log = logging.getLogger("assessments.disclosures")

NO_DISCLOSURE_AGENCY_TYPES = frozenset({"early_help", "service"})
ALL_SEEING_BASIS = "mash_screening"


class ConsentCheckUnavailable(Problem):
    status, type_slug, title = 503, "consent-check-unavailable", "Consent check unavailable"


class EpisodeNotFound(NotFound):
    type_slug = "episode-not-found"


@dataclass
class EpisodeAccess:
    """The caller may see this episode; `decisions` holds the consent answer per person."""

    episode_id: str
    person_ids: list[str]
    decisions: dict[str, AccessDecision] = field(default_factory=dict)


@dataclass
class Viewer:
    identity: Identity
    runtime: AssessmentsRuntime
    _memo: dict[tuple[str, Asker], AccessDecision | None] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)

    @property
    def agency_id(self) -> str:
        return self.identity.agency_id

    async def _decision(self, person_id: str, asker: Asker) -> AccessDecision:
        """Once per request per person; then the short shared cache; then the consent service."""
        key = (person_id, asker)
        if key in self._memo:
            memo = self._memo[key]
            if memo is None:
                raise ConsentUnavailable("earlier in this request")
            return memo
        cached = self.runtime.access_cache.get(person_id, asker)
        if cached is not None:
            self._memo[key] = cached
            return cached
        try:
            decision = await self.runtime.consent().access_check(
                person_id,
                asker.agency_id,
                on_taf=True,
                practitioner_id=asker.practitioner_id,
                joined_at=asker.joined_at,
                family_agreed_to_join=asker.family_agreed_to_join,
            )
        except ConsentUnavailable:
            self._memo[key] = None
            raise
        self.runtime.access_cache.put(person_id, asker, decision)
        self._memo[key] = decision
        return decision

    async def check(
        self, session: AsyncSession, episode: Episode, people: list[str] | None = None
    ) -> tuple[EpisodeAccess | None, str | None]:
        """(access, None) when visible, else (None, reason). Never raises for a denial."""
        if people is None:
            people = await repo.person_ids(session, episode.id)
        if self.identity.sees_all:
            return EpisodeAccess(episode.id, people), None
        joining = await repo.taf_joining(session, episode.id, self.agency_id)
        if joining is None:
            return None, "not_on_team_around_the_family"
        joined_at, family_agreed = joining
        asker = Asker(self.agency_id, self.identity.practitioner_id, joined_at, family_agreed)
        access = EpisodeAccess(episode.id, people)
        for person in people:
            try:
                decision = await self._decision(person, asker)
            except ConsentUnavailable:
                return None, "consent_check_unavailable"
            if not decision.allowed:
                return None, "no_lawful_basis_to_share"
            access.decisions[person] = decision
        return access, None

    async def require(
        self, session: AsyncSession, episode: Episode | None, people: list[str] | None = None
    ) -> EpisodeAccess:
        """The episode if the caller may see it: 404 otherwise (503 if consent cannot answer).
        `people`: the episode's person ids, when the caller has them already."""
        if episode is None:
            raise EpisodeNotFound("No such episode")
        access, reason = await self.check(session, episode, people)
        if access is None:
            if reason == "consent_check_unavailable":
                raise ConsentCheckUnavailable(
                    "Sharing with your agency cannot be confirmed right now; try again shortly",
                    headers={"Retry-After": "2"},
                )
            raise EpisodeNotFound("No such episode")
        return access

    def disclosed(self, access: EpisodeAccess, resource_type: str, resource_id: str) -> None:
        """Note a read of a resource of this episode (stored when the request succeeds)."""
        if self.identity.agency_type in NO_DISCLOSURE_AGENCY_TYPES:
            return
        now = utcnow()
        for person in access.person_ids:
            decision = access.decisions.get(person)
            # No consent answer means an all-seeing agency (the MASH) read it.
            basis = ALL_SEEING_BASIS if decision is None else (decision.basis or "consent")
            self.pending.append(
                {
                    "id": str(uuid.uuid4()),
                    "person_id": person,
                    "agency_id": self.agency_id,
                    "resource_type": resource_type,
                    "resource_id": resource_id,
                    "basis": basis,
                    "reference_id": decision.reference_id if decision else None,
                    "practitioner_id": self.identity.practitioner_id,
                    "request_id": request_id_var.get(),
                    "disclosed_at": now,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
            )

    async def store_disclosures(self) -> None:
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        async with self.runtime.db.session() as session:
            await repo.add_disclosures(session, rows)
        self.runtime.wake_worker()


async def get_viewer(identity: CurrentIdentity, runtime: AppRuntimeDep) -> AsyncIterator[Viewer]:
    viewer = Viewer(identity, runtime)
    yield viewer
    # Reached only when the endpoint succeeded; before the response is sent (scope="function").
    await viewer.store_disclosures()


ViewerDep = Annotated[Viewer, Depends(get_viewer, scope="function")]


# --- the background delivery of disclosures --------------------------------------------------


LEASE = timedelta(seconds=30)


async def deliver_disclosures(runtime: AssessmentsRuntime) -> int:
    """Post due disclosures to the consent service; failures are retried with backoff.

    Rows are claimed under a lease in one short transaction, sent with no transaction open,
    and marked in another: holding this database's write lock across a call into the consent
    service (which may at that moment be delivering an event back here) would stall both.
    """
    now = utcnow()
    async with runtime.db.session(write=False) as session:
        if not await repo.any_due_disclosure(session, now):
            return 0
    async with runtime.db.session() as session:
        rows = await repo.due_disclosures(session, now)
        claimed = []
        for row in rows:
            payload: dict[str, Any] = {
                "person_id": row.person_id,
                "agency_id": row.agency_id,
                "resource_type": row.resource_type,
                "resource_id": row.resource_id,
                "basis": row.basis,
                "reference_id": row.reference_id,
                "request_id": row.request_id,
                "disclosed_at": iso_z(row.disclosed_at),
            }
            if row.practitioner_id is not None:  # optional: a system call names no one
                payload["practitioner_id"] = row.practitioner_id
            claimed.append((row.id, payload))
            row.next_attempt_at = now + LEASE
    if not claimed:
        return 0
    consent = runtime.consent()
    results: list[tuple[str, str | None, bool]] = []  # (id, error, rejected)
    for row_id, payload in claimed:
        try:
            await consent.record_disclosure(payload, key=row_id)
            results.append((row_id, None, False))
        except DisclosureRejected as exc:
            results.append((row_id, f"rejected: {exc}", True))
        except Exception as exc:
            results.append((row_id, str(exc)[:200] or type(exc).__name__, False))
    sent = 0
    async with runtime.db.session() as session:
        for row_id, error, rejected in results:
            pending = await session.get(PendingDisclosure, row_id)
            if pending is None:
                continue
            pending.attempts += 1
            if error is None:
                pending.sent_at = utcnow()
                sent += 1
            elif rejected:
                # Kept (never deleted) but parked: a person's log must be fixed, not dropped.
                pending.last_error = error[:200]
                pending.next_attempt_at = utcnow() + timedelta(days=1)
                log.error("disclosure rejected by consent", extra={"disclosure_id": row_id, "error": error})
            else:
                pending.last_error = error
                pending.next_attempt_at = utcnow() + timedelta(seconds=backoff(pending.attempts))
        await repo.purge_sent_disclosures(session, utcnow() - timedelta(days=1))
    return sent
