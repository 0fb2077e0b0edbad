"""Run every benchmark and print its figures (see docs/performance.md)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_dtw  # noqa: E402
import bench_evaluation  # noqa: E402
import bench_verify  # noqa: E402

if __name__ == "__main__":
    bench_dtw.main()
    bench_verify.main()
    bench_evaluation.main()
