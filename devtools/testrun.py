"""`make test`: every check, with progress, once on SQLite and once on a throwaway PostgreSQL.

python -m devtools.testrun            # lint, then the suite on SQLite, then on PostgreSQL
python -m devtools.testrun --only sqlite|postgres|lint
python -m devtools.testrun -- -k gateway   # extra pytest arguments
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["lint", "sqlite", "postgres"])
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    results: dict[str, bool] = {}
    started = time.monotonic()
    if args.only in (None, "lint"):
        results["lint"] = all(step("lint", [bin_path(c[0]), *c[1:]]) for c in LINT)
    pytest = [sys.executable, "-m", "pytest", *args.pytest_args]
    if args.only != "lint":
        ensure_browser()  # the dashboard's headless-browser test (devtools/browser.py)
    if args.only in (None, "sqlite"):
        results["tests on SQLite"] = step("tests on SQLite", pytest, {"EH_TEST_PG_URL": ""})
    if args.only in (None, "postgres"):
        print("\n=== starting a throwaway PostgreSQL", flush=True)
        url, root = pg.start()
        print(f"=== PostgreSQL at {url.split('@')[-1]} (data in {root})", flush=True)
        try:
            results["tests on PostgreSQL"] = step("tests on PostgreSQL", pytest, {"EH_TEST_PG_URL": url})
        finally:
            pg.stop(root)
            print("=== PostgreSQL stopped and deleted", flush=True)
    print(f"\nSummary ({time.monotonic() - started:.0f}s):")
    for name, ok in results.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
