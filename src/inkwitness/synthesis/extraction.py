"""Sigma-lognormal extraction of a whole signature, stroke by stroke."""

from __future__ import annotations

import numpy as np

try:  # installed with scikit-learn, a dependency; extraction works without it, only slower
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

from ..features.timefunctions import derivative
from ..signature import Signature
from .lognormal import displacement, velocity
from .model import LognormalModel, StrokeModel
from .rx0 import extract_stroke

# Sampling rates outside this range are broken clocks, not devices.
RATE_RANGE_HZ = (20.0, 1000.0)
DEFAULT_RATE_HZ = 100.0


def source_rate_hz(sig: Signature) -> float:
    """The source's sampling rate (median in-stroke step), falling back to the declared or 100 Hz."""
    rate = sig.sampling_rate_hz or sig.device.sampling_rate_hz or DEFAULT_RATE_HZ
    return float(np.clip(rate, *RATE_RANGE_HZ))


def stroke_grid(sig: Signature, start: int, stop: int, step_ms: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A stroke resampled on a uniform grid from its first sample: (local t in ms, x, y)."""
    local = sig.t[start:stop] - sig.t[start]
    grid = np.arange(0.0, local[-1] + 1e-9, step_ms) if local[-1] > 0 else np.zeros(1)
    return grid, np.interp(grid, local, sig.x[start:stop]), np.interp(grid, local, sig.y[start:stop])


def extract(sig: Signature, *, target_snr_db: float = 20.0, refine_below_db: float = 18.0,
            max_components: int | None = None) -> LognormalModel:
    """Sigma-lognormal model of ``sig``: RX0 per pen-down stroke, refined by least squares when needed.

    Each pen-down stroke is fitted until its velocity SNR reaches ``target_snr_db``, its
    residual has no speed peak left, or it has ``max_components`` components (default 40,
    or 20 per second for strokes over 2 s); strokes still below ``refine_below_db`` get
    up to three rounds of least squares and new peaks.
    """
    # The least-squares steps are small dense problems: BLAS threads only contend for the
    # cores (an order of magnitude slower on a busy machine) and could reorder sums.
    if threadpool_limits is None:
        return _extract(sig, target_snr_db, refine_below_db, max_components)
    with threadpool_limits(limits=1, user_api="blas"):
        return _extract(sig, target_snr_db, refine_below_db, max_components)


def _extract(sig: Signature, target_snr_db: float, refine_below_db: float,
             max_components: int | None) -> LognormalModel:
    rate = source_rate_hz(sig)
    step_ms = 1000.0 / rate
    strokes = []
    for s in sig.strokes:
        grid, x, y = stroke_grid(sig, s.start, s.stop, step_ms)
        comps = np.zeros((0, 6))
        energy = error = 0.0
        if s.pen_down and grid.shape[0] >= 2:
            tg = grid / 1000.0
            # The same smoothed derivative as the verifier's time functions, so the SNR is
            # measured against the velocity the rest of the system sees.
            vx, vy = derivative(x, step_ms / 1000.0), derivative(y, step_ms / 1000.0)
            # Long strokes need more components: by default 40, or 20 per second beyond 2 s.
            limit = max_components or max(40, int(20 * tg[-1]))
            comps, _ = extract_stroke(tg, vx, vy, target_snr_db=target_snr_db, refine_below_db=refine_below_db,
                                      max_components=limit)
            ex, ey = velocity(comps, tg)
            energy = float(np.sum(vx * vx + vy * vy))
            error = float(np.sum((vx - ex) ** 2 + (vy - ey) ** 2))
            dx, dy = displacement(comps, tg)
        else:
            dx, dy = np.zeros_like(grid), np.zeros_like(grid)
        residual = np.column_stack((x - x[0] - dx, y - y[0] - dy))
        strokes.append(StrokeModel(index=s.index, pen_down=s.pen_down, start=s.start, stop=s.stop,
                                   start_ms=float(sig.t[s.start]), duration_ms=float(grid[-1]),
                                   x0=float(x[0]), y0=float(y[0]), x1=float(x[-1]), y1=float(y[-1]),
                                   components=comps, residual=residual, energy=energy, error=error))
    return LognormalModel(strokes=tuple(strokes), rate_hz=rate, source=sig)
