"""The processes that make up the system, in one place.

`make run`, the end-to-end tests, the benchmarks and the checks on docker-compose.yml and
the Kubernetes manifests all read this list, so they cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Process:
    name: str  # process name, also the docker-compose service name
    app: str  # uvicorn app factory ("module:function") or a module to run with -m
    port: int
    env_prefix: str
    service_dir: Path | None = None  # where alembic.ini lives; None: no database of its own
    kind: str = "api"  # "api" (uvicorn) or "worker" (python -m)
    stateless: bool = True
    # Its work is asynchronous - events in; deadlines, alerts, emails and webhooks out - and no
    # request to the other processes waits for it (its own API, the feed and the deadlines, is
    # read by people, off the front door's path). Where the processes share a machine it runs
    # at a lower CPU priority (`BACKGROUND_NICE`; docker-compose.yml: a lower cpu_shares), so a
    # burst of requests is answered first and this work catches up in the gaps between bursts.
    background: bool = False


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    subscribes: tuple[str, ...] = field(default_factory=tuple)


GATEWAY = Process("gateway", "gateway.main:create_app", 8000, "EH_GATEWAY_", ROOT / "gateway")
SERVICES = {
    "referrals": Process(
        "referrals", "services.referrals.main:create_app", 8001, "EH_REFERRALS_", ROOT / "services/referrals"
    ),
    "assessments": Process(
        "assessments",
        "services.assessments.main:create_app",
        8002,
        "EH_ASSESSMENTS_",
        ROOT / "services/assessments",
    ),
    "consent": Process(
        "consent", "services.consent.main:create_app", 8003, "EH_CONSENT_", ROOT / "services/consent"
    ),
    "notifications": Process(
        "notifications",
        "services.notifications.main:create_app",
        8004,
        "EH_NOTIFICATIONS_",
        ROOT / "services/notifications",
        background=True,
    ),
}
WORKER = Process(
    "notifications-worker",
    "services.notifications.worker",
    8005,
    "EH_NOTIFICATIONS_",
    ROOT / "services/notifications",
    kind="worker",
    background=True,
)
PROCESSES = [GATEWAY, *SERVICES.values(), WORKER]

# How much lower a background process's CPU priority is than the launcher's own (a nice
# increment: 10 gives it about a tenth of the weight of a process at the launcher's level when
# both want the CPU; none when the CPU is free). docs/performance.md has what it changes.
BACKGROUND_NICE = 10

# Which events each service sends where: an event type, or a prefix ("referral.", "*" for
# all), -> receiving services. A receiver gets only what it acts on: every delivery costs a
# request on both sides, and assessments, for one, acts on no referral event but the decision.
EVENT_ROUTES: dict[str, dict[str, list[str]]] = {
    "referrals": {"referral.": ["notifications"], "referral.decided": ["assessments"]},
    "assessments": {
        "*": ["notifications"],
        "episode.opened": ["referrals"],
        "episode.closed": ["referrals"],
    },
    "consent": {"*": ["notifications"], "consent.withdrawn": ["assessments"]},
    "notifications": {},
}


DEV_SECRET = "{client_id}-secret"


def service_client_id(name: str) -> str:
    return f"svc-{name}"


def ports_for(base: int) -> dict[str, int]:
    """Ports for every process, starting at `base` (the gateway) in list order."""
    return {p.name: base + i for i, p in enumerate(PROCESSES)}


def database_url(name: str, data_dir: Path, pg_base: str | None = None, db_prefix: str = "") -> str:
    db = name.replace("-worker", "")
    if pg_base:
        return f"{pg_base.rstrip('/')}/{db_prefix}eh_{db}"
    return f"sqlite+aiosqlite:///{(data_dir / (db + '.db')).as_posix()}"


def process_env(
    proc: Process,
    *,
    ports: dict[str, int],
    data_dir: Path,
    environment: str = "dev",
    pg_base: str | None = None,
    host: str = "127.0.0.1",
    extra: dict[str, str] | None = None,
    db_prefix: str = "",
) -> dict[str, str]:
    gw = f"http://{host}:{ports['gateway']}"
    url = {n: f"http://{host}:{ports[n]}" for n in SERVICES}
    p = proc.env_prefix
    env = {
        f"{p}ENVIRONMENT": environment,
        f"{p}DATA_DIR": str(data_dir),
        f"{p}HOST": host,
        f"{p}PORT": str(ports[proc.name]),
        f"{p}GATEWAY_URL": gw,
        f"{p}GATEWAY_ISSUER": gw,
        f"{p}REFERRALS_URL": url["referrals"],
        f"{p}ASSESSMENTS_URL": url["assessments"],
        f"{p}CONSENT_URL": url["consent"],
        f"{p}NOTIFICATIONS_URL": url["notifications"],
        f"{p}DATABASE_URL": database_url(proc.name, data_dir, pg_base, db_prefix),
    }
    if proc is GATEWAY:
        env[f"{p}UPSTREAMS"] = json.dumps(url)
    else:
        svc = proc.name.replace("-worker", "")
        cid = service_client_id(svc)
        env[f"{p}SERVICE_CLIENT_ID"] = cid
        env[f"{p}SERVICE_CLIENT_SECRET"] = DEV_SECRET.format(client_id=cid)
        routes = EVENT_ROUTES.get(svc, {})
        env[f"{p}EVENT_SUBSCRIBERS"] = json.dumps(
            {prefix: [f"{url[t]}/internal/events" for t in targets] for prefix, targets in routes.items()}
        )
    if proc.kind == "worker":
        env[f"{p}WORKER_PORT"] = str(ports[proc.name])
    env.update(extra or {})
    return env
