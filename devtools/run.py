"""`make run`: migrate, seed the demo clients, start every process, stop them all on Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from devtools.launcher import Stack, migrate_all, tail
from devtools.stack import PROCESSES, ports_for


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("EH_DATA_DIR", "data"))
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("EH_PORT", "8000")),
        help="gateway port; the other processes take the next ports",
    )
    args = parser.parse_args()
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = ports_for(args.port)
    print(f"Early Help API (dev) - data in {data_dir}", flush=True)
    print("Migrating databases (SQLite):", flush=True)
    migrate_all(data_dir, quiet=False)
    stack = Stack(data_dir=data_dir, ports=ports)
    stopping = False

    def on_signal(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        print("Starting processes:", flush=True)
        skipped = stack.start_all()
        for p in PROCESSES:
            if p.name in stack.running:
                priority = (
                    f", nice +{stack.background_nice}" if p.background and stack.background_nice else ""
                )
                print(
                    f"  {p.name:<22} http://127.0.0.1:{ports[p.name]}  (log: {stack.running[p.name].log}{priority})",
                    flush=True,
                )
        for name in skipped:
            print(f"  {name:<22} not built yet - skipped", flush=True)
        stack.wait_ready(timeout=90)
        from devtools.demo_data import seed_if_available

        seed_if_available(stack.gateway_url)
        gw = stack.gateway_url
        print(
            f"""
Ready. Gateway: {gw}   (API docs: {gw}/docs)

Get a token for the demo school and call the API:
  TOKEN=$(curl -s -u demo-education:demo-education-secret -d grant_type=client_credentials \\
          {gw}/oauth/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -H "Authorization: Bearer $TOKEN" {gw}/v1/referrals

Demo clients: demo-mash, demo-early-help, demo-social-care, demo-education, demo-education-2,
demo-health, demo-police, demo-housing, demo-voluntary, demo-youth-justice, demo-admin
(secret: <client_id>-secret). Press Ctrl-C to stop everything.
""",
            flush=True,
        )
        while not stopping:
            for name, r in list(stack.running.items()):
                if r.popen.poll() is not None:
                    print(
                        f"\n{name} stopped unexpectedly (exit {r.popen.returncode}). Last lines of {r.log}:\n{tail(r.log)}",
                        file=sys.stderr,
                        flush=True,
                    )
                    stopping = True
                    break
            time.sleep(0.5)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        print("\nStopping...", flush=True)
        stack.stop_all()
        print("All processes stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
