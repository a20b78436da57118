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
  The disclosures of a read are stored before the response is sent, and the background
  worker posts them to the consent service (`shared.disclosures`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from services.assessments import repository as repo
from services.assessments.access_cache import Asker
from services.assessments.app_runtime import AppRuntimeDep, AssessmentsRuntime
from services.assessments.clients.consent import AccessDecision, ConsentUnavailable
from services.assessments.errors import ConsentCheckUnavailable, EpisodeNotFound
from services.assessments.models import Episode, PendingDisclosure
from services.assessments.schemas import WithheldReason
from shared.clock import utcnow
from shared.disclosures import DisclosureRelay, disclosure_body, pending_disclosure
from shared.identity import CurrentIdentity, Identity

log = logging.getLogger("assessments.disclosures")

NO_DISCLOSURE_AGENCY_TYPES = frozenset({"early_help", "service"})
ALL_SEEING_BASIS = "mash_screening"


def _body(row: PendingDisclosure) -> dict[str, Any]:
    """What the consent service is sent: the common fields and the consent record relied on."""
    return {**disclosure_body(row), "reference_id": row.reference_id}


RELAY = DisclosureRelay(PendingDisclosure, log, _body)


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
    ) -> tuple[EpisodeAccess | None, WithheldReason | None]:
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
                pending_disclosure(
                    self.identity,
                    person,
                    resource_type,
                    resource_id,
                    basis,
                    at=now,
                    reference_id=decision.reference_id if decision else None,
                )
            )

    async def store_disclosures(self) -> None:
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        await RELAY.store(self.runtime.db, rows)
        self.runtime.wake_worker()


async def get_viewer(identity: CurrentIdentity, runtime: AppRuntimeDep) -> AsyncIterator[Viewer]:
    viewer = Viewer(identity, runtime)
    yield viewer
    # Reached only when the endpoint succeeded; before the response is sent (scope="function").
    await viewer.store_disclosures()


ViewerDep = Annotated[Viewer, Depends(get_viewer, scope="function")]
