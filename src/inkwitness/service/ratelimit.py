"""Per-key rate limits: an in-process token bucket.

Limits are per worker process: with N workers a key may reach N times the rate. That
bounds a scoring oracle or a runaway client well enough without shared state; a limit
across processes belongs in the reverse proxy.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

#: Buckets kept per process (least recently used dropped first; a dropped bucket starts full).
MAX_BUCKETS = 10_000


@dataclass(frozen=True)
class Rate:
    """Sustained requests per second and the burst allowed above it."""

    per_second: float
    burst: int


class TokenBuckets:
    """One token bucket per key; :meth:`take` says how long to wait when a bucket is empty."""

    def __init__(self, clock=time.monotonic) -> None:  # noqa: ANN001
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._clock = clock

    def take(self, key: str, rate: Rate) -> float:
        """Spend a token: 0.0 if allowed, else the seconds until one is available."""
        if rate.per_second <= 0:
            return 0.0
        now = self._clock()
        tokens, last = self._buckets.get(key, (float(rate.burst), now))
        tokens = min(float(rate.burst), tokens + (now - last) * rate.per_second)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / rate.per_second
        self._buckets.move_to_end(key)
        while len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
        return wait


def retry_after(wait: float) -> str:
    """A Retry-After value in whole seconds (at least 1)."""
    return str(max(1, math.ceil(wait)))
