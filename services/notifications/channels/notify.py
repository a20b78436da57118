"""GOV.UK Notify: email and SMS through the official `notifications-python-client` (issue 22).

The client is synchronous (requests), so every call runs in a thread (`asyncio.to_thread`)
with `notify_timeout_seconds` on each request; a client is made per call (it is not
thread-safe) and its connection pool closed after.

What Notify answers is recorded opaquely: `HTTP 400` and the like, never its message (which
could name what was wrong with an address) nor anything of the key. A 400 (or another 4xx
but 403/429) is permanent: the same request would be refused again, so it is not retried. A
403 (a key rotated or a clock adrift), a 429 (rate limit), a 5xx and a request that got no
answer (`unreachable`) are temporary: retried with backoff up to `notify_max_attempts`.

Once only: a delivery's id is the `reference` of what it sends. `deliveries.py` marks a
delivery just before the send; a later attempt of a marked delivery first asks Notify for that
reference (`find`) and records what it finds instead of sending again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient

from services.notifications.config import Settings

NOTIFY_EMAIL = "notify_email"
NOTIFY_SMS = "notify_sms"
NOTIFY_CHANNELS = (NOTIFY_EMAIL, NOTIFY_SMS)
# Notify's statuses after which a notification changes no more (`sent`: an international text).
FINAL_STATUSES = frozenset(
    {"delivered", "sent", "permanent-failure", "temporary-failure", "technical-failure"}
)
FAILED_STATUSES = frozenset({"permanent-failure", "temporary-failure", "technical-failure"})
UNREACHABLE = "unreachable"
# Statuses of Notify's answers that a retry can change (a key or a clock fixed; a rate limit).
TEMPORARY_CODES = frozenset({403, 429})

T = TypeVar("T")


@dataclass
class NotifyAnswer:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    permanent: bool = False
    notify_id: str | None = None
    notify_status: str | None = None


class NotifyFailure(Exception):
    """A call to Notify that got no usable answer (its status code, or None: unreachable)."""

    def __init__(self, status_code: int | None) -> None:
        super().__init__(f"HTTP {status_code}" if status_code else UNREACHABLE)
        self.status_code = status_code


class NotifyChannel:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _call(self, fn: Callable[[NotificationsAPIClient], T]) -> T:
        client = NotificationsAPIClient(
            self.settings.notify_api_key.get_secret_value(),
            base_url=self.settings.notify_base_url,
            timeout=self.settings.notify_timeout_seconds,
        )
        try:
            return fn(client)
        except APIError as exc:  # the client's own: HTTPError (with or without an answer)
            code = exc.response.status_code if exc.response is not None else None
            raise NotifyFailure(code) from None
        except Exception:  # a malformed answer or the like: nothing of it is kept
            raise NotifyFailure(None) from None
        finally:
            client.request_session.close()

    async def _run(self, fn: Callable[[NotificationsAPIClient], T]) -> T:
        return await asyncio.to_thread(self._call, fn)

    async def send(self, channel: str, to: str, payload: dict[str, Any], reference: str) -> NotifyAnswer:
        template, personalisation = payload["template_id"], payload["personalisation"]

        def post(client: NotificationsAPIClient) -> Any:
            if channel == NOTIFY_SMS:
                return client.send_sms_notification(to, template, personalisation, reference=reference)
            return client.send_email_notification(to, template, personalisation, reference=reference)

        try:
            body = await self._run(post)
        except NotifyFailure as exc:
            code = exc.status_code
            permanent = code is not None and 400 <= code < 500 and code not in TEMPORARY_CODES
            return NotifyAnswer(False, code, str(exc), permanent=permanent)
        # Notify's answer to a send has no status: a notification it accepted is `created`.
        return NotifyAnswer(True, 201, None, notify_id=str(body["id"]), notify_status="created")

    async def find(self, reference: str) -> tuple[str, str] | None:
        """The notification an earlier attempt sent with this reference (id, status), if any."""
        body = await self._run(lambda c: c.get_all_notifications(reference=reference))
        found = [n for n in body.get("notifications", []) if n.get("reference") == reference]
        return (str(found[0]["id"]), str(found[0]["status"])) if found else None

    async def status(self, notify_id: str) -> str:
        body = await self._run(lambda c: c.get_notification_by_id(notify_id))
        return str(body["status"])
