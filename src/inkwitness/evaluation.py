"""Evaluation protocols and error rates in ISO/IEC 19795-1 terms (FMR, FNMR, EER, DET).

The honest figure is the EER with one global threshold for all users; the per-user
threshold EER is reported separately and labelled as such. Work is spread over every
core with a process pool; results are ordered deterministically, so the same data give
the same score file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import datasets as ds
from .errors import InkwitnessError
from .model import Model
from .verification import Prepared, Verifier, prepare

LABELS = (ds.GENUINE, ds.SKILLED, ds.RANDOM)


@dataclass(frozen=True)
class ScoreRow:
    """One comparison: a questioned sample against a user's enrolment."""

    dataset: str
    user: str
    questioned: str
    label: str
    score: float
    components: tuple[tuple[str, float], ...] = ()


def eer(genuine: Sequence[float], impostor: Sequence[float]) -> tuple[float, float]:
    """Equal error rate and the threshold where FMR = FNMR (scores: higher = genuine)."""
    g = np.sort(np.asarray(genuine, dtype=np.float64))
    i = np.sort(np.asarray(impostor, dtype=np.float64))
    if g.size == 0 or i.size == 0:
        return float("nan"), float("nan")
    thresholds = np.unique(np.concatenate([g, i, [np.inf]]))
    fnmr = np.searchsorted(g, thresholds, side="left") / g.size       # genuine below threshold
    fmr = 1.0 - np.searchsorted(i, thresholds, side="left") / i.size  # impostors at or above
    diff = fnmr - fmr
    k = int(np.argmax(diff >= 0))
    if k == 0:
        return float((fnmr[0] + fmr[0]) / 2), float(thresholds[0])
    # Interpolate between the last threshold with FNMR < FMR and the first with FNMR >= FMR.
    d0, d1 = diff[k - 1], diff[k]
    w = d0 / (d0 - d1) if d1 != d0 else 0.0
    rate = (fnmr[k - 1] + w * (fnmr[k] - fnmr[k - 1]) + fmr[k - 1] + w * (fmr[k] - fmr[k - 1])) / 2
    return float(rate), float(thresholds[k - 1] + w * (thresholds[k] - thresholds[k - 1]))


def fnmr_at_fmr(genuine: Sequence[float], impostor: Sequence[float], target: float) -> float:
    """FNMR at the lowest threshold whose FMR does not exceed ``target``."""
    g = np.asarray(genuine, dtype=np.float64)
    i = np.sort(np.asarray(impostor, dtype=np.float64))
    if g.size == 0 or i.size == 0:
        return float("nan")
    allowed = int(np.floor(target * i.size))
    # Accept scores strictly above the (allowed+1)-th highest impostor score.
    threshold = i[i.size - allowed - 1] if allowed < i.size else -np.inf
    return float(np.mean(g <= threshold))


def det_points(genuine: Sequence[float], impostor: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(FMR, FNMR) over all thresholds, for DET curves."""
    g = np.sort(np.asarray(genuine, dtype=np.float64))
    i = np.sort(np.asarray(impostor, dtype=np.float64))
    thresholds = np.unique(np.concatenate([g, i]))
    fnmr = np.searchsorted(g, thresholds, side="left") / g.size
    fmr = 1.0 - np.searchsorted(i, thresholds, side="left") / i.size
    return fmr, fnmr


@dataclass
class Summary:
    """Error rates of one dataset run."""

    dataset: str
    counts: dict[str, int]
    skilled_eer: float
    random_eer: float
    skilled_threshold: float
    user_threshold_skilled_eer: float
    fnmr_at_fmr: dict[str, dict[str, float]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Human-readable lines, as the CLI prints them."""
        out = [f"dataset {self.dataset}: " + ", ".join(f"{v} {k} comparisons" for k, v in self.counts.items())]
        out.append(f"skilled-forgery EER (global threshold): {100 * self.skilled_eer:.2f} %")
        if not np.isnan(self.random_eer):
            out.append(f"random-forgery EER (global threshold): {100 * self.random_eer:.2f} %")
        out.append(f"skilled-forgery EER with per-user thresholds (not a deployable figure): "
                   f"{100 * self.user_threshold_skilled_eer:.2f} %")
        for kind, rates in self.fnmr_at_fmr.items():
            out.append(f"{kind}: " + ", ".join(f"FNMR {100 * v:.2f} % at FMR {k}" for k, v in rates.items()))
        return out


def summarise(dataset: str, rows: Sequence[ScoreRow]) -> Summary:
    """EERs, FNMR at fixed FMRs and comparison counts from score rows."""
    by = {lab: np.array([r.score for r in rows if r.label == lab]) for lab in LABELS}
    counts = {lab: int(by[lab].size) for lab in LABELS}
    skilled, thr = eer(by[ds.GENUINE], by[ds.SKILLED])
    random, _ = eer(by[ds.GENUINE], by[ds.RANDOM])
    per_user = []
    for user in sorted({r.user for r in rows}):
        g = [r.score for r in rows if r.user == user and r.label == ds.GENUINE]
        f = [r.score for r in rows if r.user == user and r.label == ds.SKILLED]
        if g and f:
            per_user.append(eer(g, f)[0])
    rates: dict[str, dict[str, float]] = {}
    for lab in (ds.SKILLED, ds.RANDOM):
        if by[lab].size and by[ds.GENUINE].size:
            rates[lab] = {f"{100 * t:g} %": fnmr_at_fmr(by[ds.GENUINE], by[lab], t) for t in (0.01, 0.001)}
    return Summary(dataset, counts, skilled, random, thr, float(np.mean(per_user)) if per_user else float("nan"),
                   rates)


def write_scores(rows: Iterable[ScoreRow], path: str | Path) -> None:
    """Write ``dataset,user,questioned,label,score`` rows (higher = more genuine)."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dataset", "user", "questioned", "label", "score"])
        for r in rows:
            writer.writerow([r.dataset, r.user, r.questioned, r.label, f"{r.score:.6f}"])


def read_scores(path: str | Path) -> list[ScoreRow]:
    """Rows of a score file written by :func:`write_scores`."""
    try:
        with open(path, newline="") as fh:
            return [ScoreRow(r["dataset"], r["user"], r["questioned"], r["label"], float(r["score"]))
                    for r in csv.DictReader(fh)]
    except (OSError, KeyError, ValueError) as exc:
        raise InkwitnessError(f"{path}: not a score file ({exc})") from exc


def plot_det(summaries: Sequence[tuple[str, Sequence[ScoreRow]]], path: str | Path) -> None:
    """DET curves (probit axes) of skilled and random forgeries."""
    import matplotlib.pyplot as plt

    from .figures import det_axes, det_curve

    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=120)
    floor = 5e-4
    for name, rows in summaries:
        g = [r.score for r in rows if r.label == ds.GENUINE]
        for lab, style in ((ds.SKILLED, "-"), (ds.RANDOM, "--")):
            imp = [r.score for r in rows if r.label == lab]
            if not imp or not g:
                continue
            fmr, fnmr = det_points(g, imp)
            det_curve(ax, fmr, fnmr, floor, linestyle=style, label=f"{name} {lab} (EER {100 * eer(g, imp)[0]:.2f} %)")
    det_axes(ax, np.array([0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]), floor, fontsize=9)
    ax.plot([-5, 5], [-5, 5], ":", color="0.6", lw=0.8)
    ax.set_xlabel("FMR (%)")
    ax.set_ylabel("FNMR (%)")
    ax.set_title("DET")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


# --- running protocols ----------------------------------------------------------------

def _prepare_path(path: Path) -> Prepared | str:
    try:
        return prepare(ds.read_signature(path))
    except InkwitnessError as exc:
        return f"{path.name}: {exc}"


def _score_trial(args: tuple) -> list[ScoreRow]:
    dataset, trial, preps, model = args
    verifier = Verifier(model).fit([preps[s.path] for s in trial.references], check_consistency=False)
    rows = []
    for label, samples in ((ds.GENUINE, trial.genuine), (ds.SKILLED, trial.skilled), (ds.RANDOM, trial.random)):
        for s in samples:
            if s.path not in preps:
                continue
            comps, _, _ = verifier.components(preps[s.path])
            rows.append(ScoreRow(dataset, trial.user, s.name, label, verifier.model_.fuse(comps),
                                 tuple(sorted(comps.items()))))
    return rows


def workers_default() -> int:
    """Every core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def _pool(workers: int, executor: Executor | None):  # noqa: ANN202
    # A caller's executor (e.g. a Dask cluster's) is used as is and left open.
    return nullcontext(executor) if executor is not None else ProcessPoolExecutor(max_workers=workers)


def prepare_all(paths: Sequence[Path], workers: int, progress: Callable[[int], None] | None = None,
                executor: Executor | None = None) -> tuple[dict[Path, Prepared], list[str]]:
    """Prepare every signature in parallel; returns the prepared ones and the failures."""
    preps: dict[Path, Prepared] = {}
    failures: list[str] = []
    unique = sorted(set(paths))
    with _pool(workers, executor) as pool:
        for path, result in zip(unique, pool.map(_prepare_path, unique)):
            if isinstance(result, str):
                failures.append(result)
            else:
                preps[path] = result
            if progress:
                progress(1)
    return preps, failures


def evaluate(dataset: str, root: Path | None = None, references: int = 5, model: Model | None = None,
             workers: int | None = None, progress: Callable[[str, int, int], None] | None = None,
             executor: Executor | None = None) -> tuple[list[ScoreRow], list[str]]:
    """Run a dataset's fixed protocol; returns score rows (deterministic order) and read failures.

    Work runs on a local process pool over every core, or on ``executor`` (for example a
    Dask cluster's ``client.get_executor()``) when the data outgrow one machine.
    """
    workers = workers or workers_default()
    trials = ds.protocol(ds.catalogue(dataset, root), references)
    if not trials:
        raise InkwitnessError(f"dataset {dataset} has no user with {references} references")
    paths = [s.path for t in trials for s in (*t.references, *t.genuine, *t.skilled, *t.random)]
    n_unique = len(set(paths))
    preps, failures = prepare_all(paths, workers, (lambda k: progress("preparing", k, n_unique)) if progress else None,
                                  executor)
    from .model import default_model

    model = model or default_model()
    rows: list[ScoreRow] = []
    jobs = [(dataset, t, {s.path: preps[s.path] for s in (*t.references, *t.genuine, *t.skilled, *t.random)
                          if s.path in preps}, model)
            for t in trials if all(s.path in preps for s in t.references)]
    with _pool(workers, executor) as pool:
        for result in pool.map(_score_trial, jobs):
            rows.extend(result)
            if progress:
                progress("scoring", 1, len(jobs))
    return rows, failures
