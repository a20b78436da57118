"""The referrals service, as the assessments service uses it: step-ups into the MASH."""

from __future__ import annotations

from typing import Any

import httpx

from shared.service_client import ServiceClient


class StepUpFailed(Exception):
    """The referrals service did not confirm the step-up (it may be retried safely)."""


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
