"""practitioners and teams; the practitioner on each audit row

Additive only: two new tables and a nullable audit column, so existing rows read as
before (system calls, practitioner_id NULL) and their hashes still verify.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "team",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("agency_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_team_agency_id_agency")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team")),
    )
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.create_index("ix_team_agency_created", ["agency_id", "created_at"], unique=False)

    op.create_table(
        "practitioner",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("agency_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("team_id", sa.String(length=36), nullable=True),
        sa.Column("external_issuer", sa.String(length=300), nullable=True),
        sa.Column("external_subject", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_practitioner_agency_id_agency")),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_practitioner_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practitioner")),
        sa.UniqueConstraint("agency_id", "email", name=op.f("uq_practitioner_agency_id_email")),
        sa.UniqueConstraint(
            "external_issuer",
            "external_subject",
            name=op.f("uq_practitioner_external_issuer_external_subject"),
        ),
    )
    with op.batch_alter_table("practitioner", schema=None) as batch_op:
        batch_op.create_index("ix_practitioner_agency_created", ["agency_id", "created_at"], unique=False)

    with op.batch_alter_table("audit_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("practitioner_id", sa.String(length=36), nullable=True))
        batch_op.create_index("ix_audit_record_practitioner_at", ["practitioner_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_record", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_record_practitioner_at")
        batch_op.drop_column("practitioner_id")

    with op.batch_alter_table("practitioner", schema=None) as batch_op:
        batch_op.drop_index("ix_practitioner_agency_created")

    op.drop_table("practitioner")
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.drop_index("ix_team_agency_created")

    op.drop_table("team")
