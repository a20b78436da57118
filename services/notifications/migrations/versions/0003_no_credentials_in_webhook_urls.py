"""no credentials in webhook URLs

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

Subscriptions whose URL carried credentials (`user:password@host`) had them stored, listed
and sent with every delivery. Since this revision such URLs are refused; the ones stored
before lose their credentials and are disabled (`disabled_reason` says why), since the
receiver presumably relied on them: its owner re-creates the subscription and verifies the
signature instead. Not reversible: the credentials are gone (downgrade leaves the rows).
"""

from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASON = "the URL carried credentials; they were removed: re-create the subscription without them"


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def upgrade() -> None:
    bind = op.get_bind()
    subscription = sa.table(
        "subscription",
        sa.column("id", sa.String),
        sa.column("url", sa.String),
        sa.column("status", sa.String),
        sa.column("disabled_reason", sa.String),
    )
    rows = bind.execute(sa.select(subscription.c.id, subscription.c.url, subscription.c.status)).all()
    for sid, url, status in rows:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            continue
        values = {"url": without_credentials(url)}
        if status == "active":
            values |= {"status": "disabled", "disabled_reason": REASON}
        bind.execute(sa.update(subscription).where(subscription.c.id == sid).values(**values))


def downgrade() -> None:
    pass
