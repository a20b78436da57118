"""Email over a real SMTP server; webhooks to a real HTTP receiver, signed and verified."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy

import httpx
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from sqlalchemy import select
from standardwebhooks import Webhook

from services.notifications.models import Delivery, Subscription
from services.notifications.tests.conftest import settings_with
from services.notifications.tests.test_worker import free_port
from services.notifications.worker import Worker

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
FAR = datetime.now(UTC) + timedelta(days=3650)


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, box
    controller.stop()


class Receiver:
    """A real HTTP endpoint on 127.0.0.1 recording what it is sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        self.status = 200

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((await request.read(), dict(request.headers)))
        return web.Response(status=self.status)


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """`app` served on a free port of 127.0.0.1: its runner (to clean up) and base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def receiver():
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner, base = await serve(app)
    rec.url = f"{base}/hook"
    yield rec
    await runner.cleanup()


async def run_worker(notif, now: datetime = FAR) -> tuple[int, int]:
    worker = Worker(notif.settings, notif.db)
    try:
        return await worker.tick(now=now)
    finally:
        await worker.aclose()


async def consent_withdrawn_on_a_led_case(notif, lead_email: str) -> None:
    """Episode e1 (reference EH-77) led by `lead_email` of agency s1; then a consent of its
    person withdrawn: an alert emailed to the lead (and one of their new case before it)."""
    await notif.event(
        "episode.opened",
        {
            "episode_id": "e1",
            "reference": "EH-77",
            "person_ids": ["p-secret-id"],
            "opened_at": T0.isoformat(),
        },
    )
    await notif.event(
        "lead_professional.assigned", {"episode_id": "e1", "agency_id": "s1", "email": lead_email}
    )
    await notif.event(
        "consent.withdrawn", {"consent_id": "c1", "person_id": "p-secret-id", "purposes": [], "agencies": []}
    )


async def test_email_over_smtp_plain_and_html(make_notif, smtp):
    controller, box = smtp
    notif = await make_notif(smtp_host="127.0.0.1", smtp_port=controller.port, mail_from="eh@council.example")
    await consent_withdrawn_on_a_led_case(notif, "lead@school.example")
    await run_worker(notif, T0 + timedelta(hours=1))
    # The lead was told of their new case too (issue 20): two emails, the consent one here.
    assert len(box.messages) == 2
    [msg] = [m for m in box.messages if "Consent" in m["Subject"]]
    assert msg["To"] == "lead@school.example" and msg["From"] == "eh@council.example"
    assert msg["Subject"] == "[Early Help] Consent was withdrawn on your case (EH-77)"
    assert "p-secret-id" not in msg["Subject"]
    types = sorted(part.get_content_type() for part in msg.iter_parts())
    assert types == ["text/html", "text/plain"]
    assert "e1" in msg.get_body(("plain",)).get_content()
    # Sent once: a second pass finds nothing pending.
    assert (await run_worker(notif, T0 + timedelta(hours=2)))[1] == 0
    assert len(box.messages) == 2


async def test_smtp_down_is_retried_not_lost(make_notif):
    notif = await make_notif(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout_seconds=1)
    await consent_withdrawn_on_a_led_case(notif, "l@x.example")
    await run_worker(notif, T0)
    async with notif.db.session(write=False) as s:
        d = (await s.scalars(select(Delivery).where(Delivery.event_type == "consent.withdrawn"))).one()
    assert d.status == "pending" and d.attempts == 1 and d.last_error


async def subscribe(
    notif, url: str, agency_id: str = "school-1", types=("referral.decided", "deadline.overdue")
):
    return await notif.client.post(
        "/v1/subscriptions",
        json={"url": url, "event_types": list(types)},
        headers=notif.headers("education", agency_id, "webhooks:manage"),
    )


async def decide(notif, rid: str = "r1", agency: str = "school-1") -> None:
    await notif.event(
        "referral.decided",
        {
            "referral_id": rid,
            "reference": f"R-{rid}",
            "source_agency_id": agency,
            "outcome": "early_help",
            "decided_at": T0.isoformat(),
        },
    )


async def test_signed_webhook_to_a_real_receiver(notif, receiver):
    resp = await subscribe(notif, receiver.url)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    secret, sid = created["secret"], created["id"]
    assert secret.startswith("whsec_") and resp.headers["location"] == f"/v1/subscriptions/{sid}"
    listed = await notif.client.get(
        "/v1/subscriptions", headers=notif.headers("education", "school-1", "webhooks:manage")
    )
    assert "secret" not in listed.json()["items"][0] and listed.json()["items"][0]["id"] == sid
    async with notif.db.session(write=False) as s:
        assert secret not in (await s.get(Subscription, sid)).secret_encrypted
    await notif.event(
        "lead_professional.assigned", {"episode_id": "e1", "agency_id": "school-1", "email": "x@y.example"}
    )
    await decide(notif)
    await decide(notif, "r2", agency="school-2")  # another agency's: not sent here
    await run_worker(notif)
    assert len(receiver.requests) == 1
    body, headers = receiver.requests[0]
    payload = Webhook(secret).verify(body, headers)  # raises if the signature is wrong
    assert payload["type"] == "referral.decided"
    assert payload["data"]["referral_id"] == "r1" and "@" not in body.decode()
    assert headers["webhook-id"] and headers["webhook-timestamp"]
    log = await notif.client.get(
        f"/v1/subscriptions/{sid}/deliveries",
        headers=notif.headers("education", "school-1", "webhooks:manage"),
    )
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log.json()["items"]] == [
        ("delivered", 1, 200)
    ]
    other = notif.headers("education", "school-2", "webhooks:manage")
    assert (await notif.client.get(f"/v1/subscriptions/{sid}/deliveries", headers=other)).status_code == 404
    assert (await notif.client.delete(f"/v1/subscriptions/{sid}", headers=other)).status_code == 404
    assert (
        await notif.client.delete(
            f"/v1/subscriptions/{sid}", headers=notif.headers("education", "school-1", "webhooks:manage")
        )
    ).status_code == 204


async def test_bad_subscription_input_is_422(notif):
    bad = await subscribe(notif, "http://127.0.0.1/x", types=("referral.exploded",))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "event_types"
    bad = await subscribe(notif, "not a url")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "url"
    for with_credentials in ("http://user:pw@127.0.0.1/x", "http://token@127.0.0.1/x"):
        bad = await subscribe(notif, with_credentials)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "url", with_credentials
        assert "credentials" in bad.json()["errors"][0]["message"]


async def test_an_unreachable_host_is_one_opaque_failure_whatever_the_transport_error(notif, receiver):
    """Refused, timed out or blocked: the subscriber learns "unreachable", not which (a port map)."""
    from services.notifications.channels import webhooks

    async def attempt(url: str, transport: httpx.AsyncBaseTransport | None = None) -> webhooks.SendResult:
        async with httpx.AsyncClient(transport=transport) as client:
            return await webhooks.send_webhook(
                client,
                notif.settings,
                url=url,
                secret=webhooks.new_secret(),
                msg_id="msg_1",
                payload={"type": "x"},
                timestamp=datetime.now(UTC),
            )

    def failing(exc: type[httpx.HTTPError]) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            raise exc("no", request=request)

        return httpx.MockTransport(handler)

    results = [
        await attempt("http://127.0.0.1:9/x", failing(httpx.ConnectError)),
        await attempt("http://127.0.0.1:9/x", failing(httpx.ReadTimeout)),
        await attempt("http://127.0.0.1:9/x", failing(httpx.RemoteProtocolError)),
        await attempt("http://user:pw@127.0.0.1:9/x"),
    ]
    assert {(r.ok, r.status_code, r.error) for r in results} == {(False, None, "unreachable")}
    receiver.status = 503
    answered = await attempt(receiver.url)
    assert (answered.ok, answered.status_code, answered.error) == (False, 503, "HTTP 503")


async def test_retries_back_off_then_disable_after_repeated_failure(make_notif, receiver):
    notif = await make_notif(webhook_max_consecutive_failures=3)
    receiver.status = 500
    sid = (await subscribe(notif, receiver.url)).json()["id"]
    await decide(notif)
    await run_worker(notif, datetime.now(UTC))
    async with notif.db.session(write=False) as s:
        d = (await s.scalars(select(Delivery))).one()
    assert d.status == "pending" and d.attempts == 1 and d.last_status_code == 500
    assert d.next_attempt_at.replace(tzinfo=UTC) > datetime.now(UTC)  # backed off
    for _ in range(3):
        await run_worker(notif)
    async with notif.db.session(write=False) as s:
        sub = await s.get(Subscription, sid)
        d = (await s.scalars(select(Delivery))).one()
    assert sub.status == "disabled" and "3 consecutive" in sub.disabled_reason
    assert d.status == "failed" and len(receiver.requests) == 3
    retry = await notif.client.post(
        f"/v1/subscriptions/{sid}/deliveries/{d.id}/retry",
        headers=notif.headers("education", "school-1", "webhooks:manage"),
    )
    assert retry.status_code == 409


async def test_410_disables_at_once(notif, receiver):
    receiver.status = 410
    sid = (await subscribe(notif, receiver.url)).json()["id"]
    await decide(notif)
    await decide(notif, "r2")
    await run_worker(notif)
    listed = await notif.client.get(
        "/v1/subscriptions", headers=notif.headers("education", "school-1", "webhooks:manage")
    )
    sub = listed.json()["items"][0]
    assert sub["id"] == sid and sub["status"] == "disabled" and "410" in sub["disabled_reason"]
    assert len(receiver.requests) == 1  # the second delivery was never sent


async def test_manual_retry_after_attempts_ran_out(make_notif, receiver):
    notif = await make_notif(webhook_max_attempts=2, webhook_max_consecutive_failures=10)
    receiver.status = 503
    sid = (await subscribe(notif, receiver.url)).json()["id"]
    await decide(notif)
    await run_worker(notif)
    await run_worker(notif)
    hdr = notif.headers("education", "school-1", "webhooks:manage")
    log = (await notif.client.get(f"/v1/subscriptions/{sid}/deliveries", headers=hdr)).json()["items"]
    assert [(d["status"], d["attempts"]) for d in log] == [("failed", 2)]
    receiver.status = 200
    retry = await notif.client.post(f"/v1/subscriptions/{sid}/deliveries/{log[0]['id']}/retry", headers=hdr)
    assert retry.status_code == 202 and retry.json()["status"] == "pending"
    missing = await notif.client.post(f"/v1/subscriptions/{sid}/deliveries/nope/retry", headers=hdr)
    assert missing.status_code == 404
    await run_worker(notif, datetime.now(UTC))
    log = (await notif.client.get(f"/v1/subscriptions/{sid}/deliveries", headers=hdr)).json()["items"]
    assert [(d["status"], d["attempts"]) for d in log] == [("delivered", 3)]
    # The receiver saw the same webhook-id each time: it can dedupe.
    assert len({h["webhook-id"] for _, h in receiver.requests}) == 1 and len(receiver.requests) == 3


STAGING = {
    "settings_cls": settings_with(
        environment="staging",
        service_client_secret="a8f3kq0-real-value",
        webhook_secret_key="k7Qz-real-key-2f9",
    )
}


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest",
        "https://[::1]/x",
        "https://192.168.0.10/x",
        "https://localhost/x",
        "http://example.com/x",
    ],
)
async def test_ssrf_guard_outside_dev(make_notif, url):
    notif = await make_notif(**STAGING)
    resp = await subscribe(notif, url)
    assert resp.status_code == 422, resp.text
    assert (
        resp.json()["type"].endswith("/webhook-url-not-allowed")
        and resp.json()["errors"][0]["field"] == "url"
    )


async def test_allowlisted_host_delivers_and_the_guard_runs_again_at_send(make_notif, receiver):
    cls = settings_with(
        environment="staging",
        service_client_secret="a8f3kq0-real-value",
        webhook_secret_key="k7Qz-real-key-2f9",
        webhook_allowed_hosts=["127.0.0.1"],
    )
    notif = await make_notif(settings_cls=cls)
    resp = await subscribe(notif, receiver.url)
    assert resp.status_code == 201, resp.text
    await decide(notif)
    await run_worker(notif)
    assert len(receiver.requests) == 1
    Webhook(resp.json()["secret"]).verify(*receiver.requests[0])
    notif.settings.webhook_allowed_hosts = []  # the allowlist no longer covers it
    await decide(notif, "r2")
    await run_worker(notif)
    assert len(receiver.requests) == 1
    async with notif.db.session(write=False) as s:
        blocked = (await s.scalars(select(Delivery).where(Delivery.status != "delivered"))).one()
    assert blocked.last_error == "unreachable"


def test_staging_refuses_the_dev_webhook_key():
    from services.notifications.config import Settings

    with pytest.raises(ValueError, match="webhook_secret_key"):
        Settings(environment="staging", service_client_secret="real-value-x")
