"""Matplotlib figures of signatures, shared by the CLI and the forensic report."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from .features.timefunctions import pen_down_segments, speed  # noqa: E402
from .signature import Signature  # noqa: E402


def draw_trajectory(ax: plt.Axes, sig: Signature, title: str = "", colorbar_label: str = "pressure (0..1)") -> None:
    """Pen-down strokes coloured by pressure (grey when the device has none), y downwards."""
    segments, colours = [], []
    for a, b in pen_down_segments(sig):
        if b - a < 2:
            continue
        pts = np.column_stack([sig.x[a:b], sig.y[a:b]])
        segments.extend(np.stack([pts[:-1], pts[1:]], axis=1))
        if sig.pressure is not None:
            colours.extend(sig.pressure[a + 1:b])
    lc = LineCollection(segments, linewidths=1.6, cmap="viridis" if colours else None,
                        colors=None if colours else "0.2")
    if colours:
        lc.set_array(np.asarray(colours))
        lc.set_clim(0, 1)
    ax.add_collection(lc)
    hover = ~sig.pen_down
    if hover.any():
        ax.plot(sig.x[hover], sig.y[hover], ".", ms=1.5, color="0.7", label="hover")
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")
    ax.invert_yaxis()
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    if colours:
        plt.colorbar(lc, ax=ax, fraction=0.03, pad=0.01, label=colorbar_label)


def plot_signature(sig: Signature, path: str | Path, title: str = "") -> None:
    """Write a PNG: trajectory coloured by pressure, then speed and pressure over time."""
    fig = plt.figure(figsize=(8, 7), dpi=120)
    grid = fig.add_gridspec(3, 1, height_ratios=[3, 1, 1], hspace=0.35)
    draw_trajectory(fig.add_subplot(grid[0]), sig, title or f"{len(sig)} points, {sig.n_strokes} strokes, "
                    f"{sig.duration_ms / 1000:.2f} s, SHA-256 {sig.sha256[:16]}...")
    t, v = speed(sig)
    ax = fig.add_subplot(grid[1])
    ax.plot(t, np.where(sig.pen_down, v, np.nan), lw=0.8, color="tab:blue")
    ax.set_ylabel("speed\n(units/s)")
    ax = fig.add_subplot(grid[2], sharex=ax)
    if sig.pressure is not None:
        ax.plot(sig.t, sig.pressure, lw=0.8, color="tab:red")
        ax.set_ylim(0, 1.05)
    else:
        ax.text(0.5, 0.5, "no pressure channel", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("pressure")
    ax.set_xlabel("time (ms)")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def det_axes(ax: plt.Axes, ticks: np.ndarray, floor: float, fontsize: float = 8) -> None:
    """Probit (normal-deviate) axes for DET curves, ticked in percent from ``floor`` to 50 %."""
    from scipy.stats import norm

    labels = [f"{100 * t:g}" for t in ticks]
    ax.set_xticks(norm.ppf(ticks))
    ax.set_xticklabels(labels, fontsize=fontsize)
    ax.set_yticks(norm.ppf(ticks))
    ax.set_yticklabels(labels, fontsize=fontsize)
    ax.set_xlim(norm.ppf(floor), norm.ppf(0.5))
    ax.set_ylim(norm.ppf(floor), norm.ppf(0.5))


def det_curve(ax: plt.Axes, fmr: np.ndarray, fnmr: np.ndarray, floor: float, **style: object) -> None:
    """Plot one DET curve on probit axes, clipping rates to ``floor`` .. 50 %."""
    from scipy.stats import norm

    ax.plot(norm.ppf(np.clip(fmr, floor, 0.5)), norm.ppf(np.clip(fnmr, floor, 0.5)), **style)
