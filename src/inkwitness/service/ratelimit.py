"""Per-key and per-subject rate limits (in-process token buckets), per-key concurrency limits and a
sliding window of failed attempts.

Limits are per worker process: with N workers a key may reach N times the rate. That
bounds a scoring oracle or a runaway client well enough without shared state; a limit
across processes belongs in the reverse proxy.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

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


class InFlight:
    """Requests in progress per key in this process: :meth:`enter` refuses past a limit."""

    def __init__(self) -> None:
        self._count: dict[str, int] = {}

    def enter(self, key: str, limit: int) -> bool:
        """Count a request in, unless ``limit`` are already in progress (``limit`` <= 0: no limit)."""
        n = self._count.get(key, 0)
        if 0 < limit <= n:
            return False
        self._count[key] = n + 1
        return True

    def leave(self, key: str) -> None:
        """Count a request out."""
        n = self._count.get(key, 0) - 1
        if n > 0:
            self._count[key] = n
        else:
            self._count.pop(key, None)


class FailureWindow:
    """Failed attempts per key (a subject) in a sliding window, in this process.

    :meth:`note` records one and says how many fell within the last ``window`` seconds.
    """

    def __init__(self, window: float, clock=time.monotonic) -> None:  # noqa: ANN001
        self.window = window
        self._seen: OrderedDict[object, list[float]] = OrderedDict()
        self._clock = clock
        self._lock = Lock()  # verifications are stored from worker threads

    def note(self, key: object) -> int:
        """Record a failure now; the number of failures of ``key`` within the window, this one included."""
        now = self._clock()
        with self._lock:
            recent = [t for t in self._seen.get(key, ()) if now - t < self.window]
            recent.append(now)
            self._seen[key] = recent
            self._seen.move_to_end(key)
            while len(self._seen) > MAX_BUCKETS:
                self._seen.popitem(last=False)
            return len(recent)

    def clear(self, key: object) -> None:
        """Forget ``key``'s failures (after they raised an alert)."""
        with self._lock:
            self._seen.pop(key, None)
