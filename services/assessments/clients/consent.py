"""The consent service, as the assessments service uses it: access checks and disclosures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from shared.clock import iso_z
from shared.disclosures import ConsentUnavailable, post_disclosure
from shared.service_client import ServiceClient

# ConsentUnavailable: the consent service did not answer usefully; access checks deny by default.
__all__ = ["AccessDecision", "ConsentClient", "ConsentUnavailable"]


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    basis: str | None
    reference_id: str | None
    reason: str | None


class ConsentClient:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def access_check(
        self,
        person_id: str,
        agency_id: str,
        *,
        on_taf: bool,
        practitioner_id: str | None = None,
        joined_at: datetime | None = None,
        family_agreed_to_join: bool | None = None,
    ) -> AccessDecision:
        """`joined_at` (when the agency's first current TAF membership was added) and
        `family_agreed_to_join` let the consent service decide whether a TAF-wide consent
        covers an agency that joined after it was given."""
        params = {
            "person_id": person_id,
            "agency_id": agency_id,
            "purpose": "information_sharing",
            "on_team_around_the_family": "true" if on_taf else "false",
        }
        if practitioner_id is not None:
            params["practitioner_id"] = practitioner_id
        if joined_at is not None:
            params["joined_at"] = iso_z(joined_at)
        if family_agreed_to_join is not None:
            params["family_agreed_to_join"] = "true" if family_agreed_to_join else "false"
        try:
            resp = await self.client.request("GET", "/v1/access-checks", params=params)
        except httpx.HTTPError as exc:
            raise ConsentUnavailable(type(exc).__name__) from exc
        if resp.status_code != 200:
            raise ConsentUnavailable(f"HTTP {resp.status_code}")
        try:
            body = resp.json()
            return AccessDecision(
                allowed=body["allowed"] is True,
                basis=body.get("basis"),
                reference_id=body.get("reference_id"),
                reason=body.get("reason"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConsentUnavailable("malformed answer") from exc

    async def record_disclosure(self, disclosure: dict[str, Any], *, key: str) -> None:
        """`POST /internal/disclosures` (`shared.disclosures.post_disclosure`)."""
        await post_disclosure(self.client, disclosure, key=key)
