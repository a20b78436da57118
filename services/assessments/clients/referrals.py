"""The referrals service, as the assessments service uses it: step-ups into the MASH,
whether it knows the people an episode is opened for, and the names and dates of birth of an
episode's family (issue 20)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from shared.service_client import ServiceClient


class StepUpFailed(Exception):
    """The referrals service did not confirm the step-up (it may be retried safely)."""


class ReferralsUnavailable(Exception):
    """The referrals service did not answer usefully: nothing is opened (deny by default)."""


@dataclass(frozen=True)
class KnownPeople:
    known: frozenset[str]
    unknown: frozenset[str]


class ReferralsClient:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def create_step_up(self, payload: dict[str, Any]) -> str:
        """Returns the referral id. The same `step_up_id` always yields the same referral."""
        try:
            resp = await self.client.request("POST", "/internal/step-ups", json=payload)
        except httpx.HTTPError as exc:
            raise StepUpFailed(type(exc).__name__) from exc
        if resp.status_code not in (200, 201):
            raise StepUpFailed(f"HTTP {resp.status_code}")
        try:
            body = resp.json()
            return str(body.get("referral_id") or body["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StepUpFailed("malformed answer") from exc

    async def known_people(self, person_ids: list[str]) -> KnownPeople:
        """`POST /internal/people/known`: which of these person ids the referrals service holds.
        An id it does not list as known counts as unknown."""
        try:
            resp = await self.client.request(
                "POST", "/internal/people/known", json={"person_ids": person_ids}
            )
        except httpx.HTTPError as exc:
            raise ReferralsUnavailable(type(exc).__name__) from exc
        if resp.status_code != 200:
            raise ReferralsUnavailable(f"HTTP {resp.status_code}")
        try:
            body = resp.json()
            known = frozenset(str(p) for p in body["known"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ReferralsUnavailable("malformed answer") from exc
        return KnownPeople(known=known, unknown=frozenset(p for p in person_ids if p not in known))

    async def people_details(self, person_ids: list[str]) -> dict[str, dict[str, Any]]:
        """`POST /internal/people/details`: {person id: {given_name, family_name, date_of_birth,
        unborn_expected_on, ...}} of those the referrals service knows (merged records: the
        surviving record's details under the id asked)."""
        try:
            resp = await self.client.request(
                "POST", "/internal/people/details", json={"person_ids": person_ids}
            )
        except httpx.HTTPError as exc:
            raise ReferralsUnavailable(type(exc).__name__) from exc
        if resp.status_code != 200:
            raise ReferralsUnavailable(f"HTTP {resp.status_code}")
        try:
            return {str(p["person_id"]): dict(p) for p in resp.json()["people"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise ReferralsUnavailable("malformed answer") from exc
