"""A mixed workload through the gateway, on SQLite and on PostgreSQL: saturation throughput,
latency at fixed arrival rates, CPU seconds per request and memory per process.

    python -m bench.mixed                       # both databases, rates 25,50,100 req/s
    python -m bench.mixed --db sqlite --rates 25,50,100 --seconds 20 --saturation-seconds 15
    python -m bench.mixed --db postgres --rates 100 --seconds 30 --repeat 3   # three samples of the target
    python -m bench.mixed --json results.json   # also write every figure as JSON
    python -m bench.mixed --db postgres --rates 100 --workers referrals=2   # referrals as two processes
    python -m bench.mixed --rates 100 --per-operation 20   # also each operation's CPU, alone
    python -m bench.mixed --db postgres --rates 100 --background-nice 0   # every process at one priority

Loopback only and bounded: it starts its own processes (the gateway, the four services and the
notifications worker) on free 127.0.0.1 ports - for PostgreSQL also a throwaway server
(devtools.pg, fsync off); with `--workers`, the services named run as several uvicorn worker
processes on one port - runs each phase for a fixed time, and stops and deletes everything
but the processes' logs, kept in the data folder it names (`logs/`) for a look afterwards.

The workload, by weight (one request is one of these):

| operation | weight | client | path |
| --- | --- | --- | --- |
| create referral | 15 | demo-education | POST /v1/referrals (through the gateway) |
| read referral | 20 | demo-mash | GET /v1/referrals/{id} |
| list referrals | 15 | demo-mash | GET /v1/referrals?limit=20 |
| decision | 10 | demo-mash | POST /v1/referrals/{id}/decision (a referral still awaiting one) |
| read episode | 20 | demo-early-help | GET /v1/episodes/{id} |
| access check | 20 | svc-assessments | GET /v1/access-checks, **direct to the consent port** |

The access check is an internal endpoint of the consent service (the assessments and referrals
services call it on reads); it is sent straight to the consent process with a service token,
as they do, so it carries no gateway cost. Everything else goes through the gateway.

Phases, per database:
1. saturation: closed loop, `--connections` requests always in flight, for `--saturation-seconds`;
   the completed requests per second is the throughput at saturation;
2. fixed rates: an open-loop generator sends at each rate (evenly spaced arrivals) for
   `--seconds`, whatever the answers' speed; latency is measured from the *scheduled* send
   time, so a server that falls behind shows it (no coordinated omission). At most
   `--max-in-flight` requests are outstanding; arrivals beyond that are counted as dropped.
   Once the servers are idle again after a fixed-rate phase, the referrer's feed is read for
   the outcome alert of each decision the phase made: the time from the decision to its alert
   is the cost of the background work's lower priority (below), and an alert missing then is
   reported as missing.

Priority: the processes whose work is all background (`devtools.stack.Process.background`:
notifications and its worker) start at nice +10, as with `make run` (`--background-nice 0`
runs every process at the same priority), so a burst of requests is answered first.

CPU: utime+stime from /proc/<pid>/stat of every process before and after each phase, with its
live children and its reaped children's cutime+cstime (PostgreSQL's backends under the
postmaster; a service's uvicorn workers under their supervisor), divided
by the requests completed. Memory: VmRSS (/proc/<pid>/status) and PSS (smaps_rollup) at the end. The load
generator runs on the same 2 cores and its own CPU is shown apart; it sends with
bench/rawhttp.py (keep-alive HTTP/1.1 over asyncio, the httptools parser), about a third less
CPU per request than aiohttp (`--client aiohttp`, how earlier figures were taken). A short
warm-up that is not measured comes first, and every phase starts once the servers are idle again (the events the
previous phase left queued have been handled), so each phase pays for its own work.

The machine: besides the processes above, each phase shows the CPU that other programs took
(/proc/stat's busy time not accounted to them) and the time the hypervisor stole (its steal
column), on average and in the phase's worst second (read four times a second): steal comes in
bursts - seconds with a third of the machine taken away - and a burst is enough to put a
phase's p99 over the target while its average stays near zero. Neither figure catches
everything: the same code has cost a third more CPU per request at some moments on this
virtual machine than at others, with neither moving, and the tail latency follows the CPU per
request - so compare runs of one code by that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import string
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.gateway import free_port
from bench.load import _loopback
from bench.rawhttp import RawClient
from devtools import pg
from devtools.launcher import Stack, migrate_all
from devtools.stack import BACKGROUND_NICE, PROCESSES

CLK_TCK = os.sysconf("SC_CLK_TCK")
NOT_SERVERS = ("load generator", "machine", "steal")  # keys of Processes.cpu() that are not servers
WEIGHTS = {
    "create referral": 15,
    "read referral": 20,
    "list referrals": 15,
    "decision": 10,
    "read episode": 20,
    "access check (direct to consent)": 20,
}
TARGET_RATE, TARGET_P99_MS = 100, 100.0


# --- /proc accounting -----------------------------------------------------------------------


def cpu_seconds(pid: int, *, with_children: bool = False) -> float:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): utime=14, stime=15, cutime=16, cstime=17.
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def machine_seconds() -> tuple[float, float]:
    """CPU seconds since boot: spent by the whole machine (every core, every process), and
    stolen from it by the hypervisor (time this virtual machine wanted a core and had none)."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[:8])
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


def steal_peak(samples: list[tuple[float, float]], window: float = 1.0) -> float:
    """The most the hypervisor stole in any `window` seconds, in cores: `samples` are
    (monotonic time, stolen CPU seconds so far), in time order."""
    peak, j = 0.0, 0
    for i, (t0, s0) in enumerate(samples):
        j = max(j, i + 1)
        while j < len(samples) and samples[j][0] - t0 < window:
            j += 1
        if j == len(samples):
            break
        t1, s1 = samples[j]
        peak = max(peak, (s1 - s0) / (t1 - t0))
    return peak


class StealWatch:
    """The hypervisor's steal through a phase, a few times a second. A phase's average hides a
    burst: a few seconds with a third of the machine taken away were enough to miss the tail
    target in runs that averaged 0.1 cores of steal."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steal-watch", daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append((time.monotonic(), machine_seconds()[1]))
            if self._stop.wait(self.interval):
                self.samples.append((time.monotonic(), machine_seconds()[1]))
                return

    def __enter__(self) -> StealWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self) -> float:
        return steal_peak(self.samples)


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def pss_mib(pid: int) -> float:
    """Proportional set size: shared pages divided among their users (no double counting)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children_by_parent() -> dict[int, list[int]]:
    """Every live process's children, from one pass over /proc."""
    out: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        out[int(text[text.rindex(")") + 2 :].split()[1])].append(int(entry.name))
    return out


@dataclass
class Processes:
    """The pids to account for: name -> pid, plus an optional PostgreSQL postmaster.

    Each process counts with its children, live and reaped: PostgreSQL's backends, and the
    worker processes of a service started with `--workers` (uvicorn's supervisor is the pid)."""

    pids: dict[str, int]
    postmaster: int | None = None

    def _per_tree(self, measure: Callable[[int], float]) -> dict[str, float]:
        """`measure` of each named process plus its live children."""
        kids = children_by_parent()
        named = {**self.pids, **({"postgresql": self.postmaster} if self.postmaster else {})}
        return {
            name: measure(pid) + sum(measure(c) for c in kids.get(pid, ())) for name, pid in named.items()
        }

    def cpu(self) -> dict[str, float]:
        # Reaped children count through their parent's cutime+cstime.
        out = self._per_tree(lambda pid: cpu_seconds(pid, with_children=True))
        out["load generator"] = cpu_seconds(os.getpid())
        out["machine"], out["steal"] = machine_seconds()
        return out

    def rss(self) -> dict[str, float]:
        return {**self._per_tree(rss_mib), "load generator": rss_mib(os.getpid())}

    def pss(self) -> dict[str, float]:
        return {**self._per_tree(pss_mib), "load generator": pss_mib(os.getpid())}


# --- the workload ---------------------------------------------------------------------------


def unique_name(rng: random.Random) -> str:
    return rng.choice(string.ascii_uppercase) + "".join(rng.choices(string.ascii_lowercase, k=11))


def postcode(rng: random.Random) -> str:
    """A valid UK postcode (letters only where the standard allows them)."""
    area = rng.choice("ABCDEFGHIJKLMNOPRSTUWYZ") + rng.choice("ABCDEFGHKLMNOPQRSTUVWXY")
    inward = rng.choice("ABDEFGHJLNPQRSTUWXYZ") + rng.choice("ABDEFGHJLNPQRSTUWXYZ")
    return f"{area}{rng.randint(1, 29)} {rng.randint(1, 9)}{inward}"


def referral_body(rng: random.Random) -> dict[str, Any]:
    family = unique_name(rng)
    return {
        "referral_type": "request_for_support",
        "referrer": {"name": "Bench Referrer", "role": "DSL", "email": "dsl@bench.example"},
        "children": [
            {
                "given_name": unique_name(rng),
                "family_name": family,
                "date_of_birth": f"20{rng.randint(10, 20)}-0{rng.randint(1, 9)}-{rng.randint(10, 28)}",
            }
        ],
        "adults": [{"given_name": unique_name(rng), "family_name": family, "relationship": "mother"}],
        "address": {
            "line1": f"{rng.randint(1, 999)} {family} Road",
            "town": "Anytown",
            "postcode": postcode(rng),
        },
        "needs": ["school_attendance", "parental_mental_health"],
        "summary": "Benchmark referral: attendance 71%, parent unwell.",
        "consent": {
            "obtained": True,
            "given_by": "parent",
            "obtained_at": "2026-01-05T10:00:00Z",
            "method": "phone",
        },
    }


# Every decision opens an episode (in assessments, through the events), as most do.
DECISION = {
    "level_of_need": "partnership_plus",
    "outcome": "team_around_the_family",
    "rag": "amber",
    "rationale": "Benchmark decision.",
    "decided_by": {"name": "Bench Manager", "role": "MASH team manager"},
}


@dataclass
class World:
    gateway: str
    consent: str
    tokens: dict[str, str]
    agency: str
    referrals: list[str] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)
    episodes: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    # The decisions of the phase under way: referral id -> the decision's `decided_at` (the
    # server's clock), to measure how long the referrer waits for the outcome alert.
    decided: dict[str, datetime] = field(default_factory=dict)

    def auth(self, client: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[client]}"}


class AiohttpClient:
    """The generator's client over aiohttp (`--client aiohttp`: how figures before the raw
    client were taken), with the raw client's interface."""

    def __init__(self, *, limit: int, timeout: float = 30.0) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit), timeout=aiohttp.ClientTimeout(total=timeout)
        )

    async def request(self, method: str, url: str, **options: Any) -> tuple[int, bytes]:
        """`options`: json=, params=, headers= (what `RawClient.request` takes)."""
        async with self.session.request(method, url, **options) as resp:
            return resp.status, await resp.read()

    async def close(self) -> None:
        await self.session.close()


Client = AiohttpClient | RawClient
CLIENTS = ("raw", "aiohttp")
CLIENT_ERRORS = (TimeoutError, OSError, aiohttp.ClientError)
_client_kind = "raw"


def new_client(limit: int) -> Client:
    return RawClient(limit=limit) if _client_kind == "raw" else AiohttpClient(limit=limit)


async def one_request(client: Client, world: World, op: str) -> str | None:
    """Send one operation; None if it answered as expected, else what it answered."""
    rng = world.rng
    if op == "decision" and not world.undecided:
        op = "create referral"
    if op == "create referral":
        status, body = await client.request(
            "POST",
            f"{world.gateway}/v1/referrals",
            json=referral_body(rng),
            headers=world.auth("demo-education"),
        )
        if status != 201:
            return str(status)
        data = json.loads(body)
        world.referrals.append(data["id"])
        world.undecided.append(data["id"])
        # A school is not told the index's person id (least disclosure): the access checks
        # draw on the people the setup read as the MASH.
        if data["children"][0].get("person_id"):
            world.people.append(data["children"][0]["person_id"])
        return None
    if op == "read referral":
        rid = rng.choice(world.referrals)
        status, _ = await client.request(
            "GET", f"{world.gateway}/v1/referrals/{rid}", headers=world.auth("demo-mash")
        )
        return None if status == 200 else str(status)
    if op == "list referrals":
        status, _ = await client.request(
            "GET", f"{world.gateway}/v1/referrals", params={"limit": "20"}, headers=world.auth("demo-mash")
        )
        return None if status == 200 else str(status)
    if op == "decision":
        rid = world.undecided.pop()
        status, body = await client.request(
            "POST",
            f"{world.gateway}/v1/referrals/{rid}/decision",
            json=DECISION,
            headers=world.auth("demo-mash"),
        )
        if status not in (200, 201):
            return str(status)
        world.decided[rid] = datetime.fromisoformat(json.loads(body)["decision"]["decided_at"])
        return None
    if op == "read episode":
        eid = rng.choice(world.episodes)
        status, _ = await client.request(
            "GET", f"{world.gateway}/v1/episodes/{eid}", headers=world.auth("demo-early-help")
        )
        return None if status == 200 else str(status)
    if op == "access check (direct to consent)":
        params = {
            "person_id": rng.choice(world.people),
            "agency_id": world.agency,
            "purpose": rng.choice(["information_sharing", "early_help_service"]),
        }
        status, _ = await client.request(
            "GET", f"{world.consent}/v1/access-checks", params=params, headers=world.auth("svc-assessments")
        )
        return None if status == 200 else str(status)
    raise ValueError(op)


def schedule(n: int, seed: int, only: str | None = None) -> list[str]:
    if only is not None:
        return [only] * n
    rng = random.Random(seed)
    names, weights = list(WEIGHTS), list(WEIGHTS.values())
    return rng.choices(names, weights=weights, k=n)


@dataclass
class PhaseResult:
    name: str
    seconds: float
    latencies: dict[str, list[float]]
    errors: dict[str, int]
    dropped: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)
    pss: dict[str, float] = field(default_factory=dict)
    steal_peak: float = 0.0  # cores the hypervisor took in the phase's worst second
    # Seconds from each of the phase's decisions to the referrer's outcome alert (fixed-rate
    # phases), and how many decisions had none once the servers were idle again.
    alert_lags: list[float] = field(default_factory=list)
    alerts_missing: int = 0

    @property
    def completed(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def all_latencies(self) -> list[float]:
        return sorted(x for v in self.latencies.values() for x in v)

    @property
    def rps(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def pct(self, q: float, op: str | None = None) -> float:
        data = self.all_latencies if op is None else sorted(self.latencies.get(op, []))
        if not data:
            return 0.0
        return data[min(len(data) - 1, int(q * len(data)))] * 1000

    def alert_pct(self, q: float) -> float:
        data = sorted(self.alert_lags)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000 if data else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seconds": self.seconds,
            "completed": self.completed,
            "rps": self.rps,
            "p50_ms": self.pct(0.5),
            "p99_ms": self.pct(0.99),
            "errors": dict(self.errors),
            "dropped": self.dropped,
            "per_operation": {
                op: {"n": len(v), "p50_ms": self.pct(0.5, op), "p99_ms": self.pct(0.99, op)}
                for op, v in self.latencies.items()
            },
            "cpu_seconds": self.cpu,
            "steal_peak_cores": self.steal_peak,
            "outcome_alert_ms": {
                "n": len(self.alert_lags),
                "missing": self.alerts_missing,
                "p50": self.alert_pct(0.5),
                "p99": self.alert_pct(0.99),
                "max": max(self.alert_lags, default=0.0) * 1000,
            },
            "rss_mib": self.rss,
            "pss_mib": self.pss,
        }


async def closed_loop(world: World, connections: int, seconds: float, seed: int) -> PhaseResult:
    ops = schedule(1_000_000, seed)
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    next_op = 0
    client = new_client(connections + 8)
    try:
        stop_at = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal next_op
            while time.perf_counter() < stop_at and next_op < len(ops):
                op = ops[next_op]
                next_op += 1
                t0 = time.perf_counter()
                try:
                    failed = await one_request(client, world, op)
                except CLIENT_ERRORS as exc:
                    failed = type(exc).__name__
                if failed is None:
                    latencies[op].append(time.perf_counter() - t0)
                else:
                    errors[f"{op}: {failed}"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    finally:
        await client.close()
    return PhaseResult(f"saturation ({connections} in flight)", elapsed, dict(latencies), dict(errors))


async def open_loop(
    world: World, rate: float, seconds: float, seed: int, max_in_flight: int, only: str | None = None
) -> PhaseResult:
    n = int(rate * seconds)
    ops = schedule(n, seed, only)
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    dropped = 0
    in_flight = 0
    client = new_client(max_in_flight)
    try:

        async def fire(op: str, scheduled: float) -> None:
            nonlocal in_flight
            try:
                failed = await one_request(client, world, op)
            except CLIENT_ERRORS as exc:
                failed = type(exc).__name__
            finally:
                in_flight -= 1
            if failed is None:
                latencies[op].append(time.perf_counter() - scheduled)
            else:
                errors[f"{op}: {failed}"] += 1

        tasks = []
        start = time.perf_counter()
        for i, op in enumerate(ops):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if in_flight >= max_in_flight:
                dropped += 1
                continue
            in_flight += 1
            tasks.append(asyncio.create_task(fire(op, scheduled)))
        await asyncio.gather(*tasks)
        elapsed = max(seconds, time.perf_counter() - start)
    finally:
        await client.close()
    return PhaseResult(f"{rate:g} req/s", elapsed, dict(latencies), dict(errors), dropped)


# --- setup ----------------------------------------------------------------------------------


def token(gw: str, client: str) -> str:
    resp = httpx.post(
        f"{gw}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client, f"{client}-secret"),
        timeout=30,
    )
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def prepare(stack: Stack, referrals: int, episodes: int) -> World:
    gw = stack.gateway_url
    clients = ["demo-education", "demo-mash", "demo-early-help", "svc-assessments"]
    tokens = {c: token(gw, c) for c in clients}
    from jose import jwt

    world = World(
        gw, stack.url("consent"), tokens, jwt.get_unverified_claims(tokens["demo-education"])["agency_id"]
    )
    rng = random.Random(1)
    with httpx.Client(timeout=30) as c:
        made = []
        for _ in range(referrals + episodes):
            r = c.post(f"{gw}/v1/referrals", json=referral_body(rng), headers=world.auth("demo-education"))
            if r.status_code != 201:
                raise SystemExit(f"setup: create referral answered {r.status_code}: {r.text[:300]}")
            made.append(r.json())
        for data in made:
            world.referrals.append(data["id"])
            seen = c.get(f"{gw}/v1/referrals/{data['id']}", headers=world.auth("demo-mash")).json()
            world.people.append(seen["children"][0]["person_id"])
        for data in made[:episodes]:
            r = c.post(
                f"{gw}/v1/referrals/{data['id']}/decision", json=DECISION, headers=world.auth("demo-mash")
            )
            if r.status_code not in (200, 201):
                raise SystemExit(f"setup: decision answered {r.status_code}: {r.text[:300]}")
        world.undecided = [d["id"] for d in made[episodes:]]
        deadline = time.monotonic() + 60
        pending = [d["id"] for d in made[:episodes]]
        while pending and time.monotonic() < deadline:
            for rid in list(pending):
                eid = (
                    c.get(f"{gw}/v1/referrals/{rid}", headers=world.auth("demo-mash"))
                    .json()
                    .get("episode_id")
                )
                if eid:
                    world.episodes.append(eid)
                    pending.remove(rid)
            if pending:
                time.sleep(0.5)
        if not world.episodes:
            raise SystemExit("setup: no episode opened within 60 s")
        # Every kind of request answers before anything is measured.
        for eid in world.episodes[:1]:
            r = c.get(f"{gw}/v1/episodes/{eid}", headers=world.auth("demo-early-help"))
            if r.status_code != 200:
                raise SystemExit(f"setup: read episode answered {r.status_code}: {r.text[:300]}")
        r = c.get(
            f"{world.consent}/v1/access-checks",
            params={
                "person_id": world.people[0],
                "agency_id": world.agency,
                "purpose": "information_sharing",
            },
            headers=world.auth("svc-assessments"),
        )
        if r.status_code != 200:
            raise SystemExit(f"setup: access check answered {r.status_code}: {r.text[:300]}")
    return world


def start_stack(
    db: str, log_level: str, workers: dict[str, int] | None = None, background_nice: int = BACKGROUND_NICE
) -> tuple[Stack, Path, Path | None, int | None]:
    tmp = Path(tempfile.mkdtemp(prefix=f"eh-mixed-{db}-"))
    pg_base, pg_root, postmaster = None, None, None
    if db == "postgres":
        pg_base, pg_root = pg.start()
        pg.create_databases(pg_base, [f"eh_{p.name}" for p in PROCESSES if p.kind != "worker"])
        postmaster = int((pg_root / "data" / "postmaster.pid").read_text().split()[0])
    ports = {p.name: free_port() for p in PROCESSES}
    extra: dict[str, dict[str, str]] = {
        p.name: {f"{p.env_prefix}LOG_LEVEL": log_level} for p in PROCESSES if p.name != "gateway"
    }
    extra["gateway"] = {
        "EH_GATEWAY_RATE_LIMIT_PER_SECOND": "1000000",
        "EH_GATEWAY_RATE_LIMIT_BURST": "1000000",
        "EH_GATEWAY_LOG_LEVEL": log_level,
    }
    migrate_all(tmp, pg_base)
    stack = Stack(
        data_dir=tmp,
        ports=ports,
        pg_base=pg_base,
        extra_env=extra,
        workers=dict(workers or {}),
        background_nice=background_nice,
    )
    return stack, tmp, pg_root, postmaster


def outcome_alerts(
    world: World, *, page: int = 200, client: httpx.Client | None = None
) -> tuple[list[float], int]:
    """Seconds from each decision in `world.decided` to the referrer's "Outcome of your referral"
    alert (its `created_at` in the referrer's feed, read through the gateway), and how many
    decisions have no alert. Call once the servers are idle again: what is missing then is lost,
    not late. The feed is newest first; reading stops at the phase's first decision."""
    want = dict(world.decided)
    if not want:
        return [], 0
    oldest = min(want.values())
    lags: list[float] = []
    cursor: str | None = None
    with client or httpx.Client(timeout=30) as c:
        while want:
            params = {"limit": str(page), **({"cursor": cursor} if cursor else {})}
            r = c.get(
                f"{world.gateway}/v1/notifications", params=params, headers=world.auth("demo-education")
            )
            r.raise_for_status()
            body = r.json()
            for item in body["items"]:
                decided = want.get(item["referral_id"] or "")
                if item["kind"] == "referral.decided" and decided is not None:
                    lags.append((datetime.fromisoformat(item["created_at"]) - decided).total_seconds())
                    del want[item["referral_id"]]
            cursor = body.get("next_cursor")
            if (
                not cursor
                or not body["items"]
                or datetime.fromisoformat(body["items"][-1]["created_at"]) < oldest
            ):
                break
    return lags, len(want)


def account(procs: Processes, run: Any) -> PhaseResult:
    cpu0 = procs.cpu()
    with StealWatch() as steal:
        result: PhaseResult = run()
    cpu1 = procs.cpu()
    result.cpu = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}
    result.steal_peak = steal.peak()
    result.rss = procs.rss()
    result.pss = procs.pss()
    return result


def settle(procs: Processes, *, idle_cores: float = 0.15, limit: float = 120.0) -> float:
    """Wait until the servers are idle (less than `idle_cores` busy over a second, twice in a
    row), so a phase does not pay for the events the previous one left queued (a saturation
    phase leaves hundreds: outbox deliveries, deadlines, alerts). Returns the seconds waited."""
    started, quiet = time.monotonic(), 0
    servers = [k for k in procs.cpu() if k not in NOT_SERVERS]
    while time.monotonic() - started < limit and quiet < 2:
        before = procs.cpu()
        time.sleep(1.0)
        after = procs.cpu()
        busy = sum(after[k] - before[k] for k in servers)
        quiet = quiet + 1 if busy < idle_cores else 0
    return time.monotonic() - started


def run_database(db: str, args: argparse.Namespace) -> dict[str, Any]:
    stack, tmp, pg_root, postmaster = start_stack(db, args.log_level, args.workers, args.background_nice)
    print(f"\n=== {db}: data in {tmp}", flush=True)
    try:
        stack.start_all()
        stack.wait_ready(timeout=90)
        _loopback(stack.gateway_url)
        world = prepare(stack, args.setup_referrals, args.setup_episodes)
        procs = Processes({name: r.popen.pid for name, r in stack.running.items()}, postmaster)
        results: list[PhaseResult] = []
        per_op: list[PhaseResult] = []
        # Warm-up: every code path once at a gentle rate, not measured.
        asyncio.run(open_loop(world, 25, 3, seed=99, max_in_flight=args.max_in_flight))
        settle(procs)
        sat = account(
            procs,
            lambda: asyncio.run(closed_loop(world, args.connections, args.saturation_seconds, seed=1)),
        )
        results.append(sat)
        print(
            f"  {sat.name}: {sat.rps:,.1f} req/s p50 {sat.pct(0.5):.1f} ms p99 {sat.pct(0.99):.1f} ms",
            flush=True,
        )
        waited = settle(procs)
        print(f"  (servers idle again after {waited:.0f} s)", flush=True)
        for i, rate in enumerate(args.rates):
            for k in range(args.repeat):
                world.decided.clear()
                res = account(
                    procs,
                    lambda rate=rate, seed=10 + i + 100 * k: asyncio.run(
                        open_loop(world, rate, args.seconds, seed=seed, max_in_flight=args.max_in_flight)
                    ),
                )
                if args.repeat > 1:
                    res.name = f"{res.name} (run {k + 1})"
                results.append(res)
                print(
                    f"  {res.name}: done {res.rps:,.1f} req/s p50 {res.pct(0.5):.1f} ms "
                    f"p99 {res.pct(0.99):.1f} ms errors {sum(res.errors.values())} dropped {res.dropped}",
                    flush=True,
                )
                # The phase's events run out, then: how long each referrer waited for the outcome.
                waited = settle(procs)
                res.alert_lags, res.alerts_missing = outcome_alerts(world)
                print(
                    f"  (servers idle again after {waited:.0f} s; outcome alerts to the referrer "
                    f"p50 {res.alert_pct(0.5):.0f} ms p99 {res.alert_pct(0.99):.0f} ms after the decision, "
                    f"{res.alerts_missing} missing)",
                    flush=True,
                )
        if args.per_operation:
            for op in WEIGHTS:
                settle(procs)
                # Each operation alone; the CPU counted runs until the servers are idle again,
                # so it includes the event work the operation causes in other services.
                cpu0 = procs.cpu()
                res = asyncio.run(
                    open_loop(
                        world,
                        args.per_operation,
                        args.seconds,
                        seed=5,
                        max_in_flight=args.max_in_flight,
                        only=op,
                    )
                )
                settle(procs)
                cpu1 = procs.cpu()
                res.name = op
                res.cpu = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}
                per_op.append(res)
                print(f"  {op} alone at {args.per_operation:g} req/s: p50 {res.pct(0.5):.1f} ms", flush=True)
    finally:
        stack.stop_all()
        if pg_root is not None:
            pg.stop(pg_root)
    return {
        "db": db,
        "phases": [r.to_json() for r in results],
        "per_operation": [r.to_json() for r in per_op],
        "_results": results,
        "_per_operation": per_op,
    }


# --- report ---------------------------------------------------------------------------------

SERVERS = (
    "gateway",
    "referrals",
    "assessments",
    "consent",
    "notifications",
    "notifications-worker",
    "postgresql",
)


def parse_workers(text: str) -> dict[str, int]:
    """`referrals=2,assessments=2` -> {"referrals": 2, "assessments": 2}; web processes only."""
    web = {p.name for p in PROCESSES if p.kind != "worker"}
    out: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, count = item.partition("=")
        if name not in web:
            raise argparse.ArgumentTypeError(f"{name!r} is not one of {', '.join(sorted(web))}")
        if not count.isdigit() or not 1 <= int(count) <= 4:
            raise argparse.ArgumentTypeError(f"{item!r}: the count must be a number from 1 to 4")
        out[name] = int(count)
    return out


def parse_nice(text: str) -> int:
    """`--background-nice`: a nice increment from 0 (every process at one priority) to 19."""
    if not text.strip().isdigit() or not 0 <= int(text) <= 19:
        raise argparse.ArgumentTypeError(f"{text!r}: the increment must be a whole number from 0 to 19")
    return int(text)


def describe_workers(workers: dict[str, int]) -> str:
    return ", ".join(f"{name} x{n}" for name, n in sorted(workers.items()) if n > 1)


def report(runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nMachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average before the run {args.loadavg}; log level {args.log_level}; "
        f"{args.seconds:g} s per rate, saturation {args.saturation_seconds:g} s with {args.connections} in flight; "
        f"load generator's client: {args.client}; "
        f"processes with several workers: {describe_workers(args.workers) or 'none'}; "
        f"background processes ({', '.join(p.name for p in PROCESSES if p.background)}) at "
        f"nice +{args.background_nice}\n"
    )
    print("| database | phase | completed req/s | p50 ms | p99 ms | errors | dropped |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for run in runs:
        for r in run["_results"]:
            print(
                f"| {run['db']} | {r.name} | {r.rps:,.1f} | {r.pct(0.5):.1f} | {r.pct(0.99):.1f} | "
                f"{sum(r.errors.values())} | {r.dropped} |"
            )
    for run in runs:
        for r in run["_results"]:
            if r.errors:
                detail = ", ".join(f"{k} x{v}" for k, v in sorted(r.errors.items()))
                print(f"\nerrors on {run['db']}, {r.name}: {detail}")
    ops = list(WEIGHTS)
    for run in runs:
        print(f"\nPer operation on {run['db']}, p50 / p99 ms:\n")
        names = [r.name for r in run["_results"]]
        print("| operation | " + " | ".join(names) + " |")
        print("| --- |" + " --- |" * len(names))
        for op in ops:
            cells = [f"{r.pct(0.5, op):.1f} / {r.pct(0.99, op):.1f}" for r in run["_results"]]
            print(f"| {op} | " + " | ".join(cells) + " |")
        cells = [
            f"{r.alert_pct(0.5):.0f} / {r.alert_pct(0.99):.0f}"
            + (f" ({r.alerts_missing} missing)" if r.alerts_missing else "")
            if r.alert_lags or r.alerts_missing
            else "-"
            for r in run["_results"]
        ]
        print("| (event) outcome alert to the referrer, after the decision | " + " | ".join(cells) + " |")
    for run in runs:
        print(
            f"\nCPU ms per request in each phase, and memory at the end of the run, on {run['db']} "
            "(PostgreSQL: the postmaster and its backends summed; RSS counts shared buffers once per backend, PSS shares them out):\n"
        )
        names = [r.name for r in run["_results"]]
        print("| process | " + " | ".join(names) + " | RSS MiB | PSS MiB |")
        print("| --- |" + " --- |" * len(names) + " --- | --- |")
        present = [p for p in (*SERVERS, "load generator") if p in run["_results"][0].cpu]
        for p in present:
            cells = [f"{1000 * r.cpu[p] / max(1, r.completed):.2f}" for r in run["_results"]]
            last = run["_results"][-1]
            print(
                f"| {p} | " + " | ".join(cells) + f" | {last.rss.get(p, 0):.0f} | {last.pss.get(p, 0):.0f} |"
            )
        totals = [sum(v for k, v in r.cpu.items() if k in SERVERS) for r in run["_results"]]
        # What else the machine did meanwhile (other programs than this benchmark's), in cores.
        others = [
            max(0.0, r.cpu["machine"] - sum(v for k, v in r.cpu.items() if k not in ("machine", "steal")))
            / r.seconds
            for r in run["_results"]
        ]
        cells = [
            f"{1000 * t / max(1, r.completed):.2f}" for t, r in zip(totals, run["_results"], strict=True)
        ]
        rss_total = sum(v for k, v in run["_results"][-1].rss.items() if k in SERVERS)
        pss_total = sum(v for k, v in run["_results"][-1].pss.items() if k in SERVERS)
        print("| **all servers** | " + " | ".join(cells) + f" | {rss_total:.0f} | {pss_total:.0f} |")
        shares = [
            f"{100 * r.cpu.get('gateway', 0) / t:.0f}%" if t else "-"
            for t, r in zip(totals, run["_results"], strict=True)
        ]
        print("| gateway share of server CPU | " + " | ".join(shares) + " | | |")
        busy = [f"{t / r.seconds:.2f}" for t, r in zip(totals, run["_results"], strict=True)]
        print("| servers' CPU, cores busy | " + " | ".join(busy) + " | |")
        print(
            "| other programs on the machine, cores busy | " + " | ".join(f"{o:.2f}" for o in others) + " | |"
        )
        steal = [f"{r.cpu.get('steal', 0.0) / r.seconds:.2f}" for r in run["_results"]]
        print("| stolen by the hypervisor, cores | " + " | ".join(steal) + " | |")
        peaks = [f"{r.steal_peak:.2f}" for r in run["_results"]]
        print("| stolen by the hypervisor in the worst second, cores | " + " | ".join(peaks) + " | |")
    for run in runs:
        if not run["_per_operation"]:
            continue
        print(
            f"\nCPU ms per operation on {run['db']}, each sent alone at {args.per_operation:g} req/s for "
            f"{args.seconds:g} s, counted until the servers were idle again (so it includes the event work "
            "it causes elsewhere, and the idle background work of every process meanwhile):\n"
        )
        present = [p for p in SERVERS if p in run["_per_operation"][0].cpu]
        print("| operation | " + " | ".join(present) + " | all servers |")
        print("| --- |" + " --- |" * (len(present) + 1))
        for r in run["_per_operation"]:
            n = max(1, r.completed)
            cells = [f"{1000 * r.cpu[p] / n:.2f}" for p in present]
            total = sum(r.cpu[p] for p in present)
            print(f"| {r.name} | " + " | ".join(cells) + f" | {1000 * total / n:.2f} |")
    print()
    for run in runs:
        # Every run at the target rate counts (--repeat): one run is one sample of a noisy machine.
        at = [r for r in run["_results"] if r.name.split(" (run ")[0] == f"{TARGET_RATE:g} req/s"]
        if not at:
            continue
        met = [r.pct(0.99) < TARGET_P99_MS and r.dropped == 0 and not sum(r.errors.values()) for r in at]
        p99s = ", ".join(f"{r.pct(0.99):.1f}" for r in at)
        verdict = "met" if all(met) else "MISSED"
        if len(at) > 1:
            verdict += f" (met in {sum(met)} of {len(at)} runs)"
        peaks = ", ".join(f"{r.steal_peak:.2f}" for r in at)
        print(
            f"target on {run['db']}: p99 {p99s} ms at {TARGET_RATE} req/s "
            f"(target < {TARGET_P99_MS:.0f} ms): {verdict}; "
            f"the hypervisor's steal in each run's worst second: {peaks} cores"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--rates", default="25,50,100", help="fixed arrival rates, requests/s (comma separated)")
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds at each fixed rate")
    ap.add_argument("--saturation-seconds", type=float, default=15.0)
    ap.add_argument("--connections", type=int, default=32, help="requests in flight at saturation")
    ap.add_argument("--max-in-flight", type=int, default=256)
    ap.add_argument(
        "--background-nice",
        type=parse_nice,
        default=BACKGROUND_NICE,
        metavar="N",
        help=f"nice increment of the background processes (default {BACKGROUND_NICE}, as make run; 0: all equal)",
    )
    ap.add_argument("--setup-referrals", type=int, default=200)
    ap.add_argument("--setup-episodes", type=int, default=20)
    ap.add_argument(
        "--log-level", default="WARNING", help="the processes' log level (INFO logs every request)"
    )
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument(
        "--per-operation",
        type=float,
        metavar="RATE",
        help="also send each operation alone at RATE req/s for --seconds and report its CPU per process",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each fixed rate this many times, each after the servers are idle again (at most 5); "
        "the target line then counts the runs that meet it",
    )
    ap.add_argument(
        "--workers",
        type=parse_workers,
        default={},
        metavar="NAME=N[,NAME=N]",
        help="run these web processes as N uvicorn workers each, e.g. referrals=2 (1-4; "
        "every other process runs as one)",
    )
    ap.add_argument(
        "--client",
        choices=CLIENTS,
        default="raw",
        help="the load generator's HTTP client: raw (bench/rawhttp.py, the default) or aiohttp "
        "(how figures before the raw client were taken)",
    )
    args = ap.parse_args()
    global _client_kind
    _client_kind = args.client
    args.rates = [float(r) for r in args.rates.split(",") if r]
    if (
        max([*args.rates, args.per_operation or 0]) > 1000
        or args.seconds > 120
        or args.saturation_seconds > 120
        or not 1 <= args.repeat <= 5
    ):
        raise SystemExit("bounded: at most 1000 req/s, 120 s per phase and 5 repeats")
    args.loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    runs = [run_database(db, args) for db in dbs]
    report(runs, args)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "loadavg_before": args.loadavg,
                    "workers": args.workers,
                    "runs": [{k: v for k, v in r.items() if not k.startswith("_")} for r in runs],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
