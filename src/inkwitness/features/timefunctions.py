"""Time functions: per-sample signals derived from a signature, on a device-independent time base.

Devices differ in rate (75..500 Hz), resolution and channels, so every comparison starts
from :func:`normalise`: pen-down samples only, resampled by time to a common rate,
positions centred and scaled by the signature's size. Derivatives are taken after light
smoothing, because integer tablet coordinates make raw finite differences noisy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, savgol_coeffs, sosfiltfilt

from ..signature import Signature
from . import context as ctx
from .context import context_functions
from .pathsignature import signature_functions

#: The common rate every signature is resampled to before comparison.
COMMON_RATE_HZ = 100.0
# A Savitzky-Golay window of 70 ms (7 samples at 100 Hz) removes quantisation noise
# without flattening the fastest pen movements (~10-15 Hz).
SMOOTH_WINDOW = 7
SMOOTH_ORDER = 2
# Precomputed Savitzky-Golay kernels: one convolution smooths or differentiates, which is
# an order of magnitude cheaper than scipy's per-call fit of the edges.
_SMOOTH_KERNEL = savgol_coeffs(SMOOTH_WINDOW, SMOOTH_ORDER, use="conv")
_DERIV_KERNEL = savgol_coeffs(SMOOTH_WINDOW, SMOOTH_ORDER, deriv=1, use="conv")
_HALF = SMOOTH_WINDOW // 2
# DsDTW (Jiang et al., IEEE TIFS 2022) low-passes trajectories at 15 Hz before taking
# derivatives: pen movements carry almost nothing above that, quantisation noise does.
LOWPASS_HZ = 15.0
_LOWPASS = butter(4, LOWPASS_HZ / (COMMON_RATE_HZ / 2), output="sos")
# The constant in the log curvature radius keeps straight, slow segments finite (DsDTW's 0.05,
# on positions normalised by the signature's size and speeds in size units per second).
LOG_RADIUS_EPS = 0.05


@dataclass(frozen=True)
class Trace:
    """A signature's pen-down trajectory on the common time base."""

    t: np.ndarray          # ms, pen-down time only (pen-up gaps removed)
    x: np.ndarray          # centred, in units of the signature's height scale
    y: np.ndarray
    pressure: np.ndarray | None
    stroke: np.ndarray     # stroke index per sample (pen-down strokes only)
    scale: float           # device units per normalised unit

    def __len__(self) -> int:
        return int(self.t.shape[0])


def pen_down_segments(sig: Signature) -> list[tuple[int, int]]:
    """(start, stop) index ranges of the pen-down strokes."""
    return [(s.start, s.stop) for s in sig.strokes if s.pen_down]


def normalise(sig: Signature, rate_hz: float = COMMON_RATE_HZ) -> Trace:
    """Resample pen-down strokes to ``rate_hz`` and normalise position and size."""
    step = 1000.0 / rate_hz
    ts, xs, ys, ps, ks = [], [], [], [], []
    offset = 0.0
    for k, (a, b) in enumerate(pen_down_segments(sig)):
        t = sig.t[a:b]
        local = t - t[0]
        grid = np.arange(0.0, local[-1] + 1e-9, step) if local[-1] > 0 else np.zeros(1)
        ts.append(grid + offset)
        xs.append(np.interp(grid, local, sig.x[a:b]))
        ys.append(np.interp(grid, local, sig.y[a:b]))
        if sig.pressure is not None:
            ps.append(np.interp(grid, local, sig.pressure[a:b]))
        ks.append(np.full(grid.shape[0], k, dtype=np.int32))
        offset += grid[-1] + step
    x, y = np.concatenate(xs), np.concatenate(ys)
    # Size normalisation by the spread of y keeps long names and short initials comparable
    # without letting one long horizontal flourish dominate (x spread varies more).
    scale = float(np.std(y)) or float(np.std(x)) or 1.0
    return Trace(
        t=np.concatenate(ts),
        x=(x - x.mean()) / scale,
        y=(y - y.mean()) / scale,
        pressure=np.concatenate(ps) if ps else None,
        stroke=np.concatenate(ks),
        scale=scale,
    )


def _convolve(values: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    padded = np.pad(values.astype(np.float64, copy=False), _HALF, mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def smooth(values: np.ndarray) -> np.ndarray:
    """Savitzky-Golay smoothing (edges padded with the end values), a no-op on very short inputs."""
    if values.shape[0] <= SMOOTH_WINDOW:
        return values.astype(np.float64, copy=True)
    return _convolve(values, _SMOOTH_KERNEL)


def derivative(values: np.ndarray, dt_s: float) -> np.ndarray:
    """Smoothed first derivative per second on a uniform time base (Savitzky-Golay)."""
    if values.shape[0] < 2:
        return np.zeros_like(values, dtype=np.float64)
    if values.shape[0] <= SMOOTH_WINDOW:
        return np.gradient(values.astype(np.float64), dt_s)
    return _convolve(values, _DERIV_KERNEL) / dt_s


def lowpass(values: np.ndarray) -> np.ndarray:
    """Zero-phase 15 Hz Butterworth low-pass on the common time base (a copy for very short inputs)."""
    if values.shape[0] <= 15:
        return values.astype(np.float64, copy=True)
    return sosfiltfilt(_LOWPASS, values.astype(np.float64, copy=False), padlen=min(15, values.shape[0] - 1))


def speed(sig: Signature) -> tuple[np.ndarray, np.ndarray]:
    """Pen speed in device units per second at the original samples (for plots): (t, speed)."""
    out = np.zeros(len(sig))
    for a, b in pen_down_segments(sig):
        if b - a >= 2:
            dt = np.maximum(np.diff(sig.t[a:b]), 1e-3) / 1000.0
            v = np.hypot(np.diff(sig.x[a:b]), np.diff(sig.y[a:b])) / dt
            out[a + 1:b] = v
            out[a] = v[0]
    return sig.t.copy(), out


#: Names of the columns :func:`time_functions` returns, pressure-free first.
GEOMETRIC = ("x", "y", "vx", "vy", "speed", "cos_angle", "sin_angle", "angular_speed", "log_radius",
             "acceleration", "centripetal", "ax", "ay")
PRESSURE = ("pressure", "dpressure")
#: The DsDTW set: low-passed trajectory, speed, path direction, log curvature radius, change of
#: speed, total acceleration, v * |dtheta| (pressure and its derivative in ``DSDTW_PRESSURE``).
DSDTW = ("lp_x", "lp_y", "lp_speed", "lp_cos", "lp_sin", "lp_log_radius", "lp_dspeed", "lp_acceleration",
         "lp_v_dtheta")
DSDTW_PRESSURE = ("lp_pressure", "lp_dpressure")
#: Path-signature terms (features/pathsignature.py) compared by DTW: window position, time-weighted
#: displacements and the signed areas between time, x and y (the symmetric level-2 terms are
#: functions of level 1 under base-point augmentation, so they add nothing).
PATH_SIGNATURE = ("ps_x", "ps_y", "ps_tx", "ps_ty", "ps_area_tx", "ps_area_ty", "ps_area_xy")
PATH_SIGNATURE_PRESSURE = ("ps_p", "ps_tp", "ps_area_tp", "ps_area_xp", "ps_area_yp")
#: Name prefixes of the columns only ``time_functions(..., extended=True)`` computes.
EXTENDED_PREFIXES = ("ps_", "ctx_")


def _np_gradient(values: np.ndarray, dt_s: float) -> np.ndarray:
    return np.gradient(values, dt_s) if values.shape[0] > 1 else np.zeros_like(values)


def dsdtw_functions(trace: Trace, with_pressure: bool = True) -> dict[str, np.ndarray]:
    """The DsDTW time functions of a normalised trace, 15 Hz low-passed before derivatives."""
    dt = 1.0 / COMMON_RATE_HZ
    x, y = lowpass(trace.x), lowpass(trace.y)
    vx, vy = _np_gradient(x, dt), _np_gradient(y, dt)
    v = np.hypot(vx, vy)
    theta = np.unwrap(np.arctan2(vy, vx))
    dtheta = _np_gradient(theta, dt)
    dv = _np_gradient(v, dt)
    cols = {"lp_x": x, "lp_y": y, "lp_speed": v, "lp_cos": np.cos(theta), "lp_sin": np.sin(theta),
            "lp_log_radius": np.log((v + LOG_RADIUS_EPS) / (np.abs(dtheta) + LOG_RADIUS_EPS)),
            "lp_dspeed": dv, "lp_acceleration": np.hypot(dv, v * dtheta), "lp_v_dtheta": v * np.abs(dtheta)}
    if with_pressure and trace.pressure is not None:
        p = lowpass(trace.pressure)
        cols["lp_pressure"] = p
        cols["lp_dpressure"] = _np_gradient(p, dt)
    return cols


def time_functions(trace: Trace, with_pressure: bool = True, lowpassed: bool = True,
                   extended: bool = False) -> tuple[tuple[str, ...], np.ndarray]:
    """Per-sample time functions of a normalised trace: (names, n x d matrix).

    ``lowpassed`` adds the DsDTW set; ``extended`` the path-signature and contextual columns.
    """
    dt = 1.0 / COMMON_RATE_HZ
    cols: dict[str, np.ndarray] = {"x": trace.x, "y": trace.y}
    vx, vy = derivative(trace.x, dt), derivative(trace.y, dt)
    v = np.hypot(vx, vy)
    theta = np.unwrap(np.arctan2(vy, vx))
    dtheta = np.gradient(theta, dt) if theta.shape[0] > 1 else np.zeros_like(theta)
    ax, ay = derivative(vx, dt), derivative(vy, dt)
    cols.update(vx=vx, vy=vy, speed=v, cos_angle=np.cos(theta), sin_angle=np.sin(theta),
                angular_speed=dtheta,
                log_radius=np.log((v + 1e-3) / (np.abs(dtheta) + 1e-3)),
                acceleration=np.hypot(ax, ay), centripetal=v * dtheta, ax=ax, ay=ay)
    names = list(GEOMETRIC)
    if with_pressure and trace.pressure is not None:
        cols["pressure"] = trace.pressure
        cols["dpressure"] = derivative(trace.pressure, dt)
        names += list(PRESSURE)
    if lowpassed:
        cols.update(dsdtw_functions(trace, with_pressure))
        names += list(DSDTW)
        if "lp_pressure" in cols:
            names += list(DSDTW_PRESSURE)
    if extended:
        channels = {"x": trace.x, "y": trace.y}
        if "pressure" in cols:
            channels["p"] = trace.pressure
        signature = signature_functions(trace.t, channels)
        context = context_functions(cols, ctx.BASE) | context_functions(cols, ctx.BASE_NO_PRESSURE)
        cols.update(signature, **context)
        names += [n for n in (*PATH_SIGNATURE, *PATH_SIGNATURE_PRESSURE) if n in signature]
        names += [n for n in dict.fromkeys((*ctx.names(ctx.BASE), *ctx.names(ctx.BASE_NO_PRESSURE))) if n in context]
    return tuple(names), np.column_stack([cols[n] for n in names])


def znorm(matrix: np.ndarray) -> np.ndarray:
    """Column-wise zero mean, unit variance (constant columns become zero)."""
    std = matrix.std(axis=0)
    std[std < 1e-9] = 1.0
    return (matrix - matrix.mean(axis=0)) / std
