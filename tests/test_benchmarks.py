"""The benchmark scripts still run (tiny sizes; their figures are not checked here)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))

import bench_dtw  # noqa: E402
from _common import interleaved_seconds  # noqa: E402


def test_interleaved_medians_cover_every_contender():
    calls = {"a": 0, "b": 0}

    def bump(name: str):
        return lambda: calls.__setitem__(name, calls[name] + 1)

    medians = interleaved_seconds({"a": bump("a"), "b": bump("b")}, rounds=5)
    assert set(medians) == {"a", "b"} and all(v >= 0 for v in medians.values())
    assert calls == {"a": 6, "b": 6}  # one warm-up call each, then one per round


def test_dtw_benchmark_runs_and_agrees_with_dtaidistance():
    result = bench_dtw.main(n=40, dims=3, pairs=6, window=5)
    assert result["ratio"] > 0 and result["with_length_ratio"] > 0
