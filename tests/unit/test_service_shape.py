"""Every service has the same files with the same meaning (CONTRIBUTING.md "Service shape"),
and its router reaches the data through the service and policy modules, never a repository."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"
SERVICES = sorted(p.name for p in SERVICES_DIR.iterdir() if (p / "main.py").is_file())
MODULES = (
    "main.py",
    "config.py",
    "models.py",
    "schemas.py",
    "repository.py",
    "router.py",
    "policy.py",
    "handlers.py",
    "jobs.py",
    "errors.py",
)


def test_the_services_are_found() -> None:
    assert {"assessments", "consent", "notifications", "referrals"} <= set(SERVICES)


@pytest.mark.parametrize("name", SERVICES)
def test_service_has_every_file(name: str) -> None:
    package = SERVICES_DIR / name
    missing = [m for m in MODULES if not (package / m).is_file()]
    if not (package / "clients" / "__init__.py").is_file():
        missing.append("clients/")
    assert not missing, f"services/{name} lacks {', '.join(missing)}"


def _imported_modules(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


@pytest.mark.parametrize("name", SERVICES)
def test_router_does_not_import_a_repository(name: str) -> None:
    router = SERVICES_DIR / name / "router.py"
    tree = ast.parse(router.read_text(), filename=str(router))
    offending = sorted({m for m in _imported_modules(tree) if "repository" in m.split(".")})
    assert not offending, f"services/{name}/router.py imports {offending}: go through service/policy"


def test_the_repository_check_sees_both_import_forms() -> None:
    tree = ast.parse(
        "from services.x import repository as repo\n"
        "from services.x.deadlines.repository import rules\n"
        "import services.x.repository\n"
    )
    found = [m for m in _imported_modules(tree) if "repository" in m.split(".")]
    assert "services.x.repository" in found
    assert "services.x.deadlines.repository" in found
