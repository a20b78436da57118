"""docs/consent.md "Who may do what" is services/consent/policy.py's RULES table (issue 18)."""

from __future__ import annotations

from pathlib import Path

from services.consent import policy


def test_docs_show_the_policy_table():
    docs = Path(__file__).resolve().parents[3] / "docs" / "consent.md"
    assert policy.rules_markdown() in docs.read_text(), "docs/consent.md 'Who may do what' is out of date"
