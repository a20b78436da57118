"""A minimal ASGI app for launcher tests that start a real uvicorn (not a test module)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


def create_app() -> Starlette:
    async def ready(_request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/readyz", ready)])
