"""Synthesis: a Signature from a (possibly perturbed) sigma-lognormal model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import ndtr

from ..signature import CaptureContext, Signature, make_signature
from .lognormal import D, MU, SIGMA, T0, displacement
from .model import LognormalModel, StrokeModel

# The pen goes down and up at the moments the movement is this complete (or incomplete):
# beyond them the lognormal tails are too flat to place the pen-up in time, so the
# remaining time is carried over unchanged.
EDGE_FRACTION = 0.02
_BISECTIONS = 60


def _completion(components: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Share of the stroke's total lognormal distance travelled at each time ``tau`` (s)."""
    d = components[:, D, None]
    z = (np.log(np.maximum(tau[None, :] - components[:, T0, None], 1e-300)) - components[:, MU, None])
    frac = np.where(tau[None, :] > components[:, T0, None], ndtr(z / components[:, SIGMA, None]), 0.0)
    return (d * frac).sum(axis=0) / d.sum()


def _time_at(components: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Times (s) at which the completion reaches ``targets`` (bisection; completion is monotone)."""
    lo = np.full(targets.shape, components[:, T0].min())
    hi = np.full(targets.shape, float(np.max(components[:, T0] + np.exp(components[:, MU] + 8 * components[:, SIGMA]))))
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        below = _completion(components, mid) < targets
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def _window(original: np.ndarray, new: np.ndarray, duration_s: float) -> tuple[float, float]:
    """Start and end (s) of the new stroke, relative to the original stroke's start.

    Pen-down and pen-up happen at the same completion of the movement as in the source,
    offset by the source's time between them and the EDGE_FRACTION / 1 - EDGE_FRACTION marks.
    """
    if new is original or np.array_equal(new, original):
        return 0.0, duration_s
    f0, f1 = _completion(original, np.array([0.0, duration_s]))
    q = np.array([max(f0, EDGE_FRACTION), min(f1, 1.0 - EDGE_FRACTION)])
    if q[1] <= q[0]:
        q = np.array([f0, f1])
    t_old = _time_at(original, q)
    t_new = _time_at(new, q)
    start = float(t_new[0] - t_old[0])
    end = float(t_new[1] + (duration_s - t_old[1]))
    return start, max(end, start)


def _resample(values: np.ndarray, n: int) -> np.ndarray:
    """``values`` mapped onto ``n`` samples by normalised time."""
    if values.shape[0] == 1 or n == 1:
        return np.full((n,) + values.shape[1:], values[0])
    u_old = np.linspace(0.0, 1.0, values.shape[0])
    u_new = np.linspace(0.0, 1.0, n)
    if values.ndim == 1:
        return np.interp(u_new, u_old, values)
    return np.column_stack([np.interp(u_new, u_old, values[:, j]) for j in range(values.shape[1])])


def _source_channel(sig: Signature, s: StrokeModel, values: np.ndarray, n: int) -> np.ndarray:
    """A per-sample channel of the source stroke on ``n`` new samples, by normalised time."""
    t = sig.t[s.start:s.stop]
    part = values[s.start:s.stop]
    if t.shape[0] == 1 or t[-1] <= t[0]:
        return np.full(n, part[0])
    u = (t - t[0]) / (t[-1] - t[0])
    return np.interp(np.linspace(0.0, 1.0, n), u, part)


def synthesize(model: LognormalModel, *, note: str | None = None, keep_residual: bool = True,
               extra: Mapping[str, Any] | None = None) -> Signature:
    """A Signature drawn from ``model`` at its sampling rate, with the source's device and channels.

    ``note`` becomes the sample's only repairs entry and ``extra`` is merged into the
    source's capture ``extra``; with ``keep_residual`` the trajectory the lognormals do not
    explain is added back (mapped by normalised time), so the unperturbed model gives
    back the source.
    """
    sig = model.source
    step_ms = 1000.0 / model.rate_hz
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("t", "x", "y")}
    chans = {"pressure": sig.pressure, **sig.channels}
    out_ch: dict[str, list[np.ndarray]] = {k: [] for k, v in chans.items() if v is not None}
    pen, first = [], []
    # Time-scale of strokes without components: that of the modelled strokes (median).
    ratios = []
    windows: dict[int, tuple[float, float]] = {}
    for s in model.strokes:
        if s.components.shape[0]:
            w = _window(s.unperturbed, s.components, s.duration_ms / 1000.0)
            windows[s.index] = w
            if s.duration_ms > 0:
                ratios.append((w[1] - w[0]) * 1000.0 / s.duration_ms)
    scale = float(np.median(ratios)) if ratios else 1.0
    drift = np.zeros(2)
    clock = 0.0
    prev: StrokeModel | None = None
    for s in model.strokes:
        if prev is not None:
            # Pen-up (unsampled) gaps keep their source duration.
            clock += s.start_ms - (prev.start_ms + prev.duration_ms)
        if s.index in windows:
            a, b = windows[s.index]
            n = max(1, int(round((b - a) * 1000.0 / step_ms)) + 1)
            tau = a + np.arange(n) * (step_ms / 1000.0)
            dx, dy = displacement(s.components, tau, origin=a)
        else:
            n = max(1, int(round(s.duration_ms * (scale if s.pen_down else 1.0) / step_ms)) + 1)
            dx, dy = np.zeros(n), np.zeros(n)
        res = _resample(s.residual, n) if keep_residual or not s.components.shape[0] else np.zeros((n, 2))
        x = s.x0 + drift[0] + dx + res[:, 0]
        y = s.y0 + drift[1] + dy + res[:, 1]
        if s.pen_down:
            # The next stroke is placed relative to where this one ended, as the pen-up
            # movement of the source would carry it.
            drift = np.array([x[-1] - s.x1, y[-1] - s.y1])
        local = np.arange(n) * step_ms
        cols["t"].append(clock + local)
        cols["x"].append(x)
        cols["y"].append(y)
        for k in out_ch:
            out_ch[k].append(_source_channel(sig, s, chans[k], n))
        pen.append(np.full(n, s.pen_down))
        first.append(np.arange(n) == 0)
        clock += local[-1]
        prev = s
    merged = {k: np.concatenate(v) for k, v in out_ch.items()}
    pressure = merged.pop("pressure", None)
    capture = CaptureContext(time=sig.capture.time, software=sig.capture.software,
                             extra={**dict(sig.capture.extra), **(extra or {})})
    return make_signature(
        t=np.round(np.concatenate(cols["t"]), 3), x=np.round(np.concatenate(cols["x"]), 3),
        y=np.round(np.concatenate(cols["y"]), 3),
        pressure=None if pressure is None else np.clip(pressure, 0.0, 1.0),
        pen_down=np.concatenate(pen), stroke_start=np.concatenate(first), channels=merged,
        device=sig.device, capture=capture, repairs=(note,) if note else (), timing="nominal")
