"""Per-client rate limits: a token bucket per client in this gateway process.

Each gateway replica limits independently; with N replicas behind a balancer a client gets
up to N times its rate. That is documented, and acceptable for abuse protection.
"""

from __future__ import annotations

import math
import time


class RateLimiter:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, key: str, rate: float | None = None) -> float:
        """0 if allowed (and a token is taken), else seconds until the next token."""
        rate = rate or self.rate
        burst = max(self.burst, int(rate)) if rate != self.rate else self.burst
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / rate


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
