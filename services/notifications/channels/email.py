"""Email over SMTP: plain text + HTML; subjects carry kinds and references, never personal detail."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from services.notifications.config import Settings


def build_message(settings: Settings, to: str, content: dict[str, Any], message_id: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = content["subject"]
    # A stable Message-ID per delivery lets mail systems drop the rare resend (see docs).
    msg["Message-ID"] = f"<{message_id}@early-help.notifications>"
    msg.set_content(content["text"])
    msg.add_alternative(content["html"], subtype="html")
    return msg


def _send_sync(settings: Settings, msg: EmailMessage) -> None:
    timeout = settings.smtp_timeout_seconds
    if settings.smtp_tls == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    try:
        if settings.smtp_tls == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(msg)
    finally:
        try:
            smtp.quit()
        except Exception:
            smtp.close()


async def send_email(settings: Settings, to: str, content: dict[str, Any], message_id: str) -> None:
    msg = build_message(settings, to, content, message_id)
    await asyncio.to_thread(_send_sync, settings, msg)
