"""What the deployment checks share: the files, the process list, and the expected settings.

The expected settings come from `devtools.stack.process_env`, the same function `make run`
uses, with the host names replaced by each process's container/Service name. The deploy files
must then carry the same variable names, and the same values wherever a value is structural
(ports, URLs, upstreams, event subscribers, service client ids).
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from devtools.stack import PROCESSES, ROOT, Process, process_env

COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "deploy" / "k8s"
MIGRATE_SCRIPT = ROOT / "deploy" / "docker" / "migrate.sh"
POSTGRES_INIT = ROOT / "deploy" / "postgres-init.sql"
DATA_DIR = Path("/var/lib/early-help")

PORTS = {p.name: p.port for p in PROCESSES}
BY_NAME = {p.name: p for p in PROCESSES}
API_PROCESSES = [p for p in PROCESSES if p.kind == "api"]
WORKERS = [p for p in PROCESSES if p.kind == "worker"]
WITH_DATABASE = [p for p in PROCESSES if p.service_dir is not None and p.kind != "worker"]
_PLACEHOLDER_HOST = "stack-host.invalid"


def service_dir_rel(proc: Process) -> str:
    assert proc.service_dir is not None
    return proc.service_dir.relative_to(ROOT).as_posix()


def db_name(proc: Process) -> str:
    """Name of the process's PostgreSQL database, as devtools.stack names it."""
    return process_env(proc, ports=PORTS, data_dir=DATA_DIR, pg_base="postgresql://h")[
        f"{proc.env_prefix}DATABASE_URL"
    ].rsplit("/", 1)[1]


def expected_env(proc: Process, *, pg_base: str) -> dict[str, str]:
    """`process_env` for `proc`, with each peer reached by its own host name (`http://referrals:8001`)."""
    env = process_env(
        proc,
        ports=PORTS,
        data_dir=DATA_DIR,
        environment="production",
        pg_base=pg_base,
        host=_PLACEHOLDER_HOST,
    )
    by_port = {port: name for name, port in PORTS.items()}

    def rehost(value: str) -> str:
        return re.sub(
            rf"http://{re.escape(_PLACEHOLDER_HOST)}:(\d+)",
            lambda m: f"http://{by_port[int(m.group(1))]}:{m.group(1)}",
            value,
        )

    out = {k: rehost(v) for k, v in env.items()}
    out[f"{proc.env_prefix}HOST"] = "0.0.0.0"
    return out


def same_value(key: str, actual: str, expected: str) -> bool:
    """Equal, comparing JSON-valued settings (upstreams, event subscribers) as data."""
    if key.endswith(("_UPSTREAMS", "_EVENT_SUBSCRIBERS")):
        return json.loads(actual) == json.loads(expected)
    return actual == expected


def api_command(proc: Process) -> list[str]:
    return ["uvicorn", "--factory", proc.app, "--host", "0.0.0.0", "--port", str(proc.port)]


def check_command(proc: Process, command: list[str]) -> None:
    """The launch command of `proc`: uvicorn on its factory and port, or `python -m` for a worker."""
    assert isinstance(command, list), f"{proc.name}: command must be a list (exec form), got {command!r}"
    if proc.kind == "worker":
        assert command[:3] == ["python", "-m", proc.app], f"{proc.name}: {command}"
        return
    assert command[:3] == ["uvicorn", "--factory", proc.app], f"{proc.name}: {command}"
    opts = dict(zip(command[3::2], command[4::2], strict=False))
    assert opts.get("--host") == "0.0.0.0", f"{proc.name}: must listen on all interfaces: {command}"
    assert opts.get("--port") == str(proc.port), f"{proc.name}: port {proc.port} expected: {command}"


class MissingVariable(LookupError):
    pass


_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose-style variable substitution: `$$`, `${X}`, `${X:-default}`, `${X-d}`, `${X:?err}`, `${X?err}`."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group("name"), m.group("op"), m.group("arg")
        present = name in env
        set_nonempty = present and env[name] != ""
        if op is None:
            return env.get(name, "")
        if op in (":-", "-"):
            ok = set_nonempty if op == ":-" else present
            return env[name] if ok else arg
        ok = set_nonempty if op == ":?" else present
        if not ok:
            raise MissingVariable(f"{name}: {arg}")
        return env[name]

    return _VAR.sub(sub, value)


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def load_k8s() -> dict[Path, list[dict[str, Any]]]:
    """Every manifest file of deploy/k8s (kustomization.yaml aside) and its documents."""
    docs = {}
    for path in sorted(K8S_DIR.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs[path] = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return docs


def settings_class(proc: Process) -> type | None:
    """The process's pydantic-settings class (`<package>.config.Settings`), if written yet."""
    package = proc.app.split(":")[0].rsplit(".", 1)[0]
    try:
        return importlib.import_module(f"{package}.config").Settings
    except ModuleNotFoundError:
        return None


def check_env_names(proc: Process, names: set[str], where: str) -> None:
    """`names` holds every `process_env` variable; any other is a real setting of the process;
    every secret setting whose default is a development value is given."""
    expected = set(process_env(proc, ports=PORTS, data_dir=DATA_DIR))
    missing = expected - names
    assert not missing, f"{where}: {proc.name}: missing {sorted(missing)}"
    cls = settings_class(proc)
    extra = names - expected
    if cls is None:
        assert not extra, f"{where}: {proc.name}: {sorted(extra)} not in process_env (no Settings to check)"
        return
    fields = {f"{proc.env_prefix}{n.upper()}": f for n, f in cls.model_fields.items()}
    unknown = extra - set(fields)
    assert not unknown, f"{where}: {proc.name}: {sorted(unknown)} are not settings of {cls.__module__}"
    for var, field in fields.items():
        if "SECRET" in var and isinstance(field.default, str) and field.default:
            assert var in names, f"{where}: {proc.name}: {var} has a dev default and must be set"
