"""episode.updated_at and assessment.updated_at: their last change, for `?updated_since=`

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Issue 20 item 4. Rows stored before this revision get the latest time they already keep
(an episode: opened, first contact, consent withdrawn, closed; an assessment: started,
submitted, returned, approved), so they read as they did.
"""

from collections.abc import Sequence

from shared.changes import add_updated_at, drop_updated_at

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_updated_at("episode", "opened_at", "first_contact_at", "consent_withdrawn_at", "closed_at")
    add_updated_at("assessment", "started_at", "submitted_at", "returned_at", "approved_at")


def downgrade() -> None:
    drop_updated_at("assessment")
    drop_updated_at("episode")
