"""docs/integrating.md runs as written (issue 23, item 5): its Python snippets, in order, against
the real stack through the gateway; and its table names every problem type the code has."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

from shared.problems import Problem

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "integrating.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def snippets() -> list[str]:
    return BLOCK.findall(DOC.read_text())


def test_the_guides_snippets_run_in_order_against_the_stack(stack):
    blocks = snippets()
    assert len(blocks) >= 8
    namespace: dict[str, object] = {"__name__": "integrating_doc"}
    for i, code in enumerate(blocks):
        if i == 0:  # the gateway the guide talks to is this stack's
            code = re.sub(r'GATEWAY = "[^"]*"', f'GATEWAY = "{stack.gateway_url}"', code)
        try:
            exec(compile(code, f"docs/integrating.md block {i + 1}", "exec"), namespace)
        except Exception as exc:  # name the block that failed
            raise AssertionError(f"docs/integrating.md python block {i + 1} failed: {exc!r}\n{code}") from exc


def _import_everything() -> None:
    for package in ("shared", "gateway", "services"):
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            if ".tests" in info.name or ".migrations" in info.name or info.name.endswith("__main__"):
                continue
            importlib.import_module(info.name)


def _problem_classes() -> dict[str, set[int]]:
    """Every Problem subclass's slug and status(es)."""
    _import_everything()
    found: dict[str, set[int]] = {}
    todo: list[type[Problem]] = [Problem]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.type_slug, set()).add(cls.status)
        todo += cls.__subclasses__()
    return found


def _problem_slugs() -> set[str]:
    slugs = set(_problem_classes())
    ad_hoc = re.compile(r'(?:PROBLEM_BASE \+ |type_slug=)"([a-z][a-z0-9-]+)"')
    for folder in ("shared", "gateway", "services"):
        for path in (ROOT / folder).rglob("*.py"):
            if "/tests/" not in str(path):
                slugs |= set(ad_hoc.findall(path.read_text()))
    return slugs


def test_every_problem_type_is_in_the_guides_table():
    table = DOC.read_text().split("## 6. Handle problems", 1)[1]
    listed = set(re.findall(r"`([a-z][a-z0-9-]+)`", table))
    missing = sorted(_problem_slugs() - listed)
    assert not missing, f"problem types missing from docs/integrating.md's table: {missing}"


def test_the_tables_statuses_are_the_codes():
    rows = DOC.read_text().split("## 6. Handle problems", 1)[1].splitlines()
    status_of: dict[str, int] = {}
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[1].isdigit():
            for slug in re.findall(r"`([a-z][a-z0-9-]+)`", cells[0]):
                status_of[slug] = int(cells[1])
    wrong = {
        slug: (status_of[slug], sorted(statuses))
        for slug, statuses in _problem_classes().items()
        if slug in status_of and status_of[slug] not in statuses
    }
    assert not wrong, f"docs/integrating.md gives these problem types the wrong status: {wrong}"
