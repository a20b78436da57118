"""A throwaway PostgreSQL server for the test run (and benchmarks).

PostgreSQL refuses to run as root, so when we are root the cluster is created and started
as the `postgres` user (with runuser). The data directory lives in a temporary folder and is
deleted on stop. Usage:

    python -m devtools.pg start   # prints the base URL (postgresql+asyncpg://postgres@127.0.0.1:PORT)
    python -m devtools.pg stop DIR
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise SystemExit(f"PostgreSQL binary {name} not found (install postgresql)")
    return candidates[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def start(port: int | None = None) -> tuple[str, Path]:
    port = port or free_port()
    root = Path(tempfile.mkdtemp(prefix="eh-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    subprocess.run(
        _as_postgres(
            [_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    subprocess.run(
        _as_postgres([_bin("pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            break
        time.sleep(0.2)
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}", root


def stop(root: Path) -> None:
    data = root / "data"
    if data.exists():
        subprocess.run(
            _as_postgres([_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def running() -> Iterator[str]:
    url, root = start()
    try:
        yield url
    finally:
        stop(root)


def create_databases(base_url: str, names: list[str]) -> None:
    import asyncio

    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(base_url.replace("postgresql+asyncpg", "postgresql") + "/postgres")
        try:
            for n in names:
                exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname=$1", n)
                if not exists:
                    await conn.execute(f'CREATE DATABASE "{n}"')
        finally:
            await conn.close()

    asyncio.run(go())


if __name__ == "__main__":
    if sys.argv[1:2] == ["start"]:
        url, root = start()
        print(url)
        print(root)
    elif sys.argv[1:2] == ["stop"]:
        stop(Path(sys.argv[2]))
    else:
        raise SystemExit(__doc__)
