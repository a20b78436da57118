"""updated_at on deadlines, subscriptions and deliveries; the `action_due` deadline rule

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Issue 20 item 4: `?updated_since=` filters on a row's last change. Rows stored before this
revision get the latest time they already keep (created, met, cancelled, delivered), so they
read as they did and an integrator's first `updated_since` poll sees them at the right place.

Issue 20 item 5: a plan action's owner is reminded before its due date and told when it is
overdue - a deadline of kind `action_due` (due at the end of the action's `due_on`, London;
the amount is used only for an action without a due date, which a SMART plan refuses).
Its defaults are the council's to change with `PUT /v1/deadline-rules/action_due`.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from shared.changes import add_updated_at, drop_updated_at

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# kind, amount, unit, reminder lead h, escalation delay h, escalation target, team, description
ACTION_DUE = (
    "action_due", 10, "working_days", 48, 48, "early_help", "early_help",
    "Plan action due: the action's due date (reminder before, overdue after)",
)


def upgrade() -> None:
    add_updated_at("deadline", "created_at", "met_at", "cancelled_at")
    add_updated_at("subscription", "created_at")
    add_updated_at("delivery", "created_at", "delivered_at")
    table = sa.table(
        "deadline_rule",
        sa.column("kind", sa.String), sa.column("amount", sa.Integer), sa.column("unit", sa.String),
        sa.column("reminder_lead_hours", sa.Integer), sa.column("escalation_delay_hours", sa.Integer),
        sa.column("escalation_target", sa.String), sa.column("team", sa.String),
        sa.column("description", sa.String), sa.column("version", sa.Integer),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    kind, amount, unit, lead, esc, target, team, description = ACTION_DUE
    op.bulk_insert(table, [
        {"kind": kind, "amount": amount, "unit": unit, "reminder_lead_hours": lead,
         "escalation_delay_hours": esc, "escalation_target": target, "team": team,
         "description": description, "version": 1, "updated_at": datetime(2026, 12, 3, tzinfo=UTC)}
    ])


def downgrade() -> None:
    op.execute("DELETE FROM deadline WHERE kind = 'action_due'")
    op.execute("DELETE FROM deadline_fact WHERE kind = 'action_due'")
    op.execute("DELETE FROM deadline_rule WHERE kind = 'action_due'")
    drop_updated_at("delivery")
    drop_updated_at("subscription")
    drop_updated_at("deadline")
