"""Contextual time functions: each sample described together with its neighbours (method 3, contextual DTW).

Sharma & Sundaram (Pattern Recognition Letters 2016) compare two samples in DTW through
their neighbourhoods rather than alone, so that a point is matched only where the local
stretch of trajectory around it agrees. Summing a squared local distance over aligned
neighbours ``i+k`` and ``j+k`` equals the squared distance between the stacked vectors
``[f(i+k) for k in OFFSETS]``, which is what this module builds; the DTW kernel then runs
unchanged on the stacked columns.
"""

from __future__ import annotations

import numpy as np

#: Neighbour offsets in samples (at 100 Hz: 0.06 and 0.03 s either side).
OFFSETS = (-6, -3, 0, 3, 6)
#: Base functions stacked, with and without pressure.
BASE = ("vx", "vy", "pressure")
BASE_NO_PRESSURE = ("vx", "vy", "speed")


def shifted(values: np.ndarray, offset: int) -> np.ndarray:
    """``values`` moved by ``offset`` samples (value at i is values[i + offset]), edges held."""
    n = values.shape[0]
    idx = np.clip(np.arange(n) + offset, 0, n - 1)
    return values[idx]


def context_functions(cols: dict[str, np.ndarray], base: tuple[str, ...],
                      offsets: tuple[int, ...] = OFFSETS) -> dict[str, np.ndarray]:
    """Stacked neighbourhood columns ``ctx_<name>_<offset>`` of the available ``base`` functions."""
    return {f"ctx_{name}_{k:+d}": shifted(cols[name], k) for name in base if name in cols for k in offsets}


def names(base: tuple[str, ...], offsets: tuple[int, ...] = OFFSETS) -> tuple[str, ...]:
    """Column names :func:`context_functions` gives for ``base``."""
    return tuple(f"ctx_{name}_{k:+d}" for name in base for k in offsets)
