"""The assessments service, as the referrals service uses it: a person's journey there."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ValidationError

from services.referrals.schemas import JourneyItem, Withheld
from shared.service_client import ServiceClient


class AssessmentsUnavailable(Exception):
    """No usable answer (down, slow, an error or a malformed body); the message says which."""


class Timeline(BaseModel):
    items: list[JourneyItem]
    withheld: list[Withheld] = []


class AssessmentsClient:
    def __init__(self, client: ServiceClient, *, timeout: float) -> None:
        self.client = client
        self.timeout = timeout

    async def timeline(self, person_id: str, *, agency_id: str, agency_type: str) -> Timeline:
        """`GET /internal/people/{id}/timeline` as the calling agency may see it."""
        try:
            async with asyncio.timeout(self.timeout):
                resp = await self.client.request(
                    "GET",
                    f"/internal/people/{person_id}/timeline",
                    params={"agency_id": agency_id, "agency_type": agency_type},
                )
        except TimeoutError as exc:
            raise AssessmentsUnavailable("timed out") from exc
        except Exception as exc:  # connection refused, token endpoint down, ...
            raise AssessmentsUnavailable(type(exc).__name__) from exc
        if resp.status_code != 200:
            raise AssessmentsUnavailable(f"HTTP {resp.status_code}")
        try:
            body = resp.json()
            for item in [*body.get("items", []), *body.get("withheld", [])]:
                item["source"] = "assessments"
            return Timeline.model_validate(body)
        except (ValueError, AttributeError, TypeError, ValidationError) as exc:
            raise AssessmentsUnavailable("malformed answer") from exc
