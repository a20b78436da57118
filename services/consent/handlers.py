"""Events this service receives: none.

The consent service is the source of consent facts, not a follower of other services'
events: it publishes `consent.*`, and what others do that concerns it (disclosures, access
checks) arrives as internal HTTP calls (`router.internal_router`). The table stays, empty, so
every service is wired alike (`main.py` passes it to the runtime).
"""

from __future__ import annotations

from shared.events import Handler

HANDLERS: dict[str, Handler] = {}
