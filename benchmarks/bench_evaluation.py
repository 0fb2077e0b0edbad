"""A full SVC2004 Task2 evaluation (all 2,960 comparisons) on every core."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from inkwitness.datasets import default_data_root
from inkwitness.evaluation import evaluate, summarise, workers_default


def main(root: Path | None = None) -> dict[str, float]:
    """Wall time of the whole protocol, from reading files to scores."""
    root = root or default_data_root()
    if not (root / "svc2004/Task2").is_dir():
        print(f"skipped: SVC2004 Task2 not found under {root}")
        return {}
    os.environ.pop("NUMBA_NUM_THREADS", None)
    start = time.perf_counter()
    rows, _ = evaluate("svc2004-task2", root)
    elapsed = time.perf_counter() - start
    summary = summarise("svc2004-task2", rows)
    print(f"SVC2004 Task2 evaluation: {elapsed:.1f} s on {workers_default()} cores, {len(rows)} comparisons, "
          f"skilled EER {100 * summary.skilled_eer:.2f} %")
    return {"svc2004_task2_seconds": elapsed}


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
