"""The whole system as real processes on free loopback ports, for end-to-end tests.

On the SQLite run the databases are files in a temporary folder; on the PostgreSQL run
(EH_TEST_PG_URL set by `make test`) each process gets a fresh database on the throwaway server.

Every response the `api` client sees is checked against the gateway's OpenAPI document
(`tests/e2e/conformance.py`); EH_CONFORMANCE says what a mismatch does: `fail` (the default:
the session ends with an error listing them), `report` (listed, not failed) or `off`.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools import pg
from devtools.launcher import Stack, migrate_all
from devtools.stack import PROCESSES
from shared.service_client import KEEPALIVE_SECONDS
from shared.testing import pg_base_url
from tests.e2e.conformance import Conformance


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def make_stack(tmp: Path) -> Stack:
    ports = dict(zip([p.name for p in PROCESSES], free_ports(len(PROCESSES)), strict=True))
    base = pg_base_url()
    prefix = ""
    if base:
        # One server, a fresh set of databases per stack: "<server>/<prefix>eh_<name>".
        prefix = f"e{uuid.uuid4().hex[:6]}_"
        pg.create_databases(base, [f"{prefix}eh_{p.name}" for p in PROCESSES if p.kind != "worker"])
    stack = Stack(
        data_dir=tmp,
        ports=ports,
        pg_base=base,
        db_prefix=prefix,
        environment="dev",
        extra_env={
            "gateway": {
                "EH_GATEWAY_RATE_LIMIT_PER_SECOND": "1000",
                "EH_GATEWAY_RATE_LIMIT_BURST": "2000",
                # Every test speaks from 127.0.0.1: the fuzzer's and the brute-force tests' wrong
                # secrets must not block the address for everyone (per client id stays 10).
                "EH_GATEWAY_TOKEN_FAILURES_PER_ADDRESS": "100000",
            }
        },
    )
    migrate_all(tmp, base, db_prefix=prefix)
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = make_stack(tmp_path_factory.mktemp("stack"))
    try:
        s.start_all()
        s.wait_ready(timeout=90)
        yield s
    finally:
        s.stop_all()


class Api:
    """A client of the gateway holding one token per demo client."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        # Idle connections dropped before uvicorn's 5 s keep-alive closes them (httpx's default
        # is also 5 s: a request could go out on a connection the gateway is closing).
        self.http = httpx.Client(
            base_url=stack.gateway_url, timeout=20, limits=httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS)
        )
        self._tokens: dict[str, tuple[str, float]] = {}

    def token(self, client_id: str, scope: str | None = None) -> str:
        """A token per client, renewed a minute before it expires (a long run outlives one)."""
        key = f"{client_id} {scope}"
        hit = self._tokens.get(key)
        if hit is None or hit[1] - time.monotonic() < 60:
            data = {"grant_type": "client_credentials"}
            if scope:
                data["scope"] = scope
            resp = self.http.post("/oauth/token", data=data, auth=(client_id, f"{client_id}-secret"))
            assert resp.status_code == 200, resp.text
            body = resp.json()
            hit = (body["access_token"], time.monotonic() + body["expires_in"])
            self._tokens[key] = hit
        return hit[0]

    def as_(self, client_id: str, scope: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(client_id, scope)}"}

    def get(self, client_id: str, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.http.get(path, headers={**self.as_(client_id), **kw.pop("headers", {})}, **kw)

    def post(self, client_id: str, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.http.post(path, headers={**self.as_(client_id), **kw.pop("headers", {})}, **kw)

    def put(self, client_id: str, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.http.put(path, headers={**self.as_(client_id), **kw.pop("headers", {})}, **kw)

    def patch(self, client_id: str, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.http.patch(path, headers={**self.as_(client_id), **kw.pop("headers", {})}, **kw)

    def delete(self, client_id: str, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.http.delete(path, headers={**self.as_(client_id), **kw.pop("headers", {})}, **kw)


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[Api]:
    a = Api(stack)
    mode = os.environ.get("EH_CONFORMANCE", "fail")
    conformance = None if mode == "off" else Conformance.from_gateway(stack.gateway_url)
    if conformance is not None:

        def check(response: httpx.Response) -> None:
            response.read()
            conformance.check(response)

        a.http.event_hooks["response"].append(check)
    yield a
    a.http.close()
    if conformance is not None:
        print(f"\n{conformance.report()}")
        if conformance.violations and mode == "fail":
            pytest.fail(conformance.report(), pytrace=False)
