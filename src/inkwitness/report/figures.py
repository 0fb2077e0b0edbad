"""The report's figures: trajectories, aligned overlay, aligned dynamics, pen timing, Tippett and DET."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..calibration import Calibration  # noqa: E402
from ..evaluation import det_points  # noqa: E402
from ..features.timefunctions import normalise, pen_down_segments  # noqa: E402
from ..figures import det_axes, det_curve, draw_trajectory  # noqa: E402
from ..matching.dtw import dtw_path  # noqa: E402
from ..signature import Signature  # noqa: E402
from .analysis import ReportData  # noqa: E402
from .fonts import matplotlib_font_family  # noqa: E402
from .text import dataset_label  # noqa: E402

LABELS = {
    "en": {"questioned": "questioned", "reference": "reference", "speed": "speed (height units/s)",
           "pressure": "pressure", "time": "time (ms)", "aligned": "closest reference, DTW-aligned",
           "overlay": "overlay after alignment (grey: reference)", "deviating": "most deviating segments",
           "timing": "pen-down intervals", "tippett": "Tippett plot", "det": "DET curve",
           "same": "same writer (H1)", "different": "skilled forgery (H2)", "llr": "log10 LR",
           "fmr": "FMR (%)", "fnmr": "FNMR (%)", "share": "proportion with log10 LR > x", "this": "this case",
           "colorbar": "pressure (0..1)"},
    "zh": {"questioned": "检材", "reference": "样本", "speed": "速度（字高单位/秒）", "pressure": "压力",
           "time": "时间（毫秒）", "aligned": "最接近的样本（DTW对齐）", "overlay": "对齐后叠加（灰色为样本）",
           "deviating": "差异最大的片段", "timing": "落笔时段", "tippett": "Tippett图", "det": "DET曲线",
           "same": "同一人（H1）", "different": "摹仿伪造（H2）", "llr": "log10 似然比", "fmr": "错误接受率（%）",
           "fnmr": "错误拒绝率（%）", "share": "log10 LR > x 的比例", "this": "本案", "colorbar": "压力（0..1）"},
}


def _labels(lang: str) -> dict[str, str]:
    # The CJK font comes first for Chinese so that every label renders; matplotlib falls back
    # to DejaVu Sans per glyph for what it lacks. English figures need no CJK glyph.
    family = matplotlib_font_family() if lang == "zh" else None
    plt.rcParams["font.family"] = [family, "DejaVu Sans"] if family else ["DejaVu Sans"]
    # A true minus sign is missing from some CJK fonts; an ASCII hyphen-minus renders everywhere.
    plt.rcParams["axes.unicode_minus"] = not family
    return LABELS["zh" if lang == "zh" else "en"]


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def trajectories(refs: list[Signature], questioned: Signature, lang: str) -> bytes:
    """Questioned and references side by side, coloured by pressure."""
    lab = _labels(lang)
    n = len(refs) + 1
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.0 * rows))
    axes = np.atleast_1d(axes).ravel()
    draw_trajectory(axes[0], questioned, lab["questioned"], lab["colorbar"])
    for i, ref in enumerate(refs, 1):
        draw_trajectory(axes[i], ref, f"{lab['reference']} {i}", lab["colorbar"])
    for ax in axes[n:]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def _procrustes(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Similarity transform of ``src`` points onto ``dst`` (least squares), applied to ``src``."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    u, s, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    rot = u @ np.diag([1.0, d]) @ vt
    scale = (s * np.array([1.0, d])).sum() / max((a ** 2).sum(), 1e-12)
    return scale * a @ rot + mu_d


def overlay(reference: Signature, questioned: Signature, lang: str) -> bytes:
    """The questioned trace mapped onto the closest reference by DTW-matched points (similarity transform)."""
    lab = _labels(lang)
    ref, q = normalise(reference), normalise(questioned)
    pairs, _ = dtw_path(np.column_stack([q.x, q.y]), np.column_stack([ref.x, ref.y]),
                        window=max(10, 0.15 * max(len(q), len(ref))))
    moved = _procrustes(np.column_stack([q.x, q.y])[pairs[:, 0]], np.column_stack([ref.x, ref.y])[pairs[:, 1]])
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for k in np.unique(ref.stroke):
        m = ref.stroke == k
        ax.plot(ref.x[m], ref.y[m], color="0.6", lw=2.2)
    qs = q.stroke[pairs[:, 0]]
    for k in np.unique(qs):
        m = qs == k
        ax.plot(moved[m, 0], moved[m, 1], color="tab:red", lw=0.9)
    ax.set_aspect("equal", adjustable="datalim")
    ax.invert_yaxis()
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(lab["overlay"], fontsize=9)
    return _png(fig)


def dynamics(reference: Signature, questioned: Signature, data: ReportData, lang: str) -> bytes:
    """Speed and pressure over the questioned time, with the closest reference warped onto it."""
    lab = _labels(lang)
    ref, q = normalise(reference), normalise(questioned)
    dt = 0.01

    def spd(tr):  # noqa: ANN001, ANN202
        return np.hypot(np.gradient(tr.x, dt), np.gradient(tr.y, dt))

    pairs, _ = dtw_path(np.column_stack([q.x, q.y, spd(q) / 20]), np.column_stack([ref.x, ref.y, spd(ref) / 20]),
                        window=max(10, 0.15 * max(len(q), len(ref))))
    panels = [("speed", spd(q), spd(ref))]
    if q.pressure is not None and ref.pressure is not None:
        panels.append(("pressure", q.pressure, ref.pressure))
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, 1.9 * len(panels)), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, (name, qv, rv) in zip(axes, panels):
        warped = np.zeros(len(q))
        counts = np.zeros(len(q))
        np.add.at(warped, pairs[:, 0], rv[pairs[:, 1]])
        np.add.at(counts, pairs[:, 0], 1)
        ax.plot(q.t, warped / np.maximum(counts, 1), color="0.55", lw=1.6, label=lab["aligned"])
        ax.plot(q.t, qv, color="tab:red", lw=0.9, label=lab["questioned"])
        for start, end, _ in data.deviating_segments_ms:
            ax.axvspan(start, end, color="gold", alpha=0.35, lw=0)
        ax.set_ylabel(lab[name], fontsize=8)
    axes[0].legend(fontsize=7, loc="upper right")
    axes[-1].set_xlabel(lab["time"] + " — " + lab["deviating"], fontsize=8)
    fig.tight_layout()
    return _png(fig)


def pen_timing(refs: list[Signature], questioned: Signature, lang: str) -> bytes:
    """Pen-down intervals of every signature on one time axis (pen-up timing at a glance)."""
    lab = _labels(lang)
    sigs = [(lab["questioned"], questioned)] + [(f"{lab['reference']} {i}", r) for i, r in enumerate(refs, 1)]
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(sigs) + 0.8))
    for row, (_, sig) in enumerate(sigs):
        spans = [(sig.t[a], sig.t[b - 1] - sig.t[a]) for a, b in pen_down_segments(sig)]
        ax.broken_barh(spans, (row - 0.35, 0.7), color="tab:red" if row == 0 else "0.5")
    ax.set_yticks(range(len(sigs)))
    ax.set_yticklabels([name for name, _ in sigs], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(lab["time"], fontsize=8)
    ax.set_title(lab["timing"], fontsize=9)
    fig.tight_layout()
    return _png(fig)


def tippett(calibration: Calibration, log10_lr: float, lang: str) -> bytes:
    """Tippett plot of the validation LRs, with this case's LR marked."""
    lab = _labels(lang)
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    for v in calibration.validation[:1]:
        llrs = np.asarray(calibration.log10_lr(v.scores))
        grid = np.linspace(calibration.lower - 0.5, calibration.upper + 0.5, 300)
        for label, style, name in ((1, "-", lab["same"]), (0, "--", lab["different"])):
            values = llrs[v.labels == label]
            ax.plot(grid, [(values > g).mean() for g in grid], style,
                    label=f"{name} ({dataset_label(v.name, lang)})")
    ax.axvline(log10_lr, color="tab:red", lw=1, label=lab["this"])
    ax.set_xlabel(lab["llr"], fontsize=8)
    ax.set_ylabel(lab["share"], fontsize=8)
    ax.set_title(lab["tippett"], fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return _png(fig)


def det(calibration: Calibration, lang: str) -> bytes:
    """DET curve of the validation scores."""
    lab = _labels(lang)
    fig, ax = plt.subplots(figsize=(3.4, 3.0))
    for v in calibration.validation:
        fmr, fnmr = det_points(v.scores[v.labels == 1], v.scores[v.labels == 0])
        det_curve(ax, fmr, fnmr, 5e-3, label=dataset_label(v.name, lang))
    det_axes(ax, np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.4]), 5e-3, fontsize=7)
    ax.set_xlabel(lab["fmr"], fontsize=8)
    ax.set_ylabel(lab["fnmr"], fontsize=8)
    ax.set_title(lab["det"], fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return _png(fig)


__all__ = ["det", "dynamics", "overlay", "pen_timing", "tippett", "trajectories"]
