"""`make run`'s demo families (devtools/demo_families.py) are made through the gateway like
any client's data, so every tightening of who may do what must keep them working: seeded on a
fresh stack here, with every call checked (the seed raises on any refused call)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.demo_data import token
from devtools.demo_families import seed
from devtools.launcher import Stack
from tests.e2e.conftest import make_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fresh_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = make_stack(Path(tmp_path_factory.mktemp("demo-stack")))
    try:
        s.start_all()
        s.wait_ready(timeout=90)
        yield s
    finally:
        s.stop_all()


def test_the_demo_families_seed_through_the_gateway(fresh_stack: Stack) -> None:
    gw = fresh_stack.gateway_url
    seed(gw, lambda _gw, client: token(gw, client))
    mash = {"Authorization": f"Bearer {token(gw, 'demo-mash')}"}
    referrals = httpx.get(f"{gw}/v1/referrals", params={"limit": 200}, headers=mash, timeout=10).json()
    families = set()
    for item in referrals["items"]:
        full = httpx.get(f"{gw}/v1/referrals/{item['id']}", headers=mash, timeout=10).json()
        families |= {c["family_name"] for c in full["children"]}
    assert {"Ahmed", "Wilson", "Patel"} <= families
    eh = {"Authorization": f"Bearer {token(gw, 'demo-early-help')}"}
    episodes = httpx.get(f"{gw}/v1/episodes", params={"limit": 200}, headers=eh, timeout=10).json()["items"]
    assert {e["origin"] for e in episodes} >= {"referral", "step_down"}
    # Seeding twice changes nothing (make run restarts on the same data folder).
    seed(gw, lambda _gw, client: token(gw, client))
    again = httpx.get(f"{gw}/v1/referrals", params={"limit": 200}, headers=mash, timeout=10).json()
    assert len(again["items"]) == len(referrals["items"])
