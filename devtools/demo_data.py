"""Demo families for `make run` (scenarios.md), created through the gateway like any client.

Runs only if the services it needs answer; each family is created once (idempotency keys).
"""

from __future__ import annotations

import httpx


def token(gw: str, client_id: str) -> str:
    resp = httpx.post(
        f"{gw}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, f"{client_id}-secret"),
        timeout=10,
    )
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def seed_if_available(gw: str) -> None:
    try:
        from devtools.demo_families import seed
    except ImportError:
        return
    try:
        seed(gw, token)
    except httpx.HTTPError as exc:
        print(f"  demo families not seeded: {exc}")
