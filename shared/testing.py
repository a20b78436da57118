"""Helpers for tests at the unit and service level (never used by running code).

A throwaway RSA key pair stands in for the gateway's signing key, so a service app can be
exercised in-process with identities exactly like those the gateway mints.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt

from shared.tokens import KeySet

TEST_ISSUER = "http://127.0.0.1:8000"
TEST_INTERNAL_AUDIENCE = "early-help-internal"
TEST_API_AUDIENCE = "early-help-api"


class TestSigner:
    __test__ = False  # not a pytest test class

    def __init__(self, kid: str = "test-key") -> None:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid
        self.private_pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self.public_pem = (
            private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        self.public_der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._key = jwk.construct(self.private_pem, "RS256")
        public = jwk.construct(self.public_pem, "RS256").to_dict()
        public.update({"kid": kid, "use": "sig", "alg": "RS256"})
        self.public_jwk = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in public.items()}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}

    def keyset(self) -> KeySet:
        async def fetch() -> dict[str, Any]:
            return self.jwks()

        return KeySet(fetch)

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        hdr = {"kid": self.kid, "typ": "at+jwt"}
        hdr.update(headers or {})
        return jwt.encode(claims, self._key, algorithm="RS256", headers=hdr)

    def identity_token(
        self,
        *,
        agency_type: str = "mash",
        agency_id: str | None = None,
        client_id: str | None = None,
        scopes: str | list[str] = "",
        audience: str = TEST_INTERNAL_AUDIENCE,
        ttl: int = 300,
        **extra: Any,
    ) -> str:
        now = int(time.time())
        client_id = client_id or f"test-{agency_type}"
        claims = {
            "iss": TEST_ISSUER,
            "sub": client_id,
            "aud": audience,
            "client_id": client_id,
            "iat": now,
            "exp": now + ttl,
            "jti": str(uuid.uuid4()),
            "scope": scopes if isinstance(scopes, str) else " ".join(scopes),
            "agency_id": agency_id or f"agency-{agency_type}",
            "agency_type": agency_type,
        }
        claims.update(extra)
        return self.sign(claims)

    def auth_header(self, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.identity_token(**kwargs)}"}


# --- databases for tests: SQLite files, or throwaway databases on the test PostgreSQL ---

PG_ENV = "EH_TEST_PG_URL"  # e.g. postgresql+asyncpg://postgres@127.0.0.1:55432


def pg_base_url() -> str | None:
    import os

    return os.environ.get(PG_ENV) or None


async def create_test_database(tmp_dir: Any, name: str, template: str | None = None) -> str:
    """A new empty database: a SQLite file in tmp_dir, or a fresh PostgreSQL database (a copy
    of the database at `template` when given; SchemaTemplates copies the SQLite files)."""
    base = pg_base_url()
    if not base:
        return f"sqlite+aiosqlite:///{tmp_dir}/{name}-{uuid.uuid4().hex[:8]}.db"
    import asyncpg

    dbname = f"t_{name}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(base.replace("postgresql+asyncpg", "postgresql") + "/postgres")
    try:
        if template:
            await conn.execute(f'CREATE DATABASE "{dbname}" TEMPLATE "{template.rsplit("/", 1)[1]}"')
        else:
            await conn.execute(f'CREATE DATABASE "{dbname}"')
    finally:
        await conn.close()
    return f"{base}/{dbname}"


async def drop_test_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    import asyncpg

    base, dbname = url.rsplit("/", 1)
    conn = await asyncpg.connect(base.replace("postgresql+asyncpg", "postgresql") + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    finally:
        await conn.close()


def assert_chart(resp: Any, filename: str, title: str) -> str:
    """A report answered as an SVG chart (`?format=svg`): its headers, its file name and its
    accessible title; returns the SVG text for the test's own checks."""
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "image/svg+xml"
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert f'filename="{filename}"' in resp.headers["content-disposition"]
    text: str = resp.text
    assert f'<title id="chart-title">{title}</title>' in text
    return text


class SchemaTemplates:
    """Each schema migrated once per test run, then copied for every test that needs it.

    A service test's database used to be migrated from nothing each time (Alembic, every
    revision: the bulk of a service test's set-up). Here the first request for a service
    (and revision) migrates a template database; each request gets a copy of it: a file copy
    through SQLite's backup API, or `CREATE DATABASE ... TEMPLATE` on PostgreSQL. The copy is
    byte for byte what the migrations made (alembic_version included), and still a database of
    the test's own. `close()` drops the PostgreSQL templates.
    """

    def __init__(self, tmp_dir: Any) -> None:
        import threading

        self.tmp_dir = tmp_dir
        self._made: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def _template(self, service_dir: Any, name: str, revision: str) -> str:
        """The migrated template's URL (made on first use; called on a worker thread)."""
        from shared.db import alembic_upgrade

        key = (str(service_dir), revision)
        with self._lock:
            if key not in self._made:
                import asyncio

                url = asyncio.run(create_test_database(self.tmp_dir, f"tpl_{name}"))
                alembic_upgrade(service_dir, url, revision)
                self._made[key] = url
            return self._made[key]

    async def database(self, tmp_dir: Any, service_dir: Any, name: str, revision: str = "head") -> str:
        """A new database of the test's own, migrated to `revision` (drop it with drop_test_database)."""
        import asyncio

        template = await asyncio.to_thread(self._template, service_dir, name, revision)
        url = await create_test_database(tmp_dir, name, template=template)
        if url.startswith("sqlite"):
            await asyncio.to_thread(_sqlite_copy, _sqlite_path(template), _sqlite_path(url))
        return url

    def close(self) -> None:
        import asyncio

        for url in self._made.values():
            asyncio.run(drop_test_database(url))
        self._made.clear()


def _sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1]


def _sqlite_copy(source: str, target: str) -> None:
    import sqlite3

    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
