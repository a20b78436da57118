"""Gateway overhead: an authenticated GET through the gateway vs the same request sent
straight to the service vs a bare uvicorn hello-world, measured in one run. The gateway path
runs twice: as an agency system (client credentials) and as a named practitioner (a token
from the RFC 8693 exchange), with the gateway process's CPU per request for each, so the cost
of the practitioner check is measured (`--no-practitioner` skips that path, for code before it).

    python -m bench.gateway [--seconds 8] [--connections 16] [--rounds 2] [--path /v1/referrals?limit=1]

Starts its own processes on free loopback ports (SQLite in a temporary folder) and stops them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.load import Result, median_result, run
from devtools.launcher import Stack, migrate_all
from devtools.stack import PROCESSES, ROOT

SAMPLE_REFERRAL = {
    "referral_type": "request_for_support",
    "referrer": {"name": "Bench", "role": "Benchmark"},
    "children": [{"given_name": "Sample", "family_name": "Child", "date_of_birth": "2016-01-01"}],
    "address": {"line1": "1 Bench Street", "postcode": "LS1 4AP"},
    "needs": ["school_attendance"],
    "summary": "Benchmark sample.",
    "consent": {
        "obtained": True,
        "given_by": "parent",
        "obtained_at": "2026-01-01T00:00:00Z",
        "method": "phone",
    },
}


THROUGH_AS_PRACTITIONER = "through the gateway, as a practitioner"
WARMUP_SECONDS = 1.0  # bench.load.run's default


def process_tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (uvicorn's workers), live and reaped."""
    from bench.mixed import children_by_parent, cpu_seconds  # bench.mixed imports this module

    kids = children_by_parent().get(pid, ())
    return cpu_seconds(pid, with_children=True) + sum(cpu_seconds(k, with_children=True) for k in kids)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--path", default=None, help="default: GET one referral created for the run")
    ap.add_argument("--service", default="referrals")
    ap.add_argument("--no-practitioner", action="store_true", help="skip the practitioner path")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="eh-bench-"))
    ports = {p.name: free_port() for p in PROCESSES}
    stack = Stack(
        data_dir=tmp,
        ports=ports,
        extra_env={
            "gateway": {
                "EH_GATEWAY_RATE_LIMIT_PER_SECOND": "1000000",
                "EH_GATEWAY_RATE_LIMIT_BURST": "1000000",
                "EH_GATEWAY_LOG_LEVEL": "WARNING",
            },
            args.service: {f"EH_{args.service.upper()}_LOG_LEVEL": "WARNING"},
        },
    )
    hello_port = free_port()
    print(f"benchmark data in {tmp}", flush=True)
    migrate_all(tmp)
    hello = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.hello:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(hello_port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        stack.start_all(["gateway", args.service])
        stack.wait_ready(timeout=60)
        gw = stack.gateway_url
        with httpx.Client(timeout=10) as c:
            client_token = c.post(
                f"{gw}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=("demo-mash", "demo-mash-secret"),
            ).json()["access_token"]
            practitioner_token = None
            if not args.no_practitioner:
                exchanged = c.post(
                    f"{gw}/oauth/token",
                    data={
                        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                        "subject_token": "sam.screener@mash.demo.example",
                        "subject_token_type": "urn:early-help:params:oauth:token-type:practitioner",
                    },
                    auth=("demo-mash", "demo-mash-secret"),
                )
                if exchanged.status_code != 200:
                    raise SystemExit(f"token exchange failed: {exchanged.status_code} {exchanged.text[:200]}")
                practitioner_token = exchanged.json()["access_token"]
            svc_token = c.post(
                f"{gw}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(f"svc-{args.service}", f"svc-{args.service}-secret"),
            ).json()["access_token"]
            if args.path is None:
                made = c.post(
                    f"{gw}/v1/referrals",
                    json=SAMPLE_REFERRAL,
                    headers={"Authorization": f"Bearer {client_token}"},
                )
                if made.status_code != 201:
                    raise SystemExit(
                        f"could not create the sample referral: {made.status_code} {made.text[:300]}"
                    )
                args.path = f"/v1/referrals/{made.json()['id']}"
            for url, tok in (
                (f"{gw}{args.path}", client_token),
                (f"{stack.url(args.service)}{args.path}", svc_token),
            ):
                r = c.get(url, headers={"Authorization": f"Bearer {tok}"})
                if r.status_code != 200:
                    raise SystemExit(f"{url} answered {r.status_code}: {r.text[:200]}")
            for _ in range(50):
                try:
                    c.get(f"http://127.0.0.1:{hello_port}/hello")
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
        plans = [
            ("bare uvicorn hello-world", f"http://127.0.0.1:{hello_port}/hello", {}),
            (
                f"direct to {args.service}",
                f"{stack.url(args.service)}{args.path}",
                {"Authorization": f"Bearer {svc_token}"},
            ),
            ("through the gateway", f"{gw}{args.path}", {"Authorization": f"Bearer {client_token}"}),
        ]
        if practitioner_token:
            plans.append(
                (
                    THROUGH_AS_PRACTITIONER,
                    f"{gw}{args.path}",
                    {"Authorization": f"Bearer {practitioner_token}"},
                )
            )
        gateway_pid = stack.running["gateway"].popen.pid
        results: dict[str, list[Result]] = {name: [] for name, _, _ in plans}
        gateway_cpu: dict[str, list[float]] = {name: [] for name, _, _ in plans}
        for rnd in range(args.rounds):
            for name, url, headers in plans:
                before = process_tree_cpu(gateway_pid)
                res = asyncio.run(run(name, url, headers, args.connections, args.seconds))
                used = process_tree_cpu(gateway_pid) - before
                # The CPU includes run()'s 1 s warm-up, whose requests are not counted: scale them in.
                requests = res.requests * (args.seconds + WARMUP_SECONDS) / args.seconds
                gateway_cpu[name].append(used / requests * 1000 if requests else 0.0)
                print(
                    f"round {rnd + 1}: {name}: {res.rps:,.0f} req/s p50 {res.p50_ms:.1f} ms p99 {res.p99_ms:.1f} ms"
                    f"; gateway CPU {gateway_cpu[name][-1]:.3f} ms/request",
                    flush=True,
                )
                results[name].append(res)
    finally:
        stack.stop_all()
        hello.terminate()
        hello.wait(timeout=10)
    med = {name: median_result(rs) for name, rs in results.items()}
    direct, through, floor = (
        med[f"direct to {args.service}"],
        med["through the gateway"],
        med["bare uvicorn hello-world"],
    )
    print(
        f"\nMachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{args.connections} connections, {args.seconds:.0f} s x {args.rounds} rounds, GET {args.path}\n"
    )
    print("| path | req/s | p50 ms | p99 ms | errors |\n| --- | --- | --- | --- | --- |")
    shown = [floor, direct, through]
    if THROUGH_AS_PRACTITIONER in med:
        shown.append(med[THROUGH_AS_PRACTITIONER])
    for result in shown:
        print(result.row())
    print("\ngateway CPU per request (ms, median of rounds):")
    for name in ("through the gateway", THROUGH_AS_PRACTITIONER):
        if gateway_cpu.get(name):
            print(f"  {name}: {statistics.median(gateway_cpu[name]):.3f}")
    ratio = through.rps / direct.rps if direct.rps else 0
    print(
        f"\ngateway / direct throughput: {ratio:.0%} (target >= 60%); "
        f"direct / hello-world: {direct.rps / floor.rps if floor.rps else 0:.0%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
