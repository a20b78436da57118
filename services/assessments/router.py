"""HTTP endpoints of the assessments service: thin, they call `service`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["assessments"])
