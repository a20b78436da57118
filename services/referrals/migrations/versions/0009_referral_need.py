"""referral_need: one row per need a referral names, for the JSNA feed

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Issue 21 item 3. A new table with its index; referrals stored before are written into it with
the rule intake uses (services/referrals/jsna.py, copied here so this revision never changes):
the London month received, the postcode district, a hash of the household's address key (or of
the referral's id when it has no address). The referrals themselves are untouched.
"""

import hashlib
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LONDON = ZoneInfo("Europe/London")
BATCH = 5000


def _district(postcode: str | None) -> str:
    compact = "".join((postcode or "").split()).upper()
    return compact[:-3] if 5 <= len(compact) <= 7 and compact[-3].isdigit() else "unknown"


def _family_key(referral_id: str, address: dict | None) -> str:
    address = address or {}
    if address.get("line1") and address.get("postcode"):
        line = unicodedata.normalize("NFKD", address["line1"]).upper()
        postcode = "".join(address["postcode"].split()).upper()
        key = f"household:{postcode}:{''.join(c for c in line if c.isascii() and c.isalnum())}"
    else:
        key = "referral:" + referral_id
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _month(moment: datetime) -> int:
    day = moment.astimezone(LONDON)
    return day.year * 12 + day.month - 1


def upgrade() -> None:
    need = op.create_table(
        "referral_need",
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("need", sa.String(length=60), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("district", sa.String(length=8), nullable=False),
        sa.Column("family_key", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referral.id"], name=op.f("fk_referral_need_referral_id_referral")
        ),
        sa.PrimaryKeyConstraint("referral_id", "need", name=op.f("pk_referral_need")),
    )
    with op.batch_alter_table("referral_need", schema=None) as batch_op:
        batch_op.create_index(
            "ix_referral_need_jsna", ["month", "need", "district", "family_key"], unique=False
        )

    referral = sa.table(
        "referral",
        sa.column("id", sa.String),
        sa.column("needs", sa.JSON),
        sa.column("address", sa.JSON),
        sa.column("postcode", sa.String),
        sa.column("received_at", UTCDateTime()),
    )
    target = sa.table(
        "referral_need",
        *(sa.column(name) for name in ("referral_id", "need", "month", "district", "family_key")),
        sa.column("received_at", UTCDateTime()),
    )
    bind = op.get_bind()
    after = ""
    while True:  # in batches by id: no cursor held open across the inserts
        batch = bind.execute(
            sa.select(referral).where(referral.c.id > after).order_by(referral.c.id).limit(BATCH)
        ).all()
        if not batch:
            break
        after = batch[-1].id
        values = [
            {
                "referral_id": r.id,
                "need": code,
                "received_at": r.received_at,
                "month": _month(r.received_at),
                "district": _district(r.postcode),
                "family_key": _family_key(r.id, r.address),
            }
            for r in batch
            for code in dict.fromkeys(r.needs or [])
        ]
        if values:
            bind.execute(target.insert(), values)


def downgrade() -> None:
    with op.batch_alter_table("referral_need", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_need_jsna")

    op.drop_table("referral_need")
