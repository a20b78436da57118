"""A small closed-loop HTTP load generator (aiohttp), loopback only, bounded by time.

`run(url, headers, connections, seconds)` keeps `connections` requests in flight for
`seconds` and returns throughput and latency percentiles. It runs in the same machine as the
servers (2 cores here), so absolute numbers are lower than with a separate load host; the
ratios between paths measured in one run are what to compare.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import aiohttp


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def row(self) -> str:
        return f"| {self.name} | {self.rps:,.0f} | {self.p50_ms:.1f} | {self.p99_ms:.1f} | {self.errors} |"


def _loopback(url: str) -> None:
    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to load a non-loopback address: {host}")


async def run(
    name: str,
    url: str,
    headers: dict[str, str],
    connections: int = 16,
    seconds: float = 8.0,
    warmup: float = 1.0,
) -> Result:
    _loopback(url)
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        start = time.perf_counter()
        measure_from = start + warmup
        stop_at = measure_from + seconds

        async def worker() -> None:
            nonlocal errors
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                try:
                    async with session.get(url) as resp:
                        await resp.read()
                        ok = resp.status == 200
                except aiohttp.ClientError:
                    ok = False
                t1 = time.perf_counter()
                if t0 >= measure_from:
                    if ok:
                        latencies.append(t1 - t0)
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    latencies.sort()
    p = (
        (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000)
        if latencies
        else (lambda q: 0.0)
    )
    return Result(name, len(latencies), errors, seconds, p(0.50), p(0.99))


def median_result(results: list[Result]) -> Result:
    best = sorted(results, key=lambda r: r.rps)[len(results) // 2]
    return Result(
        best.name,
        best.requests,
        sum(r.errors for r in results),
        best.seconds,
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
    )
