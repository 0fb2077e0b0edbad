"""Global features: one number per signature, each with a name, a definition and a unit.

Lengths are expressed in units of the signature's own size (``height units``: the
standard deviation of y over the pen-down trace), so that devices of any resolution are
comparable; times are in seconds. Dynamic features come from the resampled trace of
:mod:`.timefunctions`. A feature whose input channel is missing (pressure, pen angles)
is NaN: it is absent, and comparisons use only the features both sides have.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from ..signature import Signature
from .timefunctions import COMMON_RATE_HZ, Trace, derivative, normalise, pen_down_segments, smooth


@dataclass(frozen=True)
class Feature:
    """A documented global feature."""

    name: str
    definition: str
    unit: str
    needs: str = ""  # "", "pressure" or "angles"


@dataclass
class _Context:
    sig: Signature
    trace: Trace
    vx: np.ndarray
    vy: np.ndarray
    v: np.ndarray
    ax: np.ndarray
    ay: np.ndarray
    a: np.ndarray
    theta: np.ndarray
    dtheta: np.ndarray
    jerk: np.ndarray
    segments: list[tuple[int, int]]
    stroke_durations: np.ndarray
    gaps: np.ndarray
    dp: np.ndarray | None
    memo: dict[str, np.ndarray] = field(default_factory=dict)


FEATURES: list[Feature] = []
_FUNCS: list[Callable[[_Context], float]] = []


def skew(values: np.ndarray) -> float:
    """Sample skewness (biased, as scipy.stats.skew)."""
    d = values - values.mean()
    m2 = float(np.mean(d * d))
    return float(np.mean(d ** 3) / m2 ** 1.5) if m2 > 0 else 0.0


def kurtosis(values: np.ndarray) -> float:
    """Excess kurtosis (biased, Fisher, as scipy.stats.kurtosis)."""
    d = values - values.mean()
    m2 = float(np.mean(d * d))
    return float(np.mean(d ** 4) / m2 ** 2 - 3.0) if m2 > 0 else 0.0


def _feature(name: str, definition: str, unit: str, needs: str = "") -> Callable:
    def register(fn: Callable[[_Context], float]) -> Callable[[_Context], float]:
        FEATURES.append(Feature(name, definition, unit, needs))
        _FUNCS.append(fn)
        return fn
    return register


def _safe_div(a: float, b: float) -> float:
    return float(a / b) if b not in (0, 0.0) and np.isfinite(b) else 0.0


# --- timing ----------------------------------------------------------------------------
_feature("duration", "time from first to last sample", "s")(lambda c: c.sig.duration_ms / 1000)
_feature("pen_down_duration", "total time with the pen on the surface", "s")(
    lambda c: float(c.stroke_durations.sum()))
_feature("pen_up_duration", "total time between pen-down strokes", "s")(lambda c: float(c.gaps.sum()))
_feature("pen_down_ratio", "pen-down time / total time", "1")(
    lambda c: _safe_div(c.stroke_durations.sum(), c.stroke_durations.sum() + c.gaps.sum()))
_feature("n_strokes", "number of pen-down strokes", "count")(lambda c: float(len(c.segments)))
_feature("mean_stroke_duration", "mean pen-down stroke duration", "s")(lambda c: float(c.stroke_durations.mean()))
_feature("stroke_duration_cv", "std / mean of stroke durations", "1")(
    lambda c: _safe_div(c.stroke_durations.std(), c.stroke_durations.mean()))
_feature("longest_stroke_share", "longest stroke duration / pen-down time", "1")(
    lambda c: _safe_div(c.stroke_durations.max(), c.stroke_durations.sum()))
_feature("first_stroke_share", "first stroke duration / pen-down time", "1")(
    lambda c: _safe_div(c.stroke_durations[0], c.stroke_durations.sum()))
_feature("mean_pen_up_gap", "mean time between strokes (0 for one stroke)", "s")(
    lambda c: float(c.gaps.mean()) if c.gaps.size else 0.0)
_feature("max_pen_up_gap", "longest time between strokes", "s")(
    lambda c: float(c.gaps.max()) if c.gaps.size else 0.0)
_feature("stroke_duration_entropy", "Shannon entropy of stroke-duration shares", "nat")(
    lambda c: float(-(lambda p: (p * np.log(p + 1e-12)).sum())(c.stroke_durations / max(c.stroke_durations.sum(), 1e-9))))
_feature("strokes_per_second", "pen-down strokes / total time", "1/s")(
    lambda c: _safe_div(len(c.segments), c.sig.duration_ms / 1000))


# --- geometry --------------------------------------------------------------------------
def _width(c: _Context) -> float:
    return float(np.ptp(c.trace.x))


def _height(c: _Context) -> float:
    return float(np.ptp(c.trace.y))


def _path_length(c: _Context) -> float:
    if "path_length" not in c.memo:
        steps = np.hypot(np.diff(c.trace.x), np.diff(c.trace.y))[np.diff(c.trace.stroke) == 0]
        c.memo["path_length"] = np.array(steps.sum())
    return float(c.memo["path_length"])


def _percentiles(c: _Context, name: str, values: np.ndarray) -> dict[int, float]:
    # One sort serves every percentile feature of a channel.
    key = f"pct_{name}"
    if key not in c.memo:
        c.memo[key] = np.percentile(values, [5, 10, 25, 75, 90, 95])
    return dict(zip((5, 10, 25, 75, 90, 95), c.memo[key].tolist()))


_feature("aspect_ratio", "bounding-box width / height", "1")(lambda c: _safe_div(_width(c), _height(c)))
_feature("width", "bounding-box width", "height units")(_width)
_feature("height", "bounding-box height", "height units")(_height)
_feature("path_length", "pen-down path length", "height units")(_path_length)
_feature("width_over_path", "bounding-box width / path length", "1")(lambda c: _safe_div(_width(c), _path_length(c)))
_feature("height_over_path", "bounding-box height / path length", "1")(
    lambda c: _safe_div(_height(c), _path_length(c)))
_feature("std_x", "standard deviation of x", "height units")(lambda c: float(c.trace.x.std()))
_feature("centroid_x", "x of the centroid within the bounding box (0 left, 1 right)", "1")(
    lambda c: _safe_div(-c.trace.x.min(), _width(c)))
_feature("centroid_y", "y of the centroid within the bounding box (0 top, 1 bottom)", "1")(
    lambda c: _safe_div(-c.trace.y.min(), _height(c)))
for _which, _idx in (("first", 0), ("last", -1)):
    _feature(f"{_which}_x", f"x of the {_which} pen-down point within the bounding box", "1")(
        lambda c, i=_idx: _safe_div(c.trace.x[i] - c.trace.x.min(), _width(c)))
    _feature(f"{_which}_y", f"y of the {_which} pen-down point within the bounding box", "1")(
        lambda c, i=_idx: _safe_div(c.trace.y[i] - c.trace.y.min(), _height(c)))
_feature("start_end_dx", "x displacement from first to last point / width", "1")(
    lambda c: _safe_div(c.trace.x[-1] - c.trace.x[0], _width(c)))
_feature("start_end_dy", "y displacement from first to last point / height", "1")(
    lambda c: _safe_div(c.trace.y[-1] - c.trace.y[0], _height(c)))
_feature("start_end_angle", "direction from first to last point", "rad")(
    lambda c: float(np.arctan2(c.trace.y[-1] - c.trace.y[0], c.trace.x[-1] - c.trace.x[0])))


def _hull_ratio(c: _Context) -> float:
    pts = np.column_stack([c.trace.x, c.trace.y])
    try:
        area = ConvexHull(pts).volume
    except (QhullError, ValueError):
        return 0.0
    return _safe_div(area, _width(c) * _height(c))


_feature("hull_over_bbox", "convex-hull area / bounding-box area", "1")(_hull_ratio)
_feature("bbox_over_path2", "bounding-box area / path length squared", "1")(
    lambda c: _safe_div(_width(c) * _height(c), _path_length(c) ** 2))
_feature("pen_up_travel", "straight-line distance between consecutive strokes, summed / path length", "1")(
    lambda c: _safe_div(sum(float(np.hypot(c.trace.x[b] - c.trace.x[b - 1], c.trace.y[b] - c.trace.y[b - 1]))
                            for b in np.flatnonzero(np.diff(c.trace.stroke)) + 1), _path_length(c)))
_feature("skew_x", "skewness of x", "1")(lambda c: float(skew(c.trace.x)))
_feature("skew_y", "skewness of y", "1")(lambda c: float(skew(c.trace.y)))
_feature("kurtosis_x", "excess kurtosis of x", "1")(lambda c: float(kurtosis(c.trace.x)))
_feature("kurtosis_y", "excess kurtosis of y", "1")(lambda c: float(kurtosis(c.trace.y)))
_feature("corr_xy", "correlation of x and y", "1")(
    lambda c: float(np.corrcoef(c.trace.x, c.trace.y)[0, 1]) if c.trace.x.std() > 0 else 0.0)
for _qx, _qy, _label in ((1, -1, "upper_right"), (-1, -1, "upper_left"), (-1, 1, "lower_left"), (1, 1, "lower_right")):
    _feature(f"share_{_label}", f"share of samples in the {_label.replace('_', ' ')} quadrant around the centroid",
             "1")(lambda c, qx=_qx, qy=_qy: float(np.mean((np.sign(c.trace.x) == qx) & (np.sign(c.trace.y) == qy))))


# --- direction and curvature -------------------------------------------------------------
def _direction_hist(c: _Context) -> np.ndarray:
    if "direction" in c.memo:
        return c.memo["direction"]
    step = np.hypot(np.diff(c.trace.x), np.diff(c.trace.y))
    ang = np.arctan2(np.diff(c.trace.y), np.diff(c.trace.x))
    hist, _ = np.histogram(ang, bins=8, range=(-np.pi, np.pi), weights=step)
    c.memo["direction"] = hist / max(hist.sum(), 1e-12)
    return c.memo["direction"]


for _k in range(8):
    _lo = -180 + 45 * _k
    _feature(f"direction_{_k}", f"share of path length moving in direction {_lo}..{_lo + 45} degrees "
             "(y down)", "1")(lambda c, k=_k: float(_direction_hist(c)[k]))


def _turn_hist(c: _Context) -> np.ndarray:
    if "turn" in c.memo:
        return c.memo["turn"]
    dtheta = np.abs(np.diff(c.theta))[np.diff(c.trace.stroke) == 0]
    hist, _ = np.histogram(dtheta, bins=[0, 0.05, 0.15, 0.4, np.inf])
    c.memo["turn"] = hist / max(hist.sum(), 1)
    return c.memo["turn"]


for _k, _rng in enumerate(("0-0.05", "0.05-0.15", "0.15-0.4", ">0.4")):
    _feature(f"turn_{_k}", f"share of 10 ms steps turning by {_rng} rad", "1")(
        lambda c, k=_k: float(_turn_hist(c)[k]))
_feature("mean_abs_angular_speed", "mean |d(angle)/dt|", "rad/s")(lambda c: float(np.abs(c.dtheta).mean()))
_feature("std_angular_speed", "std of d(angle)/dt", "rad/s")(lambda c: float(c.dtheta.std()))
_feature("mean_log_radius", "mean log curvature radius log(v / |dtheta/dt|)", "log height units")(
    lambda c: float(np.log((c.v + 1e-3) / (np.abs(c.dtheta) + 1e-3)).mean()))
_feature("std_log_radius", "std of the log curvature radius", "log height units")(
    lambda c: float(np.log((c.v + 1e-3) / (np.abs(c.dtheta) + 1e-3)).std()))
_feature("total_turning", "total absolute turning of the path / pen-down time", "rad/s")(
    lambda c: _safe_div(np.abs(np.diff(c.theta))[np.diff(c.trace.stroke) == 0].sum(), c.stroke_durations.sum()))
_feature("vx_sign_changes", "zero crossings of vx per second of pen-down time", "1/s")(
    lambda c: _safe_div(np.count_nonzero(np.diff(np.sign(c.vx))), c.stroke_durations.sum()))
_feature("vy_sign_changes", "zero crossings of vy per second of pen-down time", "1/s")(
    lambda c: _safe_div(np.count_nonzero(np.diff(np.sign(c.vy))), c.stroke_durations.sum()))
_feature("vx_vy_crossing_ratio", "vx zero crossings / vy zero crossings", "1")(
    lambda c: _safe_div(np.count_nonzero(np.diff(np.sign(c.vx))), np.count_nonzero(np.diff(np.sign(c.vy)))))


# --- velocity --------------------------------------------------------------------------
_feature("mean_speed", "mean pen-down speed", "height units/s")(lambda c: float(c.v.mean()))
_feature("std_speed", "std of pen-down speed", "height units/s")(lambda c: float(c.v.std()))
_feature("max_speed", "maximum pen-down speed", "height units/s")(lambda c: float(c.v.max()))
_feature("median_speed", "median pen-down speed", "height units/s")(lambda c: float(np.median(c.v)))
_feature("p10_speed", "10th percentile of speed", "height units/s")(lambda c: _percentiles(c, "v", c.v)[10])
_feature("p90_speed", "90th percentile of speed", "height units/s")(lambda c: _percentiles(c, "v", c.v)[90])
_feature("speed_cv", "std / mean of speed", "1")(lambda c: _safe_div(c.v.std(), c.v.mean()))
_feature("max_over_mean_speed", "max speed / mean speed", "1")(lambda c: _safe_div(c.v.max(), c.v.mean()))
_feature("speed_q75_over_q25", "75th / 25th percentile of speed", "1")(
    lambda c: _safe_div(_percentiles(c, "v", c.v)[75], _percentiles(c, "v", c.v)[25]))
_feature("avg_speed_path", "path length / pen-down time", "height units/s")(
    lambda c: _safe_div(_path_length(c), c.stroke_durations.sum()))
_feature("mean_vx", "mean signed x velocity", "height units/s")(lambda c: float(c.vx.mean()))
_feature("mean_vy", "mean signed y velocity", "height units/s")(lambda c: float(c.vy.mean()))
_feature("mean_abs_vx", "mean |vx|", "height units/s")(lambda c: float(np.abs(c.vx).mean()))
_feature("mean_abs_vy", "mean |vy|", "height units/s")(lambda c: float(np.abs(c.vy).mean()))
_feature("std_vx", "std of vx", "height units/s")(lambda c: float(c.vx.std()))
_feature("std_vy", "std of vy", "height units/s")(lambda c: float(c.vy.std()))
_feature("max_vx", "maximum vx", "height units/s")(lambda c: float(c.vx.max()))
_feature("min_vx", "minimum vx", "height units/s")(lambda c: float(c.vx.min()))
_feature("max_vy", "maximum vy", "height units/s")(lambda c: float(c.vy.max()))
_feature("min_vy", "minimum vy", "height units/s")(lambda c: float(c.vy.min()))
_feature("positive_vx_share", "share of samples moving rightwards", "1")(lambda c: float(np.mean(c.vx > 0)))
_feature("positive_vy_share", "share of samples moving downwards", "1")(lambda c: float(np.mean(c.vy > 0)))
_feature("time_of_max_speed", "time of the speed maximum / pen-down time", "1")(
    lambda c: _safe_div(float(np.argmax(c.v)), len(c.v)))
_feature("fast_share", "share of samples faster than the mean speed", "1")(lambda c: float(np.mean(c.v > c.v.mean())))
_feature("speed_peaks_per_second", "local maxima of speed per second of pen-down time", "1/s")(
    lambda c: _safe_div(_n_peaks(smooth(c.v)), c.stroke_durations.sum()))
_feature("slow_share", "share of samples slower than 10% of the maximum speed", "1")(
    lambda c: float(np.mean(c.v < 0.1 * c.v.max())))
_feature("speed_first_half_ratio", "mean speed in the first half / second half of the trace", "1")(
    lambda c: _safe_div(c.v[: len(c.v) // 2].mean(), c.v[len(c.v) // 2:].mean()))


def _n_peaks(x: np.ndarray) -> int:
    if x.shape[0] < 3:
        return 0
    return int(np.count_nonzero((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:])))


# --- acceleration and jerk ----------------------------------------------------------------
_feature("mean_acceleration", "mean |acceleration|", "height units/s^2")(lambda c: float(c.a.mean()))
_feature("std_acceleration", "std of |acceleration|", "height units/s^2")(lambda c: float(c.a.std()))
_feature("max_acceleration", "maximum |acceleration|", "height units/s^2")(lambda c: float(c.a.max()))
_feature("mean_ax", "mean signed x acceleration", "height units/s^2")(lambda c: float(c.ax.mean()))
_feature("mean_ay", "mean signed y acceleration", "height units/s^2")(lambda c: float(c.ay.mean()))
_feature("std_ax", "std of x acceleration", "height units/s^2")(lambda c: float(c.ax.std()))
_feature("std_ay", "std of y acceleration", "height units/s^2")(lambda c: float(c.ay.std()))
_feature("mean_abs_centripetal", "mean |v * dtheta/dt|", "height units/s^2")(
    lambda c: float(np.abs(c.v * c.dtheta).mean()))
_feature("mean_jerk", "mean |jerk|", "height units/s^3")(lambda c: float(c.jerk.mean()))
_feature("std_jerk", "std of |jerk|", "height units/s^3")(lambda c: float(c.jerk.std()))
_feature("max_jerk", "maximum |jerk|", "height units/s^3")(lambda c: float(c.jerk.max()))
_feature("accelerating_share", "share of samples where speed increases", "1")(
    lambda c: float(np.mean(np.diff(c.v) > 0)) if c.v.shape[0] > 1 else 0.0)
_feature("acceleration_over_speed", "mean |acceleration| / mean speed", "1/s")(
    lambda c: _safe_div(c.a.mean(), c.v.mean()))


# --- pressure ------------------------------------------------------------------------------
def _p(c: _Context) -> np.ndarray:
    return c.trace.pressure


def _dp(c: _Context) -> np.ndarray:
    return c.dp


_feature("mean_pressure", "mean pen-down pressure", "full scale", "pressure")(lambda c: float(_p(c).mean()))
_feature("std_pressure", "std of pen-down pressure", "full scale", "pressure")(lambda c: float(_p(c).std()))
_feature("max_pressure", "maximum pressure", "full scale", "pressure")(lambda c: float(_p(c).max()))
_feature("min_pressure", "minimum pen-down pressure", "full scale", "pressure")(lambda c: float(_p(c).min()))
_feature("median_pressure", "median pressure", "full scale", "pressure")(lambda c: float(np.median(_p(c))))
_feature("p10_pressure", "10th percentile of pressure", "full scale", "pressure")(
    lambda c: _percentiles(c, "p", _p(c))[10])
_feature("p90_pressure", "90th percentile of pressure", "full scale", "pressure")(
    lambda c: _percentiles(c, "p", _p(c))[90])
_feature("pressure_cv", "std / mean of pressure", "1", "pressure")(lambda c: _safe_div(_p(c).std(), _p(c).mean()))
_feature("mean_abs_dpressure", "mean |dp/dt|", "full scale/s", "pressure")(lambda c: float(np.abs(_dp(c)).mean()))
_feature("std_dpressure", "std of dp/dt", "full scale/s", "pressure")(lambda c: float(_dp(c).std()))
_feature("max_dpressure", "maximum dp/dt", "full scale/s", "pressure")(lambda c: float(_dp(c).max()))
_feature("min_dpressure", "minimum dp/dt", "full scale/s", "pressure")(lambda c: float(_dp(c).min()))
_feature("time_of_max_pressure", "time of the pressure maximum / pen-down time", "1", "pressure")(
    lambda c: _safe_div(float(np.argmax(_p(c))), len(_p(c))))
_feature("skew_pressure", "skewness of pressure", "1", "pressure")(
    lambda c: float(skew(_p(c))) if _p(c).std() > 0 else 0.0)
_feature("kurtosis_pressure", "excess kurtosis of pressure", "1", "pressure")(
    lambda c: float(kurtosis(_p(c))) if _p(c).std() > 0 else 0.0)
_feature("pressure_start", "mean pressure over the first 10% of the trace / mean pressure", "1", "pressure")(
    lambda c: _safe_div(_p(c)[: max(1, len(_p(c)) // 10)].mean(), _p(c).mean()))
_feature("pressure_end", "mean pressure over the last 10% of the trace / mean pressure", "1", "pressure")(
    lambda c: _safe_div(_p(c)[-max(1, len(_p(c)) // 10):].mean(), _p(c).mean()))
_feature("high_pressure_share", "share of samples above the mean pressure", "1", "pressure")(
    lambda c: float(np.mean(_p(c) > _p(c).mean())))
_feature("pressure_speed_corr", "correlation of pressure and speed", "1", "pressure")(
    lambda c: float(np.corrcoef(_p(c), c.v)[0, 1]) if _p(c).std() > 0 and c.v.std() > 0 else 0.0)
_feature("pressure_peaks_per_second", "local maxima of pressure per second of pen-down time", "1/s", "pressure")(
    lambda c: _safe_div(_n_peaks(smooth(_p(c))), c.stroke_durations.sum()))
_feature("pressure_first_half_ratio", "mean pressure in the first half / second half", "1", "pressure")(
    lambda c: _safe_div(_p(c)[: len(_p(c)) // 2].mean(), _p(c)[len(_p(c)) // 2:].mean()))
_feature("pressure_stroke_cv", "std / mean of per-stroke mean pressure", "1", "pressure")(
    lambda c: (lambda m: _safe_div(m.std(), m.mean()))(
        np.array([_p(c)[c.trace.stroke == k].mean() for k in np.unique(c.trace.stroke)])))


# --- pen angles ------------------------------------------------------------------------------
def _angle(c: _Context, name: str) -> np.ndarray | None:
    values = c.sig.channels.get(name)
    return values[c.sig.pen_down] if values is not None else None


for _chan in ("azimuth", "altitude"):
    _feature(f"mean_{_chan}", f"mean pen {_chan} while down", "deg", "angles")(
        lambda c, n=_chan: float(_angle(c, n).mean()))
    _feature(f"std_{_chan}", f"std of pen {_chan} while down", "deg", "angles")(
        lambda c, n=_chan: float(_angle(c, n).std()))
    _feature(f"range_{_chan}", f"range (p95 - p5) of pen {_chan} while down", "deg", "angles")(
        lambda c, n=_chan: (lambda q: q[95] - q[5])(_percentiles(c, n, _angle(c, n))))


FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)


def _context(sig: Signature, trace: Trace | None = None) -> _Context:
    trace = trace if trace is not None else normalise(sig)
    dt = 1.0 / COMMON_RATE_HZ
    vx, vy = derivative(trace.x, dt), derivative(trace.y, dt)
    v = np.hypot(vx, vy)
    theta = np.unwrap(np.arctan2(vy, vx))
    dtheta = np.gradient(theta, dt) if theta.shape[0] > 1 else np.zeros_like(theta)
    ax, ay = derivative(vx, dt), derivative(vy, dt)
    a = np.hypot(ax, ay)
    jerk = np.hypot(derivative(ax, dt), derivative(ay, dt))
    segments = pen_down_segments(sig)
    durations = np.array([(sig.t[b - 1] - sig.t[a]) / 1000 for a, b in segments]) + dt
    gaps = np.array([(sig.t[segments[k + 1][0]] - sig.t[segments[k][1] - 1]) / 1000 for k in range(len(segments) - 1)])
    dp = derivative(trace.pressure, dt) if trace.pressure is not None else None
    return _Context(sig, trace, vx, vy, v, ax, ay, a, theta, dtheta, jerk, segments, durations, gaps, dp)


def global_features(sig: Signature, trace: Trace | None = None, only: Sequence[int] | None = None) -> np.ndarray:
    """Global features of a signature, in ``FEATURE_NAMES`` order (NaN where a channel is missing).

    ``trace`` may pass the signature's already normalised trace to avoid computing it twice;
    ``only`` restricts the work to those feature indices (the rest stay NaN).
    """
    ctx = _context(sig, trace)
    has = {"": True, "pressure": sig.pressure is not None,
           "angles": "azimuth" in sig.channels and "altitude" in sig.channels}
    out = np.full(len(FEATURES), np.nan)
    wanted = range(len(FEATURES)) if only is None else only
    with np.errstate(all="ignore"):
        for i in wanted:
            feat, fn = FEATURES[i], _FUNCS[i]
            if has[feat.needs]:
                value = fn(ctx)
                out[i] = value if np.isfinite(value) else 0.0
    return out


def feature_table_markdown() -> str:
    """The generated documentation table (docs/features.md)."""
    lines = ["| # | name | definition | unit | needs |", "|---|---|---|---|---|"]
    for i, f in enumerate(FEATURES, 1):
        lines.append(f"| {i} | `{f.name}` | {f.definition} | {f.unit} | {f.needs or '-'} |")
    return "\n".join(lines) + "\n"
