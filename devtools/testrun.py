"""`make test`: every check, with progress, once on SQLite and once on a throwaway PostgreSQL.

python -m devtools.testrun            # lint, the suite on SQLite and on PostgreSQL, side by side
python -m devtools.testrun --serial   # the same one after the other (unprefixed output)
python -m devtools.testrun --only sqlite|postgres|lint
python -m devtools.testrun -- -k gateway   # extra pytest arguments

The three steps run at the same time by default: each half spends much of its time waiting
(on its own stack's processes, on a database, on the fault tests' timeouts), so the two
halves side by side finish well before one after the other, even on two cores. Each line of
output is prefixed with its step's name; the summary lists each step's result and time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from devtools import pg
from devtools.browser import ensure_browser
from devtools.stack import ROOT

LINT = [
    ["ruff", "check", "."],
    ["ruff", "format", "--check", "."],
    ["lint-imports"],
    ["mypy", "shared", "gateway", "services", "devtools"],
]


def bin_path(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)


def step(title: str, cmd: list[str], env: dict[str, str] | None = None) -> bool:
    print(f"\n=== {title}: {' '.join(cmd)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, check=False)
    print(
        f"=== {title}: {'ok' if result.returncode == 0 else 'FAILED'} in {time.monotonic() - started:.0f}s",
        flush=True,
    )
    return result.returncode == 0


class Concurrent:
    """A step run beside the others: its output is streamed, each line prefixed by its name."""

    _print_lock = threading.Lock()

    def __init__(self, title: str, prefix: str, cmds: list[list[str]], env: dict[str, str] | None = None):
        self.title, self.prefix, self.cmds, self.env = title, prefix, cmds, env or {}
        self.ok = False
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._run, name=title, daemon=True)

    def say(self, line: str) -> None:
        with self._print_lock:
            print(f"[{self.prefix}] {line}", flush=True)

    def _run(self) -> None:
        started = time.monotonic()
        self.ok = True
        for cmd in self.cmds:
            self.say(f"=== {self.title}: {' '.join(cmd)}")
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                self.say(line.rstrip("\n"))
            if proc.wait() != 0:
                self.ok = False
                break  # as the serial lint: the first failing command ends the step
        self.seconds = time.monotonic() - started
        self.say(f"=== {self.title}: {'ok' if self.ok else 'FAILED'} in {self.seconds:.0f}s")

    def start(self) -> Concurrent:
        self.thread.start()
        return self

    def join(self) -> bool:
        self.thread.join()
        return self.ok


def run_concurrently(only: str | None, pytest_args: list[str]) -> dict[str, bool]:
    pytest = [sys.executable, "-m", "pytest", *pytest_args]
    steps: list[Concurrent] = []
    root: Path | None = None
    try:
        if only in (None, "postgres"):
            print("=== starting a throwaway PostgreSQL", flush=True)
            url, root = pg.start()
            print(f"=== PostgreSQL at {url.split('@')[-1]} (data in {root})", flush=True)
            steps.append(Concurrent("tests on PostgreSQL", "pg", [pytest], {"EH_TEST_PG_URL": url}).start())
        if only in (None, "sqlite"):
            steps.append(Concurrent("tests on SQLite", "sqlite", [pytest], {"EH_TEST_PG_URL": ""}).start())
        if only in (None, "lint"):
            lint = [[bin_path(c[0]), *c[1:]] for c in LINT]
            steps.append(Concurrent("lint", "lint", lint).start())
        done = {s.title: s.join() for s in steps}
    finally:
        if root is not None:
            pg.stop(root)
            print("=== PostgreSQL stopped and deleted", flush=True)
    order = ["lint", "tests on SQLite", "tests on PostgreSQL"]
    return {t: done[t] for t in order if t in done}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["lint", "sqlite", "postgres"])
    parser.add_argument("--serial", action="store_true", help="one step after the other, as before")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    started = time.monotonic()
    if args.only != "lint":
        ensure_browser()  # the dashboard's headless-browser test (devtools/browser.py)
    if args.serial:
        results = run_serially(args.only, args.pytest_args)
    else:
        results = run_concurrently(args.only, args.pytest_args)
    print(f"\nSummary ({time.monotonic() - started:.0f}s):")
    for name, ok in results.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(results.values()) else 1


def run_serially(only: str | None, pytest_args: list[str]) -> dict[str, bool]:
    results: dict[str, bool] = {}
    if only in (None, "lint"):
        results["lint"] = all(step("lint", [bin_path(c[0]), *c[1:]]) for c in LINT)
    pytest = [sys.executable, "-m", "pytest", *pytest_args]
    if only in (None, "sqlite"):
        results["tests on SQLite"] = step("tests on SQLite", pytest, {"EH_TEST_PG_URL": ""})
    if only in (None, "postgres"):
        print("\n=== starting a throwaway PostgreSQL", flush=True)
        url, root = pg.start()
        print(f"=== PostgreSQL at {url.split('@')[-1]} (data in {root})", flush=True)
        try:
            results["tests on PostgreSQL"] = step("tests on PostgreSQL", pytest, {"EH_TEST_PG_URL": url})
        finally:
            pg.stop(root)
            print("=== PostgreSQL stopped and deleted", flush=True)
    return results


if __name__ == "__main__":
    sys.exit(main())
