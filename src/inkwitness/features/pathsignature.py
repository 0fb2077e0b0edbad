"""Sliding-window path signatures of the pen trajectory (method 4 of the Engine II issue).

The signature of a path truncated at level 2 holds its increments (level 1) and the
iterated integrals of every pair of channels (level 2); the antisymmetric part of the
latter is the signed (Lévy) area, which captures how the pen turned inside a window
independently of how densely it was sampled. Each sample gets the signature of the
window of ``WINDOW`` samples centred on it, computed in closed form for a piecewise-linear
path, with two augmentations used in the signature-verification literature:

* time augmentation: the window's own time (seconds since the window's start) is a channel,
  so speed and pauses enter the iterated integrals;
* base-point augmentation: the path starts at the origin, so level 1 and level 2 also carry
  the window's position rather than only its shape.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: Samples per window (0.11 s at the common 100 Hz rate).
WINDOW = 11


def level2(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Level-1 and level-2 signatures of (m, w, d) piecewise-linear paths started at the origin: ((m, d), (m, d, d))."""
    based = np.concatenate([np.zeros_like(paths[:, :1]), paths], axis=1)
    step = np.diff(based, axis=1)
    # For a linear segment the iterated integral is (start + step/2) (x) step; summing the
    # segments with each one's start taken from the origin gives Chen's identity in closed form.
    start = based[:, :-1]
    s2 = np.einsum("mwi,mwj->mij", start + 0.5 * step, step)
    return based[:, -1], s2


def signature_functions(t_ms: np.ndarray, channels: dict[str, np.ndarray], window: int = WINDOW) -> dict[str, np.ndarray]:
    """Per-sample level-1 and level-2 signature terms of the centred window on ``channels`` plus time."""
    names = ["t", *channels]
    n = t_ms.shape[0]
    half = window // 2
    local = np.column_stack([np.zeros(n), *channels.values()])
    padded = np.pad(local, ((half, window - 1 - half), (0, 0)), mode="edge")
    windows = sliding_window_view(padded, window, axis=0).transpose(0, 2, 1).copy()  # (n, w, d)
    # Time since the window's start: identical for every window except at the padded edges.
    tp = np.pad(t_ms / 1000.0, (half, window - 1 - half), mode="edge")
    tw = sliding_window_view(tp, window)
    windows[:, :, 0] = tw - tw[:, :1]
    s1, s2 = level2(windows)
    out: dict[str, np.ndarray] = {}
    for i, a in enumerate(names):
        if a != "t":
            out[f"ps_{a}"] = s1[:, i]
        for j, b in enumerate(names):
            if i <= j and not (a == "t" and b == "t"):
                out[f"ps_{a}{b}"] = s2[:, i, j]
            if i < j:
                out[f"ps_area_{a}{b}"] = 0.5 * (s2[:, i, j] - s2[:, j, i])
    return out
