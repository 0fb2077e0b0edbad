"""The sigma-lognormal equations: speed, velocity, trajectory and their parameter derivatives.

A stroke is a sum of lognormal components (O'Reilly & Plamondon, Pattern Recognition 42,
2009). Component ``i`` has parameters ``(D, t0, mu, sigma, theta_s, theta_e)``; here they
are the rows of a ``K x 6`` array, with time in seconds measured from the stroke's first
sample and ``D`` in device units. Everything is vectorised over components and samples.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

#: Column order of a component array.
PARAMS: tuple[str, ...] = ("D", "t0", "mu", "sigma", "theta_s", "theta_e")
D, T0, MU, SIGMA, THETA_S, THETA_E = range(6)

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _log_time(components: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tau, z, active) per component and sample: tau = t - t0, z = (ln tau - mu) / sigma."""
    tau = t[None, :] - components[:, T0, None]
    active = tau > 0
    safe = np.where(active, tau, 1.0)
    z = (np.log(safe) - components[:, MU, None]) / components[:, SIGMA, None]
    # Before t0 the component has not started: push z to -inf so that speed and distance are 0.
    z = np.where(active, z, -np.inf)
    return safe, z, active


def speeds(components: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Speed |v_i(t)| of each component (K x n), the lognormal of eq. (1) in O'Reilly & Plamondon."""
    tau, z, active = _log_time(components, t)
    with np.errstate(over="ignore", invalid="ignore"):
        s = components[:, D, None] / (components[:, SIGMA, None] * _SQRT_2PI * tau) * np.exp(-0.5 * z * z)
    return np.where(active, s, 0.0)


def fractions(components: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Travelled fraction l_i(t) / D_i of each component (K x n): the normal CDF of z."""
    _, z, _ = _log_time(components, t)
    return ndtr(z)


def directions(components: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Direction theta_i = theta_s + (theta_e - theta_s) l_i / D_i (the component is a circular arc)."""
    return components[:, THETA_S, None] + (components[:, THETA_E, None] - components[:, THETA_S, None]) * frac


def velocity(components: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Velocity (vx, vy) in units/s of the sum of components at times ``t`` (s)."""
    if components.shape[0] == 0:
        return np.zeros_like(t), np.zeros_like(t)
    s = speeds(components, t)
    theta = directions(components, fractions(components, t))
    return (s * np.cos(theta)).sum(axis=0), (s * np.sin(theta)).sum(axis=0)


def displacement(components: np.ndarray, t: np.ndarray, origin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Exact integral of the velocity from ``origin`` to each ``t``: (dx, dy).

    Along one component theta is linear in the travelled distance l, so the integral of
    (cos theta, sin theta) dl is closed form; written with sinc it stays exact as the
    arc flattens (theta_e -> theta_s).
    """
    if components.shape[0] == 0:
        return np.zeros_like(t), np.zeros_like(t)
    f1 = fractions(components, np.array([origin]))
    f2 = fractions(components, t)
    dtheta = (components[:, THETA_E] - components[:, THETA_S])[:, None]
    mid = components[:, THETA_S, None] + dtheta * 0.5 * (f1 + f2)
    chord = components[:, D, None] * (f2 - f1) * np.sinc(dtheta * (f2 - f1) / (2.0 * math.pi))
    return (chord * np.cos(mid)).sum(axis=0), (chord * np.sin(mid)).sum(axis=0)


def velocity_jacobian(components: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Derivatives of (vx, vy) with respect to every parameter: two arrays of shape n x (6K).

    Column ``6 i + j`` is parameter ``j`` of component ``i``; used by the least-squares
    refinement so that it needs no finite differences.
    """
    tau, z, active = _log_time(components, t)
    sig = components[:, SIGMA, None]
    s = np.where(active, components[:, D, None] / (sig * _SQRT_2PI * tau) * np.exp(-0.5 * z * z), 0.0)
    zf = np.where(active, z, 0.0)
    frac = ndtr(z)
    pdf = np.where(active, np.exp(-0.5 * zf * zf) / _SQRT_2PI, 0.0)
    dtheta = components[:, THETA_E, None] - components[:, THETA_S, None]
    theta = components[:, THETA_S, None] + dtheta * frac
    c, sn = np.cos(theta), np.sin(theta)
    # d speed / d parameter and d theta / d parameter, from z = (ln(t - t0) - mu) / sigma.
    ds = np.empty((6,) + s.shape)
    dth = np.zeros((6,) + s.shape)
    ds[D] = np.divide(s, components[:, D, None], out=np.zeros_like(s), where=components[:, D, None] > 0)
    ds[T0] = s * (1.0 + zf / sig) / tau
    ds[MU] = s * zf / sig
    ds[SIGMA] = s * (zf * zf - 1.0) / sig
    ds[THETA_S] = 0.0
    ds[THETA_E] = 0.0
    dth[T0] = dtheta * pdf * (-1.0 / (sig * tau))
    dth[MU] = dtheta * pdf * (-1.0 / sig)
    dth[SIGMA] = dtheta * pdf * (-zf / sig)
    dth[THETA_S] = 1.0 - frac
    dth[THETA_E] = frac
    jx = ds * c - s * sn * dth
    jy = ds * sn + s * c * dth
    # (6, K, n) -> (n, K * 6) with component-major columns.
    return (jx.transpose(2, 1, 0).reshape(t.shape[0], -1), jy.transpose(2, 1, 0).reshape(t.shape[0], -1))


def snr_db(vx: np.ndarray, vy: np.ndarray, vx_hat: np.ndarray, vy_hat: np.ndarray) -> float:
    """Reconstruction SNR on the velocity: 10 log10(sum |v|^2 / sum |v - v_hat|^2), in dB."""
    signal = float(np.sum(vx * vx + vy * vy))
    noise = float(np.sum((vx - vx_hat) ** 2 + (vy - vy_hat) ** 2))
    if noise <= 0.0:
        return math.inf
    if signal <= 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def characteristic_times(sigma: float, mu: float, t0: float) -> tuple[float, float, float]:
    """Times of the first inflection, the peak and the second inflection of a lognormal speed."""
    root = sigma * math.sqrt(0.25 * sigma * sigma + 1.0)
    a = (1.5 * sigma * sigma + root, sigma * sigma, 1.5 * sigma * sigma - root)
    return tuple(t0 + math.exp(mu - ai) for ai in a)  # type: ignore[return-value]
