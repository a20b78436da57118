"""`Idempotency-Key` on create endpoints (semantics in api.md).

- same client + key + same body: the first response is replayed (status, body, Location);
- same client + key + different body: 422;
- keys are scoped to the client, so two clients never see each other's responses.

The key is claimed (inserted) in the request's own transaction *before* the record is
created: a concurrent retry with the same key waits on the unique key and then fails
cleanly, so one key can never create two records.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse, Response

from shared.clock import utcnow
from shared.identity import Identity
from shared.platform_tables import PlatformTables
from shared.problems import Conflict, Problem, ValidationProblem

MAX_KEY_LENGTH = 255


class IdempotencyReplay(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class IdempotencyKeyReused(Problem):
    status, type_slug, title = 422, "idempotency-key-reused", "Idempotency key reused"


@dataclass
class IdempotencyClaim:
    session: AsyncSession
    tables: PlatformTables
    client_id: str
    key: str | None

    async def complete(self, status_code: int, body: Any, location: str | None = None) -> None:
        if self.key is None:
            return
        t = self.tables.idempotency_record
        await self.session.execute(
            update(t)
            .where(t.c.client_id == self.client_id, t.c.key == self.key)
            .values(status_code=status_code, response_body=json.dumps(body, default=str), location=location)
        )


def request_hash(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


async def claim(
    request: Request, session: AsyncSession, tables: PlatformTables, identity: Identity
) -> IdempotencyClaim:
    key = request.headers.get("idempotency-key")
    if key is None:
        return IdempotencyClaim(session, tables, identity.client_id, None)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationProblem("Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} characters")
    t = tables.idempotency_record
    digest = request_hash(request.method, request.url.path, await request.body())
    row = (
        (await session.execute(select(t).where(t.c.client_id == identity.client_id, t.c.key == key)))
        .mappings()
        .first()
    )
    if row is not None:
        _replay_or_refuse(row, digest)
    try:
        async with session.begin_nested():
            await session.execute(
                insert(t).values(
                    client_id=identity.client_id,
                    key=key,
                    method=request.method,
                    path=request.url.path,
                    request_hash=digest,
                    created_at=utcnow(),
                )
            )
    except IntegrityError as exc:
        raise Conflict(
            "A request with this Idempotency-Key is being processed; retry to receive its response"
        ) from exc
    return IdempotencyClaim(session, tables, identity.client_id, key)


def _replay_or_refuse(row: Any, digest: str) -> None:
    if row["request_hash"] != digest:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used with a different request body",
            errors=[
                {
                    "field": "Idempotency-Key",
                    "loc": ["header", "Idempotency-Key"],
                    "message": "already used with a different request",
                }
            ],
        )
    if row["status_code"] is None:
        raise Conflict("A request with this Idempotency-Key is still in progress")
    headers = {"Idempotency-Replayed": "true"}
    if row["location"]:
        headers["Location"] = row["location"]
    raise IdempotencyReplay(
        JSONResponse(json.loads(row["response_body"]), status_code=row["status_code"], headers=headers)
    )


def install_replay_handler(app: Any) -> None:
    @app.exception_handler(IdempotencyReplay)
    async def _replay(_request: Request, exc: IdempotencyReplay) -> Response:
        return exc.response
