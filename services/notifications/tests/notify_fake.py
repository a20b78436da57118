"""A local GOV.UK Notify speaking its documented v2 API on 127.0.0.1, for the tests.

POST /v2/notifications/email and /v2/notifications/sms, GET /v2/notifications/{id} and
GET /v2/notifications (?reference=). Every request must carry `Authorization: Bearer <JWT>`
checked as Notify does: HS256, `iss` the service id, signed with the API key's secret, `iat`
within 30 seconds of now; else 403 AuthError. Templates render `((placeholder))` and refuse
missing personalisation with a 400. `fail_next` queues error answers for the next sends.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web

SERVICE_ID = "6f0a4c34-1b7d-4d2e-9a53-3c1f0b7e9a10"
SECRET = "a3c1e6d2-9f4b-4b8e-8d7a-5e2f1c0b9d84"
API_KEY = f"early_help_live-{SERVICE_ID}-{SECRET}"
EMAIL_TEMPLATE = "0b6f1c1e-6d0b-4a8e-9c4c-1a2b3c4d5e6f"
SMS_TEMPLATE = "1c7a2d2f-7e1c-4b9f-8d5d-2b3c4d5e6f70"
PLACEHOLDER = re.compile(r"\(\(([a-z_]+)\)\)")
ERRORS = {400: "BadRequestError", 403: "AuthError", 429: "RateLimitError", 500: "Exception"}


@dataclass
class Template:
    type: str
    body: str
    subject: str = ""


@dataclass
class FakeNotify:
    templates: dict[str, Template] = field(
        default_factory=lambda: {
            EMAIL_TEMPLATE: Template(
                "email", "((title))\n\n((details))\n\nNotification ((notification_id))", "((subject))"
            ),
            SMS_TEMPLATE: Template("sms", "Early Help: ((title)) ((reference))"),
        }
    )
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    url: str = ""

    def fail_next(self, *codes: int) -> None:
        self.failures.extend(codes)

    def set_status(self, notify_id: str, status: str) -> None:
        self.notifications[notify_id]["status"] = status

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        body = {"status_code": status, "errors": [{"error": ERRORS.get(status, "Error"), "message": message}]}
        return web.json_response(body, status=status)

    def _authorised(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        self.authorizations.append(header)
        if not header.startswith("Bearer "):
            return self._error(401, "Unauthorized: authentication token must be provided")
        token = header.removeprefix("Bearer ")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            if unverified.get("iss") != SERVICE_ID:
                return self._error(403, "Invalid token: service not found")
            claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_iat": False})
        except jwt.InvalidTokenError:
            return self._error(403, "Invalid token: signature, api token not found")
        if abs(time.time() - int(claims.get("iat", 0))) > 30:
            return self._error(403, "Error: Your system clock must be accurate to within 30 seconds")
        return None

    async def send(self, request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        if (refused := self._authorised(request)) is not None:
            return refused
        body = await request.json()
        self.posts.append({"type": kind, **body})
        if self.failures:
            status = self.failures.pop(0)
            return self._error(status, f"Injected {status}")
        template = self.templates.get(body.get("template_id", ""))
        if template is None or template.type != kind:
            return self._error(400, "Template not found")
        to_key = "email_address" if kind == "email" else "phone_number"
        if not body.get(to_key):
            return self._error(400, f"{to_key} is a required property")
        values = body.get("personalisation") or {}
        missing = sorted({m for m in PLACEHOLDER.findall(template.body + template.subject)} - set(values))
        if missing:
            return self._error(400, f"Missing personalisation: {', '.join(missing)}")

        def render(text: str) -> str:
            return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)

        nid = str(uuid.uuid4())
        self.notifications[nid] = {
            "id": nid,
            "reference": body.get("reference"),
            to_key: body[to_key],
            "type": kind,
            "status": "created",
            "template": {"id": body["template_id"], "version": 1, "uri": f"{self.url}/v2/template/x"},
            "body": render(template.body),
            "subject": render(template.subject) if kind == "email" else None,
            "created_at": "2026-12-10T09:00:00.000000Z",
        }
        content = {"body": render(template.body)}
        if kind == "email":
            content |= {"subject": render(template.subject), "from_email": "early.help@notifications.example"}
        answer = {
            "id": nid,
            "reference": body.get("reference"),
            "content": content,
            "uri": f"{self.url}/v2/notifications/{nid}",
            "template": self.notifications[nid]["template"],
        }
        return web.json_response(answer, status=201)

    async def get_one(self, request: web.Request) -> web.Response:
        if (refused := self._authorised(request)) is not None:
            return refused
        found = self.notifications.get(request.match_info["notify_id"])
        if found is None:
            return self._error(404, "No result found")
        return web.json_response(found)

    async def get_all(self, request: web.Request) -> web.Response:
        if (refused := self._authorised(request)) is not None:
            return refused
        ref = request.query.get("reference")
        items = [n for n in reversed(self.notifications.values()) if ref is None or n["reference"] == ref]
        return web.json_response(
            {"notifications": items, "links": {"current": f"{self.url}/v2/notifications"}}
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2/notifications/{kind:email|sms}", self.send)
        app.router.add_get("/v2/notifications/{notify_id}", self.get_one)
        app.router.add_get("/v2/notifications", self.get_all)
        return app
