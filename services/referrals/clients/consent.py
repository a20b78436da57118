"""The consent service, as the referrals service uses it: recording disclosures."""

from __future__ import annotations

from typing import Any

import httpx

from shared.service_client import ServiceClient


class ConsentUnavailable(Exception):
    """No answer, or a 5xx: try again later."""


class DisclosureRejected(Exception):
    """The consent service refused the disclosure itself (a 4xx): retrying will not help."""


class ConsentClient:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def record_disclosure(self, disclosure: dict[str, Any], *, key: str) -> None:
        """`POST /internal/disclosures`; `key` (our row id) is the Idempotency-Key, so a retry
        after a lost answer never logs the same read twice."""
        try:
            resp = await self.client.request(
                "POST", "/internal/disclosures", json=disclosure, headers={"Idempotency-Key": key}
            )
        except httpx.HTTPError as exc:
            raise ConsentUnavailable(type(exc).__name__) from exc
        if resp.status_code in (400, 403, 404, 413, 422):
            raise DisclosureRejected(f"HTTP {resp.status_code}")
        if resp.status_code >= 300:
            raise ConsentUnavailable(f"HTTP {resp.status_code}")
