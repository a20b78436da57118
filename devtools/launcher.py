"""Start and stop the whole system as real processes (used by `make run`, the end-to-end
tests and the benchmarks).

Each process is started with its own environment from `devtools.stack.process_env`; its
output goes to a log file under the data folder. Processes are stopped by their pid: SIGTERM
first, SIGKILL after a grace period.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devtools.stack import (
    BACKGROUND_NICE,
    GATEWAY,
    PROCESSES,
    ROOT,
    SERVICES,
    Process,
    database_url,
    process_env,
)


def module_exists(proc: Process) -> bool:
    module = proc.app.split(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def command(proc: Process) -> list[str]:
    if proc.kind == "worker":
        return [sys.executable, "-m", proc.app]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        proc.app,
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "5",
    ]


def migrate_all(
    data_dir: Path, pg_base: str | None = None, *, quiet: bool = True, db_prefix: str = ""
) -> None:
    from shared.db import alembic_upgrade

    for proc in PROCESSES:
        if proc.service_dir is None or proc.kind == "worker":
            continue
        url = database_url(proc.name, data_dir, pg_base, db_prefix)
        if not quiet:
            print(f"  migrating {proc.name:<14} {url.split('@')[-1]}", flush=True)
        alembic_upgrade(proc.service_dir, url)


def lower_priority(pid: int, increment: int) -> None:
    """Make `pid` nicer than this process by `increment` (at most 19). Popen returns once the
    child has exec'd Python, long before uvicorn has imported anything or forked a worker, so
    its workers inherit the value. Only ever a rise: an unprivileged process may not give a
    child a higher priority than its own."""
    target = min(19, os.getpriority(os.PRIO_PROCESS, 0) + increment)
    try:
        os.setpriority(os.PRIO_PROCESS, pid, target)
    except ProcessLookupError:
        pass  # exited already; its log says why and wait_ready reports it


@dataclass
class Running:
    proc: Process
    popen: subprocess.Popen[bytes]
    port: int
    log: Path


@dataclass
class Stack:
    data_dir: Path
    ports: dict[str, int]
    pg_base: str | None = None
    environment: str = "dev"
    db_prefix: str = ""
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    # Web processes to run as several uvicorn workers on one port (name -> count): replicas on
    # one host, as the services are built to run (deploy/k8s runs at least two of each).
    workers: dict[str, int] = field(default_factory=dict)
    # Nice increment for the background processes (devtools.stack.Process.background); 0 runs
    # every process at the launcher's priority.
    background_nice: int = BACKGROUND_NICE
    running: dict[str, Running] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def env_for(self, proc: Process) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            process_env(
                proc,
                ports=self.ports,
                data_dir=self.data_dir,
                environment=self.environment,
                pg_base=self.pg_base,
                extra=self.extra_env.get(proc.name),
                db_prefix=self.db_prefix,
            )
        )
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        if proc is GATEWAY and self.environment == "dev":
            env.setdefault(f"{proc.env_prefix}SEED_DEMO", "true")
        return env

    def start(self, name: str) -> Running:
        proc = next(p for p in PROCESSES if p.name == name)
        port = self.ports[name]
        log = self.data_dir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [c.replace("{port}", str(port)) for c in command(proc)]
        if self.workers.get(name, 1) > 1:
            if proc.kind == "worker":
                raise ValueError(f"{name} is not a web process: it cannot run as several workers")
            cmd += ["--workers", str(self.workers[name])]
        handle = open(log, "ab")
        popen = subprocess.Popen(
            cmd,
            env=self.env_for(proc),
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if proc.background and self.background_nice > 0:
            lower_priority(popen.pid, self.background_nice)
        self.running[name] = Running(proc, popen, port, log)
        return self.running[name]

    def start_all(self, names: list[str] | None = None) -> list[str]:
        skipped = []
        # The gateway first: the services fetch its keys and their tokens from it.
        for proc in PROCESSES:
            if names is not None and proc.name not in names:
                continue
            if not module_exists(proc):
                skipped.append(proc.name)
                continue
            self.start(proc.name)
        return skipped

    def wait_ready(self, names: list[str] | None = None, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = [n for n in (names or list(self.running)) if n in self.running]
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name in list(pending):
                    r = self.running[name]
                    if r.popen.poll() is not None:
                        raise RuntimeError(
                            f"{name} exited with {r.popen.returncode}; see {r.log}\n{tail(r.log)}"
                        )
                    try:
                        if client.get(f"http://127.0.0.1:{r.port}/readyz").status_code == 200:
                            pending.remove(name)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise RuntimeError(f"not ready after {timeout}s: {pending}")
                if pending:
                    time.sleep(0.1)

    def stop(self, name: str, *, kill: bool = False, grace: float = 10.0) -> None:
        r = self.running.pop(name, None)
        if r is None or r.popen.poll() is not None:
            return
        if kill:
            _kill_group(r.popen)
        else:
            r.popen.send_signal(signal.SIGTERM)
        try:
            r.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _kill_group(r.popen)
            r.popen.wait(timeout=5)

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            self.stop(name)


def _kill_group(popen: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and everything in its process group (each process is started in
    a session of its own): a service run with several workers leaves none behind holding its
    port. A graceful stop signals only the process; uvicorn's supervisor stops its workers."""
    try:
        os.killpg(popen.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        popen.kill()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def wait_until(predicate, timeout: float = 10.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll an async predicate until it returns a truthy value (for eventual effects of events)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)


__all__ = ["SERVICES", "Stack", "migrate_all", "wait_until"]
