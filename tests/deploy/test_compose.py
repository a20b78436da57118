"""docker-compose.yml against devtools.stack: the same processes, ports, commands and settings.

No container engine runs here, so the file is parsed and cross-checked instead of started;
`docker compose config` is used too when the compose plugin is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from devtools.stack import PROCESSES, SERVICES, Process, service_client_id

from .helpers import (
    COMPOSE_FILE,
    MIGRATE_SCRIPT,
    PORTS,
    POSTGRES_INIT,
    ROOT,
    WITH_DATABASE,
    MissingVariable,
    check_command,
    check_env_names,
    db_name,
    expected_env,
    interpolate,
    load_compose,
    same_value,
    service_dir_rel,
    settings_class,
)

# What an operator would put in .env (see deploy/compose.env.example).
DOTENV = {
    "EH_POSTGRES_PASSWORD": "pg-pw-4f9b2c",
    "EH_SERVICE_CLIENT_SECRET_REFERRALS": "s3cr3t-referrals-value",
    "EH_SERVICE_CLIENT_SECRET_ASSESSMENTS": "s3cr3t-assessments-value",
    "EH_SERVICE_CLIENT_SECRET_CONSENT": "s3cr3t-consent-value",
    "EH_SERVICE_CLIENT_SECRET_NOTIFICATIONS": "s3cr3t-notifications-value",
    "EH_WEBHOOK_SECRET_KEY": "webhook-key-7d1e0a",
    "EH_SMTP_HOST": "smtp.example.gov.uk",
    "EH_MAIL_FROM": "early-help@example.gov.uk",
}
PG_BASE = f"postgresql+asyncpg://eh:{DOTENV['EH_POSTGRES_PASSWORD']}@postgres:5432"
NAMES = [p.name for p in PROCESSES]


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_of(service: dict, dotenv: dict[str, str] = DOTENV) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment must be a mapping"
    return {k: interpolate(str(v), dotenv) for k, v in env.items()}


def container_ports(service: dict) -> set[int]:
    found = {int(str(p)) for p in service.get("expose", [])}
    for mapping in service.get("ports", []):
        found.add(int(str(mapping).rsplit(":", 1)[-1].split("/")[0]))
    return found


def test_every_process_is_a_service_and_nothing_else(services):
    assert set(services) == {*NAMES, "postgres", "migrate", "gateway-setup"}


@pytest.mark.parametrize("name", NAMES)
def test_command_and_port(services, name):
    proc: Process = next(p for p in PROCESSES if p.name == name)
    svc = services[name]
    check_command(proc, svc["command"])
    assert proc.port in container_ports(svc), f"{name}: port {proc.port} not exposed"
    if name == "gateway":
        assert svc.get("ports"), "the gateway is the one process published on the host"
    else:
        assert not svc.get("ports"), f"{name}: services are reached through the gateway only"


@pytest.mark.parametrize("name", NAMES)
def test_environment_matches_process_env(services, name):
    proc = next(p for p in PROCESSES if p.name == name)
    actual = env_of(services[name])
    expected = expected_env(proc, pg_base=PG_BASE)
    check_env_names(proc, set(actual), "docker-compose.yml")
    p = proc.env_prefix
    # Values that differ on purpose: real secrets, production, the issuer may be a public URL.
    assert actual[f"{p}ENVIRONMENT"] == "production"
    if f"{p}SERVICE_CLIENT_SECRET" in actual:
        svc = name.replace("-worker", "").upper()
        assert actual[f"{p}SERVICE_CLIENT_SECRET"] == DOTENV[f"EH_SERVICE_CLIENT_SECRET_{svc}"]
    differ = {f"{p}SERVICE_CLIENT_SECRET", f"{p}ENVIRONMENT"}
    for key, value in expected.items():
        if key not in differ:
            assert same_value(key, actual[key], value), f"{name}: {key}={actual[key]!r}, expected {value!r}"


@pytest.mark.parametrize("name", NAMES)
def test_secrets_have_no_defaults(services, name):
    """Without the secrets in .env, compose refuses to start rather than run with a default."""
    env = services[name]["environment"]
    secret_keys = [k for k in env if k.endswith(("_SECRET", "_DATABASE_URL"))]
    assert secret_keys
    for key in secret_keys:
        with pytest.raises(MissingVariable):
            interpolate(str(env[key]), {})


@pytest.mark.parametrize("name", NAMES)
def test_healthcheck_and_dependencies(services, name):
    svc = services[name]
    proc = next(p for p in PROCESSES if p.name == name)
    test = " ".join(svc["healthcheck"]["test"])
    assert f"http://127.0.0.1:{proc.port}/healthz" in test
    deps = svc["depends_on"]
    assert deps["postgres"]["condition"] == "service_healthy"
    assert deps["migrate"]["condition"] == "service_completed_successfully"
    if name != "gateway":
        assert deps["gateway"]["condition"] == "service_healthy"
    else:
        assert set(deps) == {"postgres", "migrate"}, "the gateway must not wait for services (cycle)"


def test_worker_runs_as_several_replicas(services):
    for proc in (p for p in PROCESSES if p.kind == "worker"):
        assert services[proc.name].get("deploy", {}).get("replicas", 1) >= 2


@pytest.mark.parametrize("name", NAMES)
def test_background_processes_yield_the_cpu_to_the_others(services, name):
    proc = next(p for p in PROCESSES if p.name == name)
    shares = services[name].get("cpu_shares")
    if proc.background:
        assert shares is not None and 2 <= shares < 1024, "background work gets a lower CPU weight"
    else:
        assert shares is None, "request-serving processes keep the default weight"


@pytest.mark.parametrize("name", NAMES)
def test_hardening(services, name):
    svc = services[name]
    assert svc.get("read_only") is True
    assert "ALL" in svc.get("cap_drop", [])
    assert "no-new-privileges:true" in svc.get("security_opt", [])


def test_migrate_is_one_shot_and_covers_every_database(services):
    migrate = services["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["command"] == ["eh-migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    env = env_of(migrate)
    for proc in WITH_DATABASE:
        key = f"{proc.env_prefix}DATABASE_URL"
        assert env[key] == f"{PG_BASE}/{db_name(proc)}", key
    assert set(env) == {f"{p.env_prefix}DATABASE_URL" for p in WITH_DATABASE}, "database URLs only"
    # The script migrates exactly the processes that have a database, gateway included.
    dirs = re.search(r"^for service_dir in (.+); do$", MIGRATE_SCRIPT.read_text(), re.M)
    assert dirs, "migrate.sh: loop over service dirs not found"
    assert dirs.group(1).split() == [service_dir_rel(p) for p in WITH_DATABASE]
    assert "set -eu" in MIGRATE_SCRIPT.read_text()


def test_no_seeding_outside_dev(services):
    """Nothing seeds on `up`; the service clients come from an explicit, profile-gated command."""
    text = COMPOSE_FILE.read_text().lower()
    assert "seed-demo\n" not in text and "seed_demo" not in text and "demo-" not in text
    for name, svc in services.items():
        if "seed" in str(svc.get("command", "")):
            assert name == "gateway-setup" and svc.get("profiles") == ["setup"], name


def test_gateway_setup_creates_the_service_clients_with_the_services_secrets(services):
    setup = services["gateway-setup"]
    assert setup["image"] == services["gateway"]["image"]
    assert "python -m gateway.cli seed-service-clients" in setup["command"][-1]
    env = env_of(setup)
    assert env["EH_GATEWAY_DATABASE_URL"] == env_of(services["gateway"])["EH_GATEWAY_DATABASE_URL"]
    for name in SERVICES:
        proc = SERVICES[name]
        # gateway.cli reads EH_GATEWAY_SVC_<NAME>_SECRET; the service presents its own copy.
        assert (
            env[f"EH_GATEWAY_SVC_{name.upper()}_SECRET"]
            == env_of(services[name])[f"{proc.env_prefix}SERVICE_CLIENT_SECRET"]
        )
        assert env_of(services[name])[f"{proc.env_prefix}SERVICE_CLIENT_ID"] == service_client_id(name)


def test_postgres_creates_one_database_per_service(services):
    pg = services["postgres"]
    assert pg["image"] == "postgres:15"
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    mounts = [str(v) for v in pg["volumes"]]
    assert any(m.startswith("./deploy/postgres-init.sql:/docker-entrypoint-initdb.d/") for m in mounts)
    created = re.findall(r"^CREATE DATABASE (\w+);", POSTGRES_INIT.read_text(), re.M)
    assert sorted(created) == sorted(db_name(p) for p in WITH_DATABASE)
    with pytest.raises(MissingVariable):
        interpolate(pg["environment"]["POSTGRES_PASSWORD"], {})


def test_compose_ports_are_the_stack_ports(services):
    for name, port in PORTS.items():
        assert port in container_ports(services[name])


@pytest.mark.parametrize("proc", [p for p in PROCESSES], ids=NAMES)
def test_the_process_settings_accept_the_compose_environment(services, proc, monkeypatch):
    """The process's own Settings class parses the environment (JSON maps, ports) in production."""
    settings_cls = settings_class(proc)
    if settings_cls is None:
        pytest.skip(f"{proc.name}: config module not written yet")
    for key in [k for k in os.environ if k.startswith(proc.env_prefix)]:
        monkeypatch.delenv(key)
    for key, value in env_of(services[proc.name]).items():
        monkeypatch.setenv(key, value)
    settings = settings_cls()
    assert settings.environment == "production"
    assert settings.port == proc.port
    assert settings.database_url == f"{PG_BASE}/{db_name(proc)}"


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy and subprocess.run([legacy, "version"], capture_output=True).returncode == 0:
        return [legacy]
    return None


def test_docker_compose_config_accepts_the_file():
    cli = _compose_cli()
    if cli is None:
        pytest.skip(
            "`docker compose config` needs the compose plugin, which is not installed here "
            "(the docker client has no `compose` subcommand and there is no docker-compose binary)"
        )
    env = {**os.environ, **DOTENV}
    run = subprocess.run(
        [*cli, "-f", str(COMPOSE_FILE), "config", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
