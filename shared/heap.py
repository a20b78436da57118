"""Garbage collection tuned for a long-running server process.

A service holds some 130-160 thousand long-lived objects once started (modules, Pydantic
schemas, SQLAlchemy mappers, FastAPI routes). CPython's full collection walks all of them: on
the 2-core reference machine, a full collection of the referrals process took up to 230 ms
under load, and every request that process held waited for it (docs/performance.md). Moving
what exists at startup into the permanent generation (`gc.freeze`) leaves the collector only
what requests create: the longest full collection measured the same way was 35 ms.
"""

from __future__ import annotations

import gc

_settled = False


def settle() -> None:
    """Collect once, then freeze what survives. Once per process: later calls do nothing, so
    an application started again in the same process (tests) does not pin more objects."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()
