"""Fixtures shared by every test folder: the clock, a test signer and service apps on fresh
databases.

Service-level tests build each database with the service's real Alembic migrations, on
SQLite or (when EH_TEST_PG_URL is set by `make test`) on the throwaway PostgreSQL: migrated
once per run into a template, copied for each test (shared.testing.SchemaTemplates).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.clock import Clock
from shared.clock import clock as shared_clock
from shared.testing import SchemaTemplates, TestSigner, drop_test_database, pg_base_url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if pg_base_url():
        return
    skip = pytest.mark.skip(reason="PostgreSQL run only (make test runs it)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def clock() -> Iterator[Clock]:
    """The process's clock (shared.clock): `clock.set(moment)` / `clock.advance(delta)` move
    every service in the test to that time. It runs on real time again after each test."""
    shared_clock.reset()
    yield shared_clock
    shared_clock.reset()


@pytest.fixture(scope="session")
def signer() -> TestSigner:
    return TestSigner()


class ServiceHarness:
    """A service app running in-process on a migrated database, with an HTTP client."""

    def __init__(self, app: Any, client: httpx.AsyncClient, db_url: str, signer: TestSigner) -> None:
        self.app = app
        self.client = client
        self.db_url = db_url
        self.signer = signer

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def headers(self, **identity: Any) -> dict[str, str]:
        return self.signer.auth_header(**identity)


@pytest.fixture(scope="session")
def schema_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchemaTemplates]:
    """Each service's migrated schema, made once per run; `database(...)` copies it."""
    templates = SchemaTemplates(tmp_path_factory.mktemp("schema-templates"))
    yield templates
    templates.close()


@pytest.fixture
async def service_factory(
    tmp_path: Path, signer: TestSigner, schema_templates: SchemaTemplates
) -> AsyncIterator[Callable[..., Any]]:
    async with AsyncExitStack() as stack:
        urls: list[str] = []

        async def make(
            create_app: Callable[..., Any],
            settings_cls: type,
            service_dir: Path,
            *,
            transport: httpx.AsyncBaseTransport | None = None,
            **overrides: Any,
        ) -> ServiceHarness:
            url = await schema_templates.database(tmp_path, service_dir, service_dir.name)
            urls.append(url)
            settings = settings_cls(database_url=url, environment="test", data_dir=tmp_path, **overrides)
            app = create_app(settings, keys=signer.keyset())
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(
                transport=transport or httpx.ASGITransport(app=app), base_url="http://service"
            )
            stack.push_async_callback(client.aclose)
            return ServiceHarness(app, client, url, signer)

        yield make
    for url in urls:
        await drop_test_database(url)
