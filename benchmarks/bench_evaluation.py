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
    if "--quick" in sys.argv:
        return {"svc2004_task2_seconds": elapsed}
    from inkwitness.training import DEVELOPMENT, run_protocol

    # The writer-disjoint protocol: measuring every comparison of SVC2004 Task2 and of the
    # other development sets once, then four fits (goal: under 5 minutes on 2 cores).
    start = time.perf_counter()
    rows = run_protocol("svc2004-task2", "cv4", root, [n for n in DEVELOPMENT if n != "svc2004-task2"])
    cv4 = time.perf_counter() - start
    summary = summarise("svc2004-task2", rows)
    print(f"SVC2004 Task2 4-fold cross-validation (training with SUSIG and SigComp2011): {cv4:.1f} s, "
          f"skilled EER {100 * summary.skilled_eer:.2f} %")
    return {"svc2004_task2_seconds": elapsed, "svc2004_task2_cv4_seconds": cv4}


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
