"""Per-client rate limits (a token bucket per client) and the token endpoint's throttle on
failed client authentications, both in this gateway process.

Each gateway replica limits independently; with N replicas behind a balancer a client gets
up to N times its rate. That is documented, and acceptable for abuse protection.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable


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


class FailureWindow:
    """Failures per key in a fixed window that opens at the key's first failure.

    `limit` failures inside `window` seconds block the key until that window closes, so a
    block never lasts longer than `window` after the failure that opened it. While blocked,
    nothing more is counted (the caller refuses without doing the work), so the next window
    cannot be pushed further out. At most `max_keys` keys are held: when full, windows that
    have closed go first, then the oldest open ones (bounded memory under a flood of
    made-up client ids or addresses).
    """

    def __init__(
        self, limit: int, window: float, max_keys: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        # key -> (window opened at, failures); insertion order is window-opening order.
        self._keys: dict[str, tuple[float, int]] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def blocked(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it is not blocked."""
        entry = self._keys.get(key)
        if entry is None:
            return 0.0
        opened, count = entry
        left = opened + self.window - self.clock()
        if left <= 0:
            del self._keys[key]
            return 0.0
        return left if count >= self.limit else 0.0

    def fail(self, key: str) -> None:
        now = self.clock()
        entry = self._keys.get(key)
        if entry is not None and now - entry[0] < self.window:
            self._keys[key] = (entry[0], entry[1] + 1)
            return
        self._keys.pop(key, None)
        if len(self._keys) >= self.max_keys:
            self._evict(now)
        self._keys[key] = (now, 1)

    def reset(self, key: str) -> None:
        self._keys.pop(key, None)

    def _evict(self, now: float) -> None:
        closed = [k for k, (opened, _) in self._keys.items() if now - opened >= self.window]
        for k in closed:
            del self._keys[k]
        while len(self._keys) >= self.max_keys:
            del self._keys[next(iter(self._keys))]


class TokenThrottle:
    """Failed client authentications at /oauth/token, by client id and by source address.

    In memory, per gateway process: each replica counts on its own, so behind N replicas an
    attacker gets up to N times the tries (as for the per-client rate limit; acceptable, since
    secrets are 256-bit random and the point is sparing the scrypt CPU and the noise).
    """

    def __init__(
        self,
        *,
        per_client: int,
        per_address: int,
        window: float,
        max_keys: int,
        trusted_proxies: list[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = FailureWindow(per_client, window, max_keys, clock)
        self.addresses = FailureWindow(per_address, window, max_keys, clock)
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies or []]

    def blocked(self, client_id: str, address: str) -> float:
        """Seconds to wait when either the client id or the address is blocked, else 0."""
        waits = [self.addresses.blocked(address)]
        if client_id:
            waits.append(self.clients.blocked(client_id))
        return max(waits)

    def failed(self, client_id: str, address: str) -> None:
        self.addresses.fail(address)
        if client_id:
            self.clients.fail(client_id)

    def succeeded(self, client_id: str) -> None:
        # The client id starts afresh: its rightful holder is not held back by someone else's
        # failures. The address keeps its count, or an attacker holding any one valid client
        # could clear it between guesses at others.
        self.clients.reset(client_id)

    def source(self, peer: str | None, forwarded_for: str | None) -> str:
        """The address a request came from: the TCP peer, unless the peer is a trusted proxy;
        then the nearest X-Forwarded-For hop that is not a trusted proxy. With no trusted
        proxies configured (the default) X-Forwarded-For is never read: anyone can write it."""
        address = peer or "unknown"
        if not self.trusted or forwarded_for is None or not self._is_trusted(address):
            return address
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            address = hop
            if not self._is_trusted(hop):
                break
        return address

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)
