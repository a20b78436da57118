"""Every service has the same files with the same meaning (CONTRIBUTING.md "Service shape"):
its router reaches the data through the service and policy modules, never a repository, and
its main.py is an app factory, with no handlers, jobs or rules of its own."""

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


def _settings_call(value: ast.expr) -> bool:
    """`get_settings()`, `Settings(...)`: reading the configuration is a main.py's business."""
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return "settings" in name.lower()


def _constant(value: ast.expr | None) -> bool:
    if value is None or _settings_call(value):
        return True
    try:
        ast.literal_eval(value)
    except ValueError:
        return False
    return True


def _type_checking_imports(node: ast.If) -> bool:
    test = node.test
    named = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
    return named == "TYPE_CHECKING" and not node.orelse and all(_is_import(n) for n in node.body)


def _is_import(node: ast.stmt) -> bool:
    return isinstance(node, ast.Import | ast.ImportFrom)


def app_factory_problems(source: str) -> list[str]:
    """What in a main.py is more than an app factory: module level holds only a docstring,
    imports, constant or settings assignments and function definitions, one of them
    `create_app` (event handlers go in handlers.py, jobs in jobs.py, rules in the rule modules)."""
    tree = ast.parse(source)
    problems: list[str] = []
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if _is_import(node) or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(node, ast.If) and _type_checking_imports(node):
            continue
        if isinstance(node, ast.Assign | ast.AnnAssign) and _constant(node.value):
            continue
        problems.append(f"line {node.lineno}: {ast.unparse(node).splitlines()[0]}")
    factories = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "create_app"]
    if not factories:
        problems.append("no create_app() function builds the app")
    return problems


@pytest.mark.parametrize("name", SERVICES)
def test_main_is_an_app_factory_only(name: str) -> None:
    main = SERVICES_DIR / name / "main.py"
    problems = app_factory_problems(main.read_text())
    assert not problems, f"services/{name}/main.py is more than an app factory: {problems}"


def test_the_app_factory_check_refuses_logic_at_module_level() -> None:
    fine = (
        '"""The x service process."""\n'
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from x import Y\n"
        "TITLE = 'x'\n"
        "LIMITS: tuple[int, ...] = (1, 2)\n"
        "settings = get_settings()\n"
        "def create_app(settings=None):\n"
        "    return FastAPI()\n"
        "async def lifespan(app):\n"
        "    yield\n"
    )
    assert app_factory_problems(fine) == []
    assert app_factory_problems("app = FastAPI()\n") == [
        "line 1: app = FastAPI()",
        "no create_app() function builds the app",
    ]
    logic = (
        "def create_app():\n"
        "    return FastAPI()\n"
        "app = create_app()\n"
        "HANDLERS = {'episode.opened': on_opened}\n"
        "class Handlers:\n"
        "    pass\n"
        "runtime.jobs.append(deliver)\n"
    )
    assert [p.split(":")[0] for p in app_factory_problems(logic)] == ["line 3", "line 4", "line 5", "line 7"]
