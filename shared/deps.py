"""Annotated dependency aliases every service's endpoints use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shared.idempotency import IdempotencyClaim, claim
from shared.identity import CurrentIdentity
from shared.runtime import ServiceRuntime, runtime_of

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, else rolled back."""
    db = (await runtime_of(request)).db
    async with db.session(write=request.method not in READ_METHODS) as session:
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is an
# error response rather than a 201 for data that was never stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
RuntimeDep = Annotated[ServiceRuntime, Depends(runtime_of)]


async def get_idempotency(
    request: Request, session: SessionDep, identity: CurrentIdentity, runtime: RuntimeDep
) -> IdempotencyClaim:
    return await claim(request, session, runtime.tables, identity)


IdempotencyDep = Annotated[IdempotencyClaim, Depends(get_idempotency)]
