"""The FVC protocol on one fingerprint database (FVC2002 DB1_B): scores, EER, FMR100, FMR1000, DET.

FVC: genuine = every pair of impressions of one finger; impostor = the first impression
of each finger against the first of every other. With 10 fingers that is 280 genuine and
45 impostor comparisons, too few impostors to measure any FMR below 2.2 %, so the
"all impostors" protocol (every impression against every impression of other fingers,
2,880 comparisons that are not independent) and an enrolment protocol (impressions 1-3
enrolled, 4-8 probed, best of the three) are reported beside it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .images import read_fingerprint
from .matcher import Extraction, Matcher, extract
from .sample import InvalidFingerprint

DATASET = "fvc2002-db1b"
FOLDER = "fvc2002_db1b"
#: The FVC2002 TIFFs carry no resolution tag; the sensor is 500 ppi.
PPI = 500.0
ENROLLED = 3
_NAME = re.compile(r"^(\d{3})_(\d)\.tif$")


@dataclass(frozen=True)
class Impression:
    """One image of the database: finger id and impression number."""

    finger: str
    impression: int
    path: Path

    @property
    def name(self) -> str:
        """``FFF_I`` as FVC names it."""
        return f"{self.finger}_{self.impression}"


@dataclass(frozen=True)
class Rates:
    """Error rates of one protocol."""

    protocol: str
    n_genuine: int
    n_impostor: int
    eer: float
    fmr100: float
    fmr1000: float
    threshold_eer: float

    def line(self) -> str:
        """One readable summary line."""
        floor = 1.0 / self.n_impostor
        note = f" (FMR resolution {100 * floor:.2g} %)" if floor > 0.001 else ""
        return (f"{self.protocol}: {self.n_genuine} genuine, {self.n_impostor} impostor; EER {100 * self.eer:.2f} %, "
                f"FMR100 {100 * self.fmr100:.2f} %, FMR1000 {100 * self.fmr1000:.2f} %{note}")


@dataclass
class FvcResult:
    """Every score and the rates of each protocol."""

    impressions: list[Impression]
    extractions: list[Extraction]
    scores: np.ndarray
    raw: np.ndarray
    rows: list[tuple[str, str, str, str, int, float]] = field(default_factory=list)
    rates: list[Rates] = field(default_factory=list)

    @property
    def nfiq2(self) -> list[int | None]:
        """NFIQ 2 of every impression, in catalogue order."""
        return [e.nfiq2 for e in self.extractions]

    def lines(self) -> list[str]:
        """The summary as printed by the CLI."""
        q = [v for v in self.nfiq2 if v is not None]
        n = [len(e.template.minutiae) for e in self.extractions]
        out = [f"{DATASET}: {len(self.impressions)} impressions of {len({i.finger for i in self.impressions})} "
               f"fingers; NFIQ 2 min {min(q)}, median {int(np.median(q))}, max {max(q)}; minutiae median "
               f"{int(np.median(n))}",
               "score: bozorth3 (NIST, via nbis-py), best of both directions, / sqrt(minutiae_a * minutiae_b)"]
        return out + [r.line() for r in self.rates]


def catalogue(folder: Path) -> list[Impression]:
    """The impressions in ``folder`` (``FFF_I.tif``), finger then impression order."""
    if not folder.is_dir():
        raise InvalidFingerprint(f"{folder} does not exist")
    found = []
    for path in sorted(folder.iterdir()):
        match = _NAME.match(path.name)
        if match:
            found.append(Impression(match.group(1), int(match.group(2)), path))
    if not found:
        raise InvalidFingerprint(f"{folder} holds no FVC images (FFF_I.tif)")
    return found


def eer(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """Equal error rate as FVC defines it (midpoint of the crossing interval), and the threshold there."""
    ts, fmr, fnmr = _curves(genuine, impostor)
    i1 = int(np.flatnonzero(fnmr <= fmr).max())
    i2 = int(np.flatnonzero(fnmr >= fmr).min())
    if fnmr[i1] + fmr[i1] <= fnmr[i2] + fmr[i2]:
        low, high, t = min(fnmr[i1], fmr[i1]), max(fnmr[i1], fmr[i1]), ts[i1]
    else:
        low, high, t = min(fnmr[i2], fmr[i2]), max(fnmr[i2], fmr[i2]), ts[i2]
    return float((low + high) / 2), float(t)


def fnmr_at(genuine: np.ndarray, impostor: np.ndarray, fmr_target: float) -> float:
    """Lowest FNMR with FMR at most ``fmr_target`` (FMR100: 1 %, FMR1000: 0.1 %)."""
    _, fmr, fnmr = _curves(genuine, impostor)
    return float(fnmr[fmr <= fmr_target].min())


def _curves(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g, im = np.sort(np.asarray(genuine, float)), np.sort(np.asarray(impostor, float))
    ts = np.unique(np.concatenate([g, im]))
    ts = np.append(ts, ts[-1] + 1.0)
    # Accept when score >= threshold.
    fnmr = np.searchsorted(g, ts, side="left") / g.size
    fmr = 1.0 - np.searchsorted(im, ts, side="left") / im.size
    return ts, fmr, fnmr


def rates(protocol: str, genuine: list[float], impostor: list[float]) -> Rates:
    """EER, FMR100 and FMR1000 of one protocol."""
    g, im = np.asarray(genuine), np.asarray(impostor)
    value, threshold = eer(g, im)
    return Rates(protocol, g.size, im.size, value, fnmr_at(g, im, 0.01), fnmr_at(g, im, 0.001), threshold)


def run_fvc(folder: Path, progress: Callable[[str, int, int], None] | None = None) -> FvcResult:
    """Extract every impression, compare every pair once, and score the three protocols."""
    items = catalogue(folder)
    n = len(items)
    tick = progress or (lambda stage, k, total: None)
    extractions = []
    for item in items:
        extractions.append(extract(read_fingerprint(item.path, ppi=PPI), quality=True))
        tick("extract (mindtct, NFIQ 2)", 1, n)
    matcher = Matcher()
    scores, raw = np.full((n, n), np.nan), np.zeros((n, n), dtype=int)
    total = n * (n - 1) // 2
    for i in range(n):
        for j in range(i + 1, n):
            c = matcher.compare(extractions[i].template, extractions[j].template)
            scores[i, j] = scores[j, i] = c.score
            raw[i, j] = raw[j, i] = c.raw
        tick("compare (bozorth3)", n - 1 - i, total)
    result = FvcResult(items, extractions, scores, raw)
    _score_protocols(result)
    return result


def _score_protocols(result: FvcResult) -> None:
    items, s = result.impressions, result.scores
    n = len(items)
    first = {}
    for k, item in enumerate(items):
        first.setdefault(item.finger, k)
    genuine, fvc_impostor, all_impostor = [], [], []
    for i in range(n):
        for j in range(i + 1, n):
            a, b = items[i], items[j]
            if a.finger == b.finger:
                genuine.append(s[i, j])
                result.rows.append((a.name, b.name, "fvc", "genuine", int(result.raw[i, j]), float(s[i, j])))
            else:
                all_impostor.append(s[i, j])
                fvc = first[a.finger] == i and first[b.finger] == j
                if fvc:
                    fvc_impostor.append(s[i, j])
                result.rows.append((a.name, b.name, "fvc" if fvc else "all-impostors", "impostor",
                                    int(result.raw[i, j]), float(s[i, j])))
    result.rates.append(rates("FVC protocol", genuine, fvc_impostor))
    result.rates.append(rates("all impostors", genuine, all_impostor))
    # The unnormalised bozorth3 count, on the same comparisons, shows what the normalisation adds.
    raw = {label: [float(r[4]) for r in result.rows if keep(r)] for label, keep in (
        ("genuine", lambda r: r[3] == "genuine"), ("fvc", lambda r: r[3] == "impostor" and r[2] == "fvc"),
        ("all", lambda r: r[3] == "impostor"))}
    result.rates.append(rates("FVC protocol, raw bozorth3", raw["genuine"], raw["fvc"]))
    result.rates.append(rates("all impostors, raw bozorth3", raw["genuine"], raw["all"]))
    enrol_g, enrol_i = _enrolment_scores(items, s)
    if enrol_g and enrol_i:
        result.rates.append(rates(f"enrolment of impressions 1-{ENROLLED}, best match", enrol_g, enrol_i))


def _enrolment_scores(items: list[Impression], s: np.ndarray) -> tuple[list[float], list[float]]:
    # Several impressions at enrolment: a probe's score is its best against the enrolled ones.
    enrolled: dict[str, list[int]] = {}
    probes = []
    for k, item in enumerate(items):
        if item.impression <= ENROLLED:
            enrolled.setdefault(item.finger, []).append(k)
        else:
            probes.append(k)
    genuine, impostor = [], []
    for finger, refs in enrolled.items():
        for p in probes:
            best = float(np.max(s[refs, p]))
            (genuine if items[p].finger == finger else impostor).append(best)
    return genuine, impostor


def write_scores(result: FvcResult, path: Path) -> None:
    """CSV: a, b, protocol, label, bozorth3 raw score, normalised score."""
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["a", "b", "protocol", "label", "bozorth3", "score"])
        for row in result.rows:
            out.writerow([*row[:5], f"{row[5]:.4f}"])


def plot_det(result: FvcResult, path: Path) -> None:
    """DET curves (FNMR against FMR, normal-deviate axes) of the FVC and all-impostor protocols."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import norm

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ticks = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]
    clip = 0.0005
    for label in ("fvc", "all-impostors"):
        genuine = [r[5] for r in result.rows if r[3] == "genuine"]
        impostor = [r[5] for r in result.rows if r[3] == "impostor" and (label == "all-impostors" or r[2] == "fvc")]
        _, fmr, fnmr = _curves(np.asarray(genuine), np.asarray(impostor))
        name = "FVC (45 impostor)" if label == "fvc" else f"all impostors ({len(impostor)})"
        ax.step(norm.ppf(np.clip(fmr, clip, 1 - clip)), norm.ppf(np.clip(fnmr, clip, 1 - clip)), where="post",
                label=name)
    ax.set_xticks(norm.ppf(ticks), [f"{100 * t:g}" for t in ticks])
    ax.set_yticks(norm.ppf(ticks), [f"{100 * t:g}" for t in ticks])
    ax.set_xlim(norm.ppf(clip), norm.ppf(0.5))
    ax.set_ylim(norm.ppf(clip), norm.ppf(0.5))
    ax.set_xlabel("FMR (%)")
    ax.set_ylabel("FNMR (%)")
    ax.set_title(f"{DATASET}: NIST mindtct + bozorth3, normalised")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
