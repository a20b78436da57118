"""Webhooks: secrets (encrypted at rest), the SSRF guard, signed delivery (Standard Webhooks).

SSRF guard: the URL's host is resolved and every address must be public - not private,
loopback, link-local, multicast, reserved or unspecified - unless the environment is
`dev`/`test` or the host is in `webhook_allowed_hosts`. It runs when a subscription is
created and again before every delivery (a DNS answer can change in between). A URL carrying
credentials (`user:password@host`) is refused: they would be stored, listed and sent.

A delivery that does not reach an HTTP answer (refused, reset, timed out, blocked by the
guard, no such host) is recorded as one opaque `unreachable`, never the transport error's
kind: "connection refused" against "timed out" would let a subscriber map which ports of a
host it can name are open. An HTTP answer is recorded with its status.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import json
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.fernet import Fernet
from standardwebhooks import Webhook

from services.notifications.config import Settings


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _fernet(settings: Settings) -> Fernet:
    key = hashlib.sha256(settings.webhook_secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(settings: Settings, secret: str) -> str:
    return _fernet(settings).encrypt(secret.encode()).decode()


def decrypt_secret(settings: Settings, token: str) -> str:
    return _fernet(settings).decrypt(token.encode()).decode()


class BlockedDestination(Exception):
    """The URL resolves to an address webhooks may not reach."""


def _blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


async def check_destination(settings: Settings, url: str) -> None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise BlockedDestination("the URL must be http(s) with a host")
    if parts.username is not None or parts.password is not None:
        raise BlockedDestination("the URL must not carry credentials")
    if settings.environment in ("dev", "test") or host in {h.lower() for h in settings.webhook_allowed_hosts}:
        return
    if parts.scheme != "https":
        raise BlockedDestination("webhook URLs must use https")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise BlockedDestination("the host does not resolve") from exc
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if _blocked(ip):
            raise BlockedDestination("the host resolves to a private or reserved address")


UNREACHABLE = "unreachable"


@dataclass
class SendResult:
    ok: bool
    status_code: int | None
    error: str | None


async def send_webhook(
    client: httpx.AsyncClient,
    settings: Settings,
    *,
    url: str,
    secret: str,
    msg_id: str,
    payload: dict[str, Any],
    timestamp: datetime,
) -> SendResult:
    try:
        await check_destination(settings, url)
    except BlockedDestination:
        return SendResult(False, None, UNREACHABLE)
    body = json.dumps(payload, separators=(",", ":"))
    signature = Webhook(secret).sign(msg_id, timestamp, body)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
        "user-agent": "early-help-webhooks/1",
    }
    try:
        resp = await client.post(url, content=body, headers=headers, timeout=settings.webhook_timeout_seconds)
    except httpx.HTTPError:
        return SendResult(False, None, UNREACHABLE)
    if 200 <= resp.status_code < 300:
        return SendResult(True, resp.status_code, None)
    return SendResult(False, resp.status_code, f"HTTP {resp.status_code}")
