"""HTTP endpoints of the referrals service: thin, they call `service`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["referrals"])
