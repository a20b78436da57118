"""The consent service, as the referrals service uses it: recording disclosures."""

from __future__ import annotations

from typing import Any

from shared.disclosures import ConsentUnavailable, DisclosureRejected, post_disclosure
from shared.service_client import ServiceClient

__all__ = ["ConsentClient", "ConsentUnavailable", "DisclosureRejected"]


class ConsentClient:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def record_disclosure(self, disclosure: dict[str, Any], *, key: str) -> None:
        """`POST /internal/disclosures` (`shared.disclosures.post_disclosure`)."""
        await post_disclosure(self.client, disclosure, key=key)
