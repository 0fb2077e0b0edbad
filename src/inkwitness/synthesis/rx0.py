"""Sigma-lognormal extraction of one stroke's velocity: RX0 peak by peak, then least squares.

RX0 (O'Reilly & Plamondon 2009, sec. 3) estimates one lognormal in closed form from a
speed peak and its two inflection points; the component's velocity is subtracted and
the next largest residual peak is taken, until the reconstruction is good enough.
A Levenberg-Marquardt fit of all components to (vx, vy) then repairs what the greedy,
sample-quantised estimates leave, when the stroke's SNR is still low.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.special import ndtr

from .lognormal import D, MU, SIGMA, T0, THETA_E, THETA_S, snr_db, velocity, velocity_jacobian

# sigma outside this range is not a handwriting movement but an artefact of a noisy peak.
SIGMA_RANGE = (0.05, 1.5)
# An arc turning more than half a circle is a loop that RX0's three points cannot see.
MAX_TURN = math.pi
# Residual peaks below this share of the stroke's top speed are noise, not movements.
MIN_PEAK_SHARE = 0.03
# A typical sigma of handwriting strokes, for peaks whose inflections lie outside the stroke.
DEFAULT_SIGMA = 0.3


def _peaks(speed: np.ndarray, floor: float, banned: np.ndarray) -> np.ndarray:
    """Indices of local speed maxima above ``floor`` (stroke ends count when they are higher)."""
    n = speed.shape[0]
    if n < 3:
        return np.array([], dtype=np.int64)
    left = np.concatenate(([-np.inf], speed[:-1]))
    right = np.concatenate((speed[1:], [-np.inf]))
    is_peak = (speed >= left) & (speed > right) & (speed > floor) & ~banned
    return np.flatnonzero(is_peak)


def _characteristic_points(t: np.ndarray, speed: np.ndarray, p: int
                           ) -> tuple[float, float | None, float | None, float]:
    """(peak time, first inflection or None, second inflection or None, curvature at the peak).

    The speed is interpolated by a cubic spline so that the points fall between samples:
    at 100 Hz an inflection is only a few samples from its peak, and rounding it to a
    sample would bias sigma by several per cent.
    """
    # The peak's flanks: where the sampled speed stops falling on either side.
    step = np.diff(speed)
    falls_left = np.flatnonzero(step[:p] <= 0)
    rises_right = np.flatnonzero(step[p:] >= 0)
    left_min = int(falls_left[-1]) + 1 if falls_left.size else 0
    right_min = p + int(rises_right[0]) if rises_right.size else t.shape[0] - 1
    lo, hi = max(left_min - 2, 0), min(right_min + 3, t.shape[0])
    if hi - lo < 4:
        return float(t[p]), None, None, 0.0
    cs = CubicSpline(t[lo:hi], speed[lo:hi])
    d1, d2 = cs.derivative(1), cs.derivative(2)
    tp = float(t[p])
    ext = d1.roots(extrapolate=False)
    near = ext[(np.abs(ext - tp) <= t[1] - t[0]) & (d2(ext) < 0)] if ext.size else ext
    if near.size:
        tp = float(near[np.argmin(np.abs(near - tp))])
    # The peak's flanks end at the neighbouring minima (or the window's ends).
    minima = ext[d2(ext) > 0] if ext.size else ext
    left = float(minima[minima < tp].max()) if (minima < tp).any() else float(t[lo])
    right = float(minima[minima > tp].min()) if (minima > tp).any() else float(t[hi - 1])
    infl = d2.roots(extrapolate=False)
    before = infl[(infl > left) & (infl < tp)]
    after = infl[(infl > tp) & (infl < right)]
    t1 = float(before.max()) if before.size else None
    t3 = float(after.min()) if after.size else None
    return tp, t1, t3, float(d2(tp))


def _sigma_from_ratio(beta: float) -> float | None:
    """sigma from beta = v(inflection) / v(peak): sigma^2 = -2 - 2 ln beta - 1 / (2 ln beta)."""
    if not 0.0 < beta < 1.0:
        return None
    lb = math.log(beta)
    s2 = -2.0 - 2.0 * lb - 1.0 / (2.0 * lb)
    return math.sqrt(s2) if s2 > 0 else None


def _from_curvature(t: np.ndarray, vx: np.ndarray, vy: np.ndarray, tp: float, vp: float,
                    curv: float) -> np.ndarray | None:
    """Fallback when both inflections lie outside the stroke (pen put down or lifted mid-movement).

    Near its peak a lognormal is a parabola of width w = sqrt(-v / v''), and for a typical
    sigma that width is sigma * exp(mu - sigma^2); the least-squares fit corrects the rest.
    """
    if curv >= 0:
        return None
    sigma = DEFAULT_SIGMA
    width = math.sqrt(-vp / curv)
    mu = math.log(width / sigma) + sigma * sigma
    a2 = sigma * sigma
    t0 = tp - math.exp(mu - a2)
    dist = math.sqrt(2.0 * math.pi) * vp * sigma * math.exp(mu - a2 + a2 * a2 / (2.0 * sigma * sigma))
    ta, tb = max(tp - width, float(t[0])), min(tp + width, float(t[-1]))
    ang = [math.atan2(np.interp(x, t, vy), np.interp(x, t, vx)) for x in (ta, tp, tb)]
    fa, fp, fb = (float(ndtr((math.log(x - t0) - mu) / sigma)) if x > t0 else 0.0 for x in (ta, tp, tb))
    turn = math.remainder(ang[2] - ang[0], 2.0 * math.pi)
    dtheta = float(np.clip(turn / (fb - fa), -MAX_TURN, MAX_TURN)) if fb > fa else 0.0
    theta_s = ang[1] - dtheta * fp
    comp = np.array([dist, t0, mu, sigma, theta_s, theta_s + dtheta])
    return comp if np.isfinite(comp).all() and dist > 0 else None


def rx0_component(t: np.ndarray, vx: np.ndarray, vy: np.ndarray, p: int) -> np.ndarray | None:
    """One lognormal (6 parameters) from the residual velocity around speed peak ``p``, or None."""
    speed = np.hypot(vx, vy)
    tp, t1, t3, curv = _characteristic_points(t, speed, p)
    vp = float(np.interp(tp, t, speed))
    if vp <= 0:
        return None
    sig_est = [s for s in (_sigma_from_ratio(float(np.interp(ti, t, speed)) / vp) for ti in (t1, t3) if ti is not None)
               if s is not None]
    if not sig_est:
        return _from_curvature(t, vx, vy, tp, vp, curv)
    sigma = float(np.clip(np.mean(sig_est), *SIGMA_RANGE))
    root = sigma * math.sqrt(0.25 * sigma * sigma + 1.0)
    a1, a2, a3 = 1.5 * sigma * sigma + root, sigma * sigma, 1.5 * sigma * sigma - root
    # mu = ln[(t_a - t_b) / (exp(-a_a) - exp(-a_b))] from the most widely spaced pair.
    if t1 is not None and t3 is not None:
        ta, aa, tb, ab = t3, a3, t1, a1
    elif t3 is not None:
        ta, aa, tb, ab = t3, a3, tp, a2
    else:
        ta, aa, tb, ab = tp, a2, t1, a1
    dt = ta - tb
    if dt <= 0:
        return None
    mu = math.log(dt / (math.exp(-aa) - math.exp(-ab)))
    t0 = tp - math.exp(mu - a2)
    dist = math.sqrt(2.0 * math.pi) * vp * sigma * math.exp(mu - a2 + a2 * a2 / (2.0 * sigma * sigma))
    # Direction changes linearly with the travelled fraction Phi(-a / sigma) at each point.
    fp = float(ndtr(-a2 / sigma))
    ang_p = math.atan2(np.interp(tp, t, vy), np.interp(tp, t, vx))
    pts = [(ti, float(ndtr(-ai / sigma))) for ti, ai in ((t1, a1), (t3, a3)) if ti is not None]
    if len(pts) == 2:
        (ta_, fa), (tb_, fb) = pts
    else:
        (ta_, fa), (tb_, fb) = (pts[0], (tp, fp)) if pts[0][0] < tp else ((tp, fp), pts[0])
    ang_a = math.atan2(np.interp(ta_, t, vy), np.interp(ta_, t, vx))
    ang_b = math.atan2(np.interp(tb_, t, vy), np.interp(tb_, t, vx))
    turn = math.remainder(ang_b - ang_a, 2.0 * math.pi)
    dtheta = float(np.clip(turn / (fb - fa), -MAX_TURN, MAX_TURN)) if fb > fa else 0.0
    theta_s = ang_p - dtheta * fp
    comp = np.array([dist, t0, mu, sigma, theta_s, theta_s + dtheta])
    return comp if np.isfinite(comp).all() and dist > 0 else None


def _to_free(comps: np.ndarray) -> np.ndarray:
    # D and sigma are fitted as logarithms: positivity without bounds, so a plain
    # Levenberg-Marquardt (no constrained trust region, no SVD per step) can be used.
    q = comps.copy()
    q[:, D] = np.log(np.maximum(q[:, D], 1e-9))
    q[:, SIGMA] = np.log(q[:, SIGMA])
    return q.reshape(-1)


def _from_free(q: np.ndarray) -> np.ndarray:
    comps = q.reshape(-1, 6).copy()
    comps[:, D] = np.exp(np.minimum(comps[:, D], 50.0))
    comps[:, SIGMA] = np.exp(np.clip(comps[:, SIGMA], -5.0, 1.5))
    return comps


def _plausible(comps: np.ndarray, t: np.ndarray, vmax: float) -> np.ndarray:
    """Per component: handwriting rather than an optimiser's escape.

    Unbounded Levenberg-Marquardt can run off on a jagged velocity (irregular clocks) or
    hide a needle between two samples; such components would show up on resampling.
    """
    sigma, mu = comps[:, SIGMA], comps[:, MU]
    with np.errstate(all="ignore"):
        # Peak speed D / (sigma sqrt(2 pi)) exp(sigma^2 / 2 - mu) and width ~ sigma exp(mu - sigma^2).
        peak = comps[:, D] / (sigma * math.sqrt(2.0 * math.pi)) * np.exp(0.5 * sigma * sigma - mu)
        width = sigma * np.exp(mu - sigma * sigma)
    step = float(t[1] - t[0]) if t.shape[0] > 1 else 0.01
    return (np.isfinite(comps).all(axis=1) & (sigma > 0.02) & (sigma < 3.0) & (mu > -6.0) & (mu < 2.0)
            & (peak < 5.0 * vmax) & (width > 0.25 * step) & (comps[:, T0] > -3.0) & (comps[:, T0] < t[-1]))


def levenberg_marquardt(fun: Callable[[np.ndarray], np.ndarray], jac: Callable[[np.ndarray], np.ndarray],
                        q0: np.ndarray, max_iter: int) -> tuple[np.ndarray, float]:
    """Minimise |fun(q)|^2 by Levenberg-Marquardt with Marquardt's diagonal scaling: (q, cost).

    A plain numpy implementation rather than scipy's MINPACK: the latter's results vary
    from call to call in the last bits, and synthesis must be reproducible from a seed.
    """
    q = q0
    r = fun(q)
    cost = float(r @ r)
    lam = 1e-3
    for _ in range(max_iter):
        j = jac(q)
        a = j.T @ j
        g = j.T @ r
        scale = np.maximum(np.diag(a), 1e-12)
        improved = False
        while lam < 1e10:
            try:
                step = np.linalg.solve(a + lam * np.diag(scale), -g)
            except np.linalg.LinAlgError:
                lam *= 10.0
                continue
            q_new = q + step
            r_new = fun(q_new)
            c_new = float(r_new @ r_new)
            if np.isfinite(c_new) and c_new < cost:
                improved = True
                break
            lam *= 10.0
        if not improved:
            break
        gain = (cost - c_new) / cost if cost > 0 else 0.0
        q, r, cost = q_new, r_new, c_new
        lam = max(lam / 10.0, 1e-9)
        if gain < 1e-6:
            break
    return q, cost


def _fit(t: np.ndarray, vx: np.ndarray, vy: np.ndarray, comps: np.ndarray, max_iter: int) -> np.ndarray:
    """Least-squares fit of ``comps`` to (vx, vy) with the analytic Jacobian."""
    k = comps.shape[0]

    def fun(q: np.ndarray) -> np.ndarray:
        ex, ey = velocity(_from_free(q), t)
        return np.concatenate((ex - vx, ey - vy))

    def jac(q: np.ndarray) -> np.ndarray:
        c = _from_free(q)
        jx, jy = velocity_jacobian(c, t)
        j = np.vstack((jx, jy))
        # Chain rule for the logarithmic parameters: d/d(log p) = p d/dp.
        j[:, D::6] *= c[:, D]
        j[:, SIGMA::6] *= c[:, SIGMA]
        return j

    if 2 * t.shape[0] < 6 * k:
        return comps
    with np.errstate(all="ignore"):
        q, _ = levenberg_marquardt(fun, jac, _to_free(comps), max_iter)
    fitted = _from_free(q)
    # Drop the components that escaped; the caller keeps the fit only if the SNR improved.
    return fitted[_plausible(fitted, t, float(np.hypot(vx, vy).max()))]


def refine(t: np.ndarray, vx: np.ndarray, vy: np.ndarray, comps: np.ndarray, max_iter: int = 25) -> np.ndarray:
    """Least-squares fit of all components of a stroke to its observed velocity (vx, vy)."""
    return _fit(t, vx, vy, comps, max_iter) if comps.shape[0] else comps


def _short_stroke(t: np.ndarray, vx: np.ndarray, vy: np.ndarray) -> tuple[np.ndarray, float]:
    """One component for a stroke too short for inflection points (a dot or a tick): (comps, SNR).

    Its width comes from the discrete curvature of the speed at the peak, or from the
    stroke's duration when the peak has none; least squares then fits the six parameters.
    """
    speed = np.hypot(vx, vy)
    p = int(np.argmax(speed))
    step = float(t[1] - t[0])
    curv = (speed[p - 1] - 2 * speed[p] + speed[p + 1]) / step ** 2 if 0 < p < t.shape[0] - 1 else 0.0
    if curv >= 0:
        curv = -speed[p] / max(float(t[-1] - t[0]) / 3.0, step) ** 2
    comp = _from_curvature(t, vx, vy, float(t[p]), float(speed[p]), float(curv))
    if comp is None:
        return np.zeros((0, 6)), -math.inf
    comps = comp[None, :]
    fitted = _fit(t, vx, vy, comps, 25)
    best = max((comps, fitted), key=lambda c: snr_db(vx, vy, *velocity(c, t)) if c.shape[0] else -math.inf)
    snr = snr_db(vx, vy, *velocity(best, t))
    # Worse than nothing (SNR below 0 dB) is not a model of the stroke.
    return (best, snr) if snr > 0 else (np.zeros((0, 6)), 0.0)


def extract_stroke(t: np.ndarray, vx: np.ndarray, vy: np.ndarray, *, target_snr_db: float = 20.0,
                   refine_below_db: float = 18.0, max_components: int = 40,
                   rounds: int = 3) -> tuple[np.ndarray, float]:
    """Components (K x 6) and velocity SNR (dB) of one stroke's velocity sampled at ``t`` (s)."""
    comps = np.zeros((0, 6))
    top = float(np.hypot(vx, vy).max()) if vx.size else 0.0
    if vx.size < 3 or top <= 0:
        return comps, math.inf if top <= 0 else -math.inf
    # Never more parameters (6 per component) than velocity values (2 per sample).
    max_components = min(max_components, t.shape[0] // 3)
    snr = -math.inf
    for _ in range(rounds):
        ex, ey = velocity(comps, t)
        rx, ry = vx - ex, vy - ey
        banned = np.zeros(t.shape[0], dtype=bool)
        snr = snr_db(vx, vy, ex, ey)
        while snr < target_snr_db and comps.shape[0] < max_components:
            speed = np.hypot(rx, ry)
            peaks = _peaks(speed, MIN_PEAK_SHARE * top, banned)
            if peaks.size == 0:
                break
            p = int(peaks[np.argmax(speed[peaks])])
            comp = rx0_component(t, rx, ry, p)
            banned[max(p - 1, 0):p + 2] = True
            if comp is None:
                continue
            cx, cy = velocity(comp[None, :], t)
            rx, ry = rx - cx, ry - cy
            comps = np.vstack((comps, comp))
            snr = snr_db(vx, vy, vx - rx, vy - ry)
        if comps.shape[0] == 0:
            comps, snr = _short_stroke(t, vx, vy)
        if snr >= refine_below_db or comps.shape[0] == 0:
            break
        fitted = refine(t, vx, vy, comps)
        # Components the fit shrank to nothing only cost time in synthesis.
        fitted = fitted[fitted[:, D] > 1e-4 * max(float(fitted[:, D].sum()), 1e-12)]
        ex, ey = velocity(fitted, t)
        new_snr = snr_db(vx, vy, ex, ey)
        if new_snr >= snr:
            comps, snr = fitted, new_snr
        if snr >= target_snr_db or comps.shape[0] >= max_components:
            break
    return comps, snr


__all__ = ["extract_stroke", "refine", "rx0_component"]
