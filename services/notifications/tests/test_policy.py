"""docs/notifications.md "Who may do what" is services/notifications/policy.py's RULES table (issue 18)."""

from __future__ import annotations

from pathlib import Path

from services.notifications import policy


def test_docs_show_the_policy_table():
    docs = Path(__file__).resolve().parents[3] / "docs" / "notifications.md"
    assert policy.rules_markdown() in docs.read_text(), (
        "docs/notifications.md 'Who may do what' is out of date"
    )
