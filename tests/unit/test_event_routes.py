"""The event routes of the stack (devtools.stack.EVENT_ROUTES, mirrored in docker-compose.yml
and deploy/k8s, which tests/deploy compares): a route names what its receiver acts on."""

from __future__ import annotations

import importlib

from devtools.stack import EVENT_ROUTES, SERVICES


async def _handled(service_factory, name: str) -> set[str]:
    main = importlib.import_module(f"services.{name}.main")
    config = importlib.import_module(f"services.{name}.config")
    svc = await service_factory(main.create_app, config.Settings, SERVICES[name].service_dir)
    return set(svc.runtime.event_handlers)


async def test_every_route_reaches_a_receiver_that_acts_on_it(service_factory):
    handled = {name: await _handled(service_factory, name) for name in SERVICES}
    for sender, routes in EVENT_ROUTES.items():
        for pattern, receivers in routes.items():
            for receiver in receivers:
                assert receiver != sender
                if pattern == "*":
                    continue
                if pattern.endswith("."):
                    assert any(t.startswith(pattern) for t in handled[receiver]), (sender, pattern, receiver)
                else:
                    assert pattern in handled[receiver], (sender, pattern, receiver)


async def test_what_a_service_acts_on_is_routed_to_it(service_factory):
    """Each handled type is routed from the service that publishes it (its prefix's owner)."""
    owner = {"referral.": "referrals", "episode.": "assessments", "consent.": "consent"}
    for name in SERVICES:
        for event_type in await _handled(service_factory, name):
            prefix = next((p for p in owner if event_type.startswith(p)), None)
            if prefix is None:
                continue
            routes = EVENT_ROUTES[owner[prefix]]
            to = {
                r
                for pattern, rs in routes.items()
                if pattern in ("*", event_type) or (pattern.endswith(".") and event_type.startswith(pattern))
                for r in rs
            }
            assert name in to, (event_type, name)
