"""Periodic background work (outbox relay, delivery jobs, scans) that stops cleanly.

Stopping does not cancel a pass half-way through a database call - cancelling an asyncpg
query in flight can leave its connection waiting for ever - but asks the loop to finish its
current pass and exit, and cancels only if that takes longer than `grace` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("shared.background")


class PeriodicTask:
    def __init__(
        self, name: str, work: Callable[[], Awaitable[object]], interval: float, grace: float = 10.0
    ) -> None:
        self.name = name
        self.work = work
        self.interval = interval
        self.grace = grace
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                await self.work()
            except Exception:
                log.exception("background pass failed", extra={"service": self.name})
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=self.grace)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        except Exception:
            log.exception("background task ended with an error", extra={"service": self.name})
        self._task = None
