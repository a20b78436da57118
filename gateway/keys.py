"""The gateway's signing keys: generation, rotation, retirement, the JWKS.

The newest non-retired key signs. Every non-retired key is published in the JWKS, so a token
signed by the previous key keeps verifying after a rotation until that key is retired.
Private keys are turned into key objects once (loading a PEM costs ~40 ms; signing with a
ready key ~0.7 ms).
"""

from __future__ import annotations

import uuid
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt
from sqlalchemy import select, text

from gateway.models import SigningKey
from shared.clock import utcnow
from shared.db import Database, is_postgres_session


def _public_jwk(private_pem: str, kid: str) -> dict[str, str]:
    public = jwk.construct(private_pem, "RS256").public_key().to_dict()
    public.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in public.items()}


def new_key() -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    kid = f"{utcnow():%Y%m%d}-{uuid.uuid4().hex[:8]}"
    return SigningKey(kid=kid, private_pem=pem, public_jwk=_public_jwk(pem, kid), created_at=utcnow())


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._signing: tuple[str, Any] | None = None
        self._jwks: dict[str, Any] = {"keys": []}

    async def load(self, *, create_if_missing: bool = True) -> None:
        async with self.db.session() as session:
            if create_if_missing and is_postgres_session(session):
                # Replicas starting together on an empty database: one creates the first
                # key, the others wait here and then find it (each made its own before,
                # and for up to the verifiers' refetch interval a token signed by one
                # replica was "unknown key id" at another). SQLite's write session already
                # holds the database's one write lock from BEGIN.
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext('gateway.first_signing_key'))")
                )
            keys = (
                (
                    await session.execute(
                        select(SigningKey)
                        .where(SigningKey.retired_at.is_(None))
                        .order_by(SigningKey.created_at)
                    )
                )
                .scalars()
                .all()
            )
            if not keys and create_if_missing:
                key = new_key()
                session.add(key)
                keys = [key]
        self._jwks = {"keys": [dict(k.public_jwk) for k in keys]}
        if keys:
            newest = keys[-1]
            if self._signing is None or self._signing[0] != newest.kid:
                self._signing = (newest.kid, jwk.construct(newest.private_pem, "RS256"))

    def jwks(self) -> dict[str, Any]:
        return self._jwks

    async def fetch_jwks(self) -> dict[str, Any]:
        """Fetcher for the hardened verifier: reload from the database (another instance may
        have rotated) and return the published keys."""
        await self.load(create_if_missing=False)
        return self._jwks

    def sign(self, claims: dict[str, Any]) -> str:
        if self._signing is None:
            raise RuntimeError("no signing key loaded")
        kid, key = self._signing
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"})


async def rotate(db: Database) -> str:
    async with db.session() as session:
        key = new_key()
        session.add(key)
    return key.kid


async def retire(db: Database, kid: str) -> bool:
    async with db.session() as session:
        key = await session.get(SigningKey, kid)
        if key is None or key.retired_at is not None:
            return False
        remaining = (
            await session.execute(
                select(SigningKey.kid).where(SigningKey.retired_at.is_(None), SigningKey.kid != kid)
            )
        ).all()
        if not remaining:
            raise ValueError("cannot retire the only active key; rotate first")
        key.retired_at = utcnow()
    return True
