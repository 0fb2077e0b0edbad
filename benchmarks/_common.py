"""Shared helpers for the benchmarks: timing with medians, and the data root."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

# Benchmarks compare one core against one core unless they say otherwise.
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def median_seconds(fn: Callable[[], object], repeats: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_seconds(fns: dict[str, Callable[[], object]], rounds: int = 15) -> dict[str, float]:
    """Median wall time of each function, run in turn round after round.

    On a noisy machine the speed drifts over seconds; interleaving exposes every
    contender to the same drift, so ratios of these medians are fair.
    """
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}
