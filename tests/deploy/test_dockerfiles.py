"""The one Dockerfile every image is built from, checked as each image it builds.

docker-compose.yml builds every image from the root Dockerfile with a build argument
`COMPONENT`. No container engine runs here, so the file is resolved the way BuildKit would for
each component: the global ARGs are substituted, the final stage is followed back through the
stages it is built `FROM` and copies `--from`, and the image that results is checked:
multi-stage, pinned dependencies, the same base, a numeric non-root user, its own healthcheck,
command, port and settings, every first-party module its code imports - and no other
process's code.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from dataclasses import dataclass
from functools import cache

import pytest

from devtools.stack import PROCESSES, Process

from .helpers import DATA_DIR, ROOT, WITH_DATABASE, check_command, load_compose, service_dir_rel

DOCKERFILE = ROOT / "Dockerfile"
FIRST_PARTY = {"shared", "gateway", "services", "devtools"}
API = [p for p in PROCESSES if p.kind == "api"]
# What COMPONENT names: each API process's image (the worker runs its API process's image) and
# the migration step.
COMPONENTS = [p.name for p in API] + ["migrate"]


def _built() -> dict[str, dict]:
    """compose service -> its `build` (services that only run an image are left out)."""
    out = {}
    for name, svc in load_compose()["services"].items():
        build = svc.get("build")
        if build:
            assert build["context"] == ".", f"{name}: build from the repository root"
            assert isinstance(build.get("args", {}), dict), f"{name}: build args as a mapping"
            out[name] = build
    return out


BUILT = _built()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^\s*(\w+)\s+(.*)$", joined, re.M)]


@dataclass(frozen=True)
class Stage:
    name: str | None
    base: str  # the FROM argument, build arguments substituted: an image or an earlier stage
    body: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Image:
    """What `docker build --build-arg COMPONENT=<component>` makes of the Dockerfile."""

    component: str
    args: tuple[tuple[str, str], ...]  # the global ARGs, COMPONENT set
    stages: tuple[Stage, ...]

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def chain(self, stage: Stage) -> list[Stage]:
        """`stage` and the stages it is built FROM, the first one on an image."""
        out = [stage]
        while (parent := self.stage(out[0].base)) is not None:
            assert parent not in out, f"FROM cycle at {parent.name}"
            out.insert(0, parent)
        return out

    @property
    def final(self) -> list[Stage]:
        return self.chain(self.stages[-1])

    @property
    def base_image(self) -> str:
        return self.final[0].base

    @property
    def runtime(self) -> list[tuple[str, str]]:
        """The instructions that make the image itself (not the stages it copies from)."""
        return [ins for s in self.final for ins in s.body]

    def sources(self, stage: Stage | None = None) -> list[Stage]:
        """Every stage whose files reach `stage` (default: the image): its chain and, through
        `COPY --from=<stage>`, theirs."""
        out: list[Stage] = []
        for s in self.chain(stage or self.stages[-1]):
            out.append(s)
            for ins, arg in s.body:
                m = re.search(r"--from=(\S+)", arg)
                if ins == "COPY" and m:
                    src = self.stage(m.group(1))
                    assert src is not None, f"COPY --from={m.group(1)}: no such stage"
                    out += [x for x in self.sources(src) if x not in out]
        return out

    def context_copies(self) -> list[str]:
        """Repository paths taken from the build context into the image, directly or through
        the stages it copies from."""
        out = []
        for s in self.sources():
            for ins, arg in s.body:
                if ins != "COPY" or "--from=" in arg:
                    continue
                parts = [a for a in arg.split() if not a.startswith("--")]
                out += [p.rstrip("/") for p in parts[:-1]]
        return out

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for ins, arg in self.runtime:
            if ins == "ENV":
                for item in shlex.split(arg):
                    key, sep, value = item.partition("=")
                    assert sep, f"ENV {arg}: key=value form expected"
                    out[key] = value
        return out

    def last(self, instruction: str) -> str | None:
        found = [arg for ins, arg in self.runtime if ins == instruction]
        return found[-1] if found else None


def _substitute(word: str, args: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        assert name in args, f"${name}: not a global ARG of the Dockerfile"
        return args[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, word)


@cache
def resolve(component: str) -> Image:
    ins = instructions(DOCKERFILE.read_text())
    args: dict[str, str] = {}
    while ins and ins[0][0] == "ARG":
        name, _, default = ins.pop(0)[1].partition("=")
        args[name] = default
    assert "COMPONENT" in args, "the Dockerfile takes ARG COMPONENT before its first FROM"
    args["COMPONENT"] = component
    assert ins and ins[0][0] == "FROM"
    stages: list[Stage] = []
    name: str | None = None
    base = ""
    body: list[tuple[str, str]] = []
    for i, arg in ins:
        if i == "FROM":
            if base:
                stages.append(Stage(name, base, tuple(body)))
            words = arg.split()
            assert not words[0].startswith("--"), f"FROM {arg}: no flags expected"
            base = _substitute(words[0], args)
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            assert len(words) in (1, 3), f"FROM {arg}"
            body = []
        else:
            body.append((i, arg))
    stages.append(Stage(name, base, tuple(body)))
    names = [s.name for s in stages if s.name]
    assert len(names) == len(set(names)), f"duplicate stage names: {names}"
    return Image(component, tuple(args.items()), tuple(stages))


def test_every_process_is_built_from_the_one_dockerfile():
    assert DOCKERFILE.is_file()
    for name, build in BUILT.items():
        assert build["dockerfile"] == "Dockerfile", f"{name}: build the root Dockerfile"
        assert set(build.get("args", {})) == {"COMPONENT"}, f"{name}: COMPONENT is the one build argument"
    services = load_compose()["services"]
    for proc in API:
        assert BUILT[proc.name]["args"]["COMPONENT"] == proc.name
    # The worker has no image of its own: the one of the process it works for, another command.
    for worker in (p for p in PROCESSES if p.kind == "worker"):
        api = worker.name.removesuffix("-worker")
        assert BUILT[worker.name] == BUILT[api]
        assert services[worker.name]["image"] == services[api]["image"]
    assert BUILT["migrate"]["args"]["COMPONENT"] == "migrate"
    assert sorted(b["args"]["COMPONENT"] for b in BUILT.values()) == sorted(
        [p.name for p in PROCESSES if p.kind == "api"]
        + [w.name.removesuffix("-worker") for w in PROCESSES if w.kind == "worker"]
        + ["migrate"]
    )
    # No per-process Dockerfile is left to drift from the one that is built.
    leftovers = [
        p.relative_to(ROOT).as_posix()
        for d in (ROOT / "gateway", ROOT / "services", ROOT / "deploy")
        for p in d.rglob("Dockerfile*")
    ]
    assert not leftovers, leftovers


def test_every_component_and_only_those_has_its_stages():
    image = resolve("gateway")
    names = {s.name for s in image.stages if s.name}
    assert {n.removeprefix("app-") for n in names if n.startswith("app-")} == set(COMPONENTS)
    assert {n.removeprefix("code-") for n in names if n.startswith("code-")} == set(COMPONENTS)
    assert image.stages[-1].base == "app-gateway", "COMPONENT defaults to the gateway"


def test_the_resolution_is_not_vacuous():
    assert resolve("referrals").last("CMD") != resolve("gateway").last("CMD")
    unknown = resolve("nope")
    assert unknown.stage(unknown.stages[-1].base) is None, "an unknown component has no stage"
    assert unknown.base_image == "app-nope"


@pytest.mark.parametrize("component", COMPONENTS)
def test_multi_stage_pinned_non_root(component):
    image = resolve(component)
    python_image = dict(image.args)["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.\d+-slim-\w+", python_image), python_image
    assert image.base_image == python_image, "every image on the same slim Python base"
    builders = [s for s in image.sources() if s not in image.final]
    assert builders, "multi-stage build expected: the image copies from a build stage"
    assert all(image.chain(s)[0].base == python_image for s in builders)
    build = [ins for s in builders for ins in s.body]
    assert ("COPY", "requirements.lock /tmp/requirements.lock") in build, "copies requirements.lock"
    assert any(
        ins == "RUN" and re.search(r"pip install .*-r \S*requirements\.lock", arg) for ins, arg in build
    )
    assert any(ins == "RUN" and "compileall" in arg for ins, arg in build), "compiled at build time"
    user = image.last("USER")
    assert user, "the final stage must switch to a non-root USER"
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"numeric non-root uid expected (runAsNonRoot), got {user}"
    assert not any(ins == "RUN" and "pip install" in arg for ins, arg in image.runtime), "no pip at run time"
    assert not any("pip" in arg for ins, arg in image.runtime if ins == "RUN")


@pytest.mark.parametrize("proc", API, ids=lambda p: p.name)
def test_healthcheck_default_command_port_and_settings(proc: Process):
    image = resolve(proc.name)
    health = [arg for ins, arg in image.runtime if ins == "HEALTHCHECK"]
    assert len(health) == 1 and f"http://127.0.0.1:{proc.port}/healthz" in health[0]
    cmd = [arg for ins, arg in image.runtime if ins == "CMD"]
    assert len(cmd) == 1
    command = json.loads(cmd[0])
    check_command(proc, command)
    # uvicorn's access log prints query strings, which can hold names and NHS numbers.
    assert "--no-access-log" in command
    assert [arg.split() for ins, arg in image.runtime if ins == "EXPOSE"] == [[str(proc.port)]]
    env = image.env()
    p = proc.env_prefix
    assert env[f"{p}HOST"] == "0.0.0.0"
    assert env[f"{p}PORT"] == str(proc.port)
    assert env[f"{p}DATA_DIR"] == DATA_DIR.as_posix()
    others = {k for k in env if k.startswith("EH_") and not k.startswith(p)}
    assert not others, f"{proc.name}: another process's settings: {sorted(others)}"


def test_the_migration_image_runs_the_migration_script():
    image = resolve("migrate")
    assert json.loads(image.last("CMD") or "null") == ["eh-migrate"]
    assert ("COPY", "--chmod=0755 deploy/docker/migrate.sh /usr/local/bin/eh-migrate") in image.runtime
    assert not [ins for ins, _ in image.runtime if ins in ("HEALTHCHECK", "EXPOSE")], "a one-shot step"
    assert not [k for k in image.env() if k.startswith("EH_")], "database URLs come from the deployment"


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


def _code_dirs(component: str) -> list[str]:
    copied = [c for c in resolve(component).context_copies() if c != "requirements.lock"]
    for c in copied:
        assert (ROOT / c).exists(), f"COPY {c}: no such path"
    return [c for c in copied if c.split("/")[0] in FIRST_PARTY]


@pytest.mark.parametrize("component", COMPONENTS)
def test_image_holds_every_first_party_module_it_imports(component):
    code_dirs = _code_dirs(component)
    missing = []
    for mod in sorted(_first_party_imports(code_dirs)):
        rel = mod.replace(".", "/")
        if "/" not in rel:
            ok = rel in code_dirs or f"{rel}/__init__.py" in code_dirs
        else:
            ok = any(rel == c or rel.startswith(c + "/") or f"{rel}.py" == c for c in code_dirs)
        if not ok:
            missing.append(mod)
    assert not missing, f"{component}: imported but not copied into the image: {missing}"


@pytest.mark.parametrize("component", COMPONENTS)
def test_image_holds_its_own_code_and_no_other_process(component):
    """The shared library and the component's own package; the migration step every process
    that owns a database (each Alembic env.py imports its models)."""
    owners = WITH_DATABASE if component == "migrate" else [p for p in API if p.name == component]
    expected = {"shared"}
    for proc in owners:
        package = service_dir_rel(proc)
        expected.add(package)
        if package.startswith("services/"):
            expected.add("services/__init__.py")
    code_dirs = _code_dirs(component)
    assert len(code_dirs) == len(set(code_dirs)), f"{component}: copied twice: {code_dirs}"
    assert set(code_dirs) == expected


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".env", "data"):
        assert entry in ignored
