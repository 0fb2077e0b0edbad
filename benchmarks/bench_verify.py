"""One verification of a 300-point signature against a 5-reference template, on one core."""

from __future__ import annotations

import numpy as np
from _common import median_seconds

from inkwitness.signature import Device, make_signature
from inkwitness.verification import Verifier


def pseudo_signature(seed: int, n: int | None = None) -> object:
    """A ~300-point signature at 100 Hz with pressure, varied by seed like a writer's repetitions."""
    rng = np.random.default_rng(seed)
    # Repetitions differ in length like real ones do (+-5 %), which matters for replay checks.
    n = n or int(300 * (1 + 0.05 * rng.uniform(-1, 1)))
    phase = np.linspace(0, 7 * np.pi, n) * (1 + 0.005 * rng.normal())
    x = 4000 + 1500 * np.sin(phase) + 450 * phase + rng.normal(0, 5, n)
    y = 3000 + 900 * np.cos(1.3 * phase) + rng.normal(0, 5, n)
    p = np.clip(0.55 + 0.25 * np.sin(2 * phase), 0.05, 1)
    starts = np.zeros(n, dtype=bool)
    starts[[n // 4, n // 2, 3 * n // 4]] = True
    return make_signature(x=x, y=y, t=np.arange(n) * 10.0, pressure=p, stroke_start=starts,
                          device=Device(kind="pen", sampling_rate_hz=100.0, pressure_levels=1024))


def main() -> dict[str, float]:
    """Median milliseconds per verification, including feature extraction of the questioned sample."""
    verifier = Verifier().fit([pseudo_signature(s) for s in range(5)])
    questioned = pseudo_signature(99, n=300)
    runs = 200
    t = median_seconds(lambda: [verifier.score(questioned) for _ in range(runs)], repeats=5) / runs
    print(f"verification of a 300-point signature against 5 references: median {1000 * t:.2f} ms (one core)")
    return {"verify_ms": 1000 * t}


if __name__ == "__main__":
    main()
