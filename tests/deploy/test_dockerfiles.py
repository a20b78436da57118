"""The Dockerfiles docker-compose.yml builds: multi-stage, pinned dependencies, non-root, healthy,
and holding every first-party module their code imports (nothing more than they need)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from devtools.stack import PROCESSES

from .helpers import ROOT, check_command, load_compose

FIRST_PARTY = {"shared", "gateway", "services", "devtools"}


def _built() -> dict[str, Path]:
    """compose service -> the Dockerfile it builds (services that only run an image are left out)."""
    out = {}
    for name, svc in load_compose()["services"].items():
        build = svc.get("build")
        if build:
            assert build["context"] == ".", f"{name}: build from the repository root"
            out[name] = ROOT / build["dockerfile"]
    return out


BUILT = _built()
DOCKERFILES = sorted(set(BUILT.values()))


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")),
    )
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^\s*(\w+)\s+(.*)$", joined, re.M)]


def stages(path: Path) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for ins in instructions(path):
        if ins[0] == "FROM":
            out.append([])
        if out:
            out[-1].append(ins)
    return out


def test_every_process_is_built_from_its_own_dockerfile():
    for proc in PROCESSES:
        assert proc.name in BUILT, f"{proc.name}: no build in docker-compose.yml"
    assert "migrate" in BUILT
    for name, path in BUILT.items():
        assert path.is_file(), f"{name}: {path} does not exist"
    # API processes each have their own file; the worker shares the notifications image.
    api = [BUILT[p.name] for p in PROCESSES if p.kind == "api"]
    assert len(set(api)) == len(api)
    for worker in (p for p in PROCESSES if p.kind == "worker"):
        assert BUILT[worker.name] == BUILT[worker.name.removesuffix("-worker")]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_multi_stage_pinned_non_root(path):
    st = stages(path)
    assert len(st) >= 2, "multi-stage build expected"
    text = path.read_text()
    assert re.search(r"^COPY requirements\.lock ", text, re.M), "copies requirements.lock"
    assert re.search(r"pip install .*-r \S*requirements\.lock", text), "installs the pinned lock"
    final = st[-1]
    users = [arg for ins, arg in final if ins == "USER"]
    assert users, "the final stage must switch to a non-root USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"numeric non-root uid expected (runAsNonRoot), got {users[-1]}"
    assert not any(ins == "RUN" and "pip install" in arg for ins, arg in final), "no pip in the runtime stage"


@pytest.mark.parametrize("name", [p.name for p in PROCESSES if p.kind == "api"])
def test_healthcheck_and_default_command(name):
    proc = next(p for p in PROCESSES if p.name == name)
    final = stages(BUILT[name])[-1]
    health = [arg for ins, arg in final if ins == "HEALTHCHECK"]
    assert health and f"http://127.0.0.1:{proc.port}/healthz" in health[-1]
    cmd = [arg for ins, arg in final if ins == "CMD"]
    check_command(proc, json.loads(cmd[-1]))
    assert any(ins == "EXPOSE" and str(proc.port) in arg.split() for ins, arg in final)


def _copied(path: Path) -> list[str]:
    """Repository paths the build context COPY instructions take (not --from=... copies)."""
    out = []
    for ins, arg in instructions(path):
        if ins != "COPY" or "--from=" in arg:
            continue
        parts = [a for a in arg.split() if not a.startswith("--")]
        out += [p.rstrip("/") for p in parts[:-1]]
    return out


def _first_party_imports(dirs: list[str]) -> set[str]:
    mods: set[str] = set()
    for d in dirs:
        root = ROOT / d
        files = [root] if root.is_file() else root.rglob("*.py")
        for f in files:
            if f.suffix != ".py" or "tests" in f.relative_to(ROOT).parts or f.name == "conftest.py":
                continue  # .dockerignore leaves tests out of the image
            for node in ast.walk(ast.parse(f.read_text(), str(f))):
                if isinstance(node, ast.Import):
                    mods |= {a.name for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods.add(node.module)
    return {m for m in mods if m.split(".")[0] in FIRST_PARTY}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_image_holds_every_first_party_module_it_imports(path):
    copied = [c for c in _copied(path) if c != "requirements.lock"]
    for c in copied:
        assert (ROOT / c).exists(), f"COPY {c}: no such path"
    code_dirs = [c for c in copied if c.split("/")[0] in FIRST_PARTY]
    missing = []
    for mod in sorted(_first_party_imports(code_dirs)):
        rel = mod.replace(".", "/")
        if "/" not in rel:
            ok = rel in code_dirs or f"{rel}/__init__.py" in code_dirs
        else:
            ok = any(rel == c or rel.startswith(c + "/") or f"{rel}.py" == c for c in code_dirs)
        if not ok:
            missing.append(mod)
    assert not missing, f"{path}: imported but not copied into the image: {missing}"


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".env", "data"):
        assert entry in ignored
