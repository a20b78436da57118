"""How each server process runs its requests: on the event loop, with a settled heap."""

from __future__ import annotations

import gc
import importlib
import inspect
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from shared import heap
from shared.app import create_service_app

APPS = [f"services.{name}.main" for name in ("referrals", "assessments", "consent", "notifications")] + [
    "gateway.main"
]


def _routes(routes: list[Any]) -> list[APIRoute]:
    out: list[APIRoute] = []
    for route in routes:
        if hasattr(route, "original_router"):  # a router included in another
            out.extend(_routes(route.original_router.routes))
        elif isinstance(route, APIRoute):
            out.append(route)
    return out


def _sync_calls(dependant: Any, found: set[str]) -> set[str]:
    call = dependant.call
    if call is not None and not (inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)):
        found.add(getattr(call, "__qualname__", repr(call)))
    for sub in dependant.dependencies:
        _sync_calls(sub, found)
    return found


@pytest.mark.parametrize("module", APPS)
def test_no_endpoint_or_dependency_runs_in_the_thread_pool(module):
    """FastAPI runs a plain `def` endpoint or dependency in a worker thread: two thread
    hand-overs per call for what is a lookup. Every one is `async def`."""
    app: FastAPI = importlib.import_module(module).create_app()
    routes = _routes(app.routes)
    assert len(routes) > 5, "the route walk found the application's routes"
    found: set[str] = set()
    for route in routes:
        _sync_calls(route.dependant, found)
    assert found == set(), f"run in the thread pool: {sorted(found)}"


async def test_a_started_application_freezes_its_startup_heap_once(monkeypatch):
    monkeypatch.setattr(heap, "_settled", False)
    frozen: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    app = create_service_app(title="t", service="t")
    async with app.router.lifespan_context(app):
        assert frozen == [1]
    async with app.router.lifespan_context(app):
        pass
    assert frozen == [1], "a second start in the same process pins nothing more"
