"""Disclosures made by reads in the referrals service (`jobs.deliver` posts them to the consent service).

A read of a child's information by an agency other than the MASH, early help or a service,
of information its own agency did not provide (`policy.discloses`), is a disclosure: the
consent service's log must be able to say who saw the child's record. As in the assessments
service, the disclosures are stored before the response is sent and the background worker
posts them to the consent service (`shared.disclosures`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from services.referrals import policy
from services.referrals.models import PendingDisclosure
from shared.clock import utcnow
from shared.disclosures import DisclosureRelay, pending_disclosure
from shared.identity import CurrentIdentity, Identity

if TYPE_CHECKING:
    from services.referrals.runtime import ReferralsRuntime

log = logging.getLogger("referrals.disclosures")

RELAY = DisclosureRelay(PendingDisclosure, log)


@dataclass
class Disclosures:
    """The disclosures one request makes; stored when the endpoint succeeded."""

    identity: Identity
    runtime: ReferralsRuntime
    pending: list[dict[str, Any]] = field(default_factory=list)

    def note(
        self,
        person_ids: Iterable[str],
        resource_type: str,
        resource_id: str,
        *,
        provided_by_agency_id: str | None = None,
    ) -> None:
        """Note that the caller saw these people's information (a no-op when that is not a
        disclosure: see `policy.discloses`)."""
        if not policy.discloses(self.identity, provided_by_agency_id):
            return
        now = utcnow()
        seen = {(p["person_id"], p["resource_type"], p["resource_id"]) for p in self.pending}
        for person_id in dict.fromkeys(person_ids):
            if (person_id, resource_type, resource_id) in seen:
                continue
            self.pending.append(
                pending_disclosure(
                    self.identity, person_id, resource_type, resource_id, policy.DISCLOSURE_BASIS, at=now
                )
            )

    async def store(self) -> None:
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        await RELAY.store(self.runtime.db, rows)
        self.runtime.wake_worker()


async def get_disclosures(request: Request, identity: CurrentIdentity) -> AsyncIterator[Disclosures]:
    recorder = Disclosures(identity, request.app.state.runtime)
    yield recorder
    # Reached only when the endpoint succeeded, and before the response is sent
    # (scope="function"): a failure to store is an error response, not an unlogged read.
    await recorder.store()


DisclosuresDep = Annotated[Disclosures, Depends(get_disclosures, scope="function")]
