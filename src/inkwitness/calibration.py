"""Scores to likelihood ratios (lir), bounded by what the calibration data support, and verbal scales.

Propositions: H1, the questioned signature was written by the reference writer; H2, it
was written by someone else (calibrated against skilled forgeries, the realistic
alternative in casework, which keeps LRs conservative). The calibrator is lir's
logistic calibrator fitted writer-independently on the development datasets; log10 LRs
are clipped to the empirical lower and upper bounds (ELUB, Vergeer et al. 2016) of the
calibration data, so no LR is larger than the data can support. The calibration data
ship with the model (``models/calibration.json``) and the calibrator is refitted from
them deterministically on load.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from lir.algorithms.bayeserror import elub
from lir.algorithms.logistic_regression import LogitCalibrator
from lir.data.models import LLRData
from lir.metrics import cllr, cllr_min

from .errors import InkwitnessError

CALIBRATION_FORMAT = "inkwitness.calibration/1"


@dataclass
class ScoreSet:
    """Scores with ground truth: 1 = same writer (H1), 0 = skilled forgery (H2)."""

    name: str
    scores: np.ndarray
    labels: np.ndarray
    #: Who and what the comparisons come from (writers, devices, forgery type); optional, and
    #: written to the file only when set so older files and readers stay valid.
    population: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {"name": self.name, "scores": [round(float(s), 6) for s in self.scores],
                               "labels": [int(v) for v in self.labels]}
        if self.population:
            out["population"] = self.population
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreSet:
        """Parse the JSON form."""
        population = data.get("population")
        return cls(str(data["name"]), np.asarray(data["scores"], dtype=np.float64),
                   np.asarray(data["labels"], dtype=np.int64), str(population) if population else None)


def read_score_sets(paths: list[Path], population: str | None = None) -> ScoreSet:
    """Genuine (H1) and skilled-forgery (H2) rows of score files (``dataset,user,questioned,label,score``), pooled."""
    scores: list[float] = []
    labels: list[int] = []
    datasets: list[str] = []
    for path in paths:
        try:
            with open(path, newline="") as fh:
                for row in csv.DictReader(fh):
                    if row["label"] in ("genuine", "skilled"):
                        scores.append(float(row["score"]))
                        labels.append(1 if row["label"] == "genuine" else 0)
                        if row["dataset"] not in datasets:
                            datasets.append(row["dataset"])
        except (OSError, KeyError, ValueError) as exc:
            raise InkwitnessError(f"{path}: not a score file ({exc})") from exc
    if set(labels) != {0, 1}:
        raise InkwitnessError("score files hold no genuine and skilled-forgery comparisons to calibrate on")
    return ScoreSet("+".join(datasets), np.asarray(scores), np.asarray(labels), population)


class Calibration:
    """A fitted score-to-LR mapping with its bounds and its validation figures."""

    def __init__(self, training: ScoreSet, validation: list[ScoreSet]) -> None:
        if set(np.unique(training.labels)) != {0, 1}:
            raise InkwitnessError("calibration data need both same-writer and forgery scores")
        self.training = training
        self.validation = validation
        self._calibrator = LogitCalibrator()
        self._calibrator.fit(training.scores, training.labels)
        raw = self._raw_llr(training.scores)
        self.lower, self.upper = (float(b) for b in elub(raw.copy(), training.labels, add_misleading=1))

    def _raw_llr(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(self._calibrator.transform(np.asarray(scores, dtype=np.float64)), dtype=np.float64)

    def log10_lr(self, score: float | np.ndarray) -> float | np.ndarray:
        """Bounded log10 likelihood ratio for one score or many."""
        values = np.clip(self._raw_llr(np.atleast_1d(score)), self.lower, self.upper)
        return float(values[0]) if np.ndim(score) == 0 else values

    def metrics(self, scores: ScoreSet) -> dict[str, float]:
        """Cllr and Cllr_min of the calibrated LRs on a score set."""
        llrs = np.asarray(self.log10_lr(scores.scores), dtype=np.float64)
        data = LLRData(features=llrs, labels=scores.labels)
        return {"cllr": cllr(data), "cllr_min": cllr_min(data), "n_same": int(scores.labels.sum()),
                "n_different": int((1 - scores.labels).sum())}

    def misleading_rates(self, scores: ScoreSet) -> dict[str, float | None]:
        """Rates of misleading evidence of the calibrated LRs on a score set.

        For H2-true comparisons (skilled forgeries) the share with LR > 1, > 10 and > 100; for
        H1-true comparisons (genuine) the share with LR < 1, < 0.1 and < 0.01. None where a set
        has no comparison of that kind (None, not NaN, so the figures stay valid JSON).
        """
        llrs = np.asarray(self.log10_lr(scores.scores), dtype=np.float64)
        same, different = llrs[scores.labels == 1], llrs[scores.labels == 0]

        def share(values: np.ndarray) -> float | None:
            return float(values.mean()) if values.size else None

        return {"h2_lr_above_1": share(different > 0), "h2_lr_above_10": share(different > 1),
                "h2_lr_above_100": share(different > 2), "h1_lr_below_1": share(same < 0),
                "h1_lr_below_0.1": share(same < -1), "h1_lr_below_0.01": share(same < -2)}

    @cached_property
    def summary(self) -> dict[str, Any]:
        """Bounds and Cllr figures for the training and each validation set."""
        return {"bounds_log10": [self.lower, self.upper], "training": {self.training.name: self.metrics(self.training)},
                "validation": {v.name: self.metrics(v) for v in self.validation}}

    def to_json(self) -> str:
        """Serialise the calibration data (the calibrator is refitted from them)."""
        return json.dumps({"format": CALIBRATION_FORMAT, "training": self.training.to_dict(),
                           "validation": [v.to_dict() for v in self.validation]}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        """Parse serialised calibration data."""
        data = json.loads(text)
        if data.get("format") != CALIBRATION_FORMAT:
            raise InkwitnessError(f"not an {CALIBRATION_FORMAT} file")
        return cls(ScoreSet.from_dict(data["training"]), [ScoreSet.from_dict(v) for v in data["validation"]])


@lru_cache(maxsize=1)
def default_calibration() -> Calibration:
    """The shipped calibration (``inkwitness/models/calibration.json``)."""
    try:
        text = resources.files("inkwitness").joinpath("models/calibration.json").read_text()
    except (FileNotFoundError, OSError) as exc:
        raise InkwitnessError("no calibration shipped; run 'inkwitness calibrate'") from exc
    return Calibration.from_json(text)


# --- verbal scales ------------------------------------------------------------------------

# ENFSI Guideline for Evaluative Reporting in Forensic Science (2015), verbal equivalents.
_ENFSI = [(1, {"en": "no support for either proposition", "zh": "不支持任一假设"}),
          (2, {"en": "weak support", "zh": "弱支持"}),
          (3, {"en": "moderate support", "zh": "中等支持"}),
          (4, {"en": "moderately strong support", "zh": "中等偏强支持"}),
          (5, {"en": "strong support", "zh": "强支持"}),
          (6, {"en": "very strong support", "zh": "很强支持"}),
          (99, {"en": "extremely strong support", "zh": "极强支持"})]


def enfsi_verbal(log10_lr: float, lang: str = "en") -> str:
    """ENFSI verbal equivalent of an LR, naming the proposition supported."""
    magnitude = abs(log10_lr)
    if magnitude < 1e-9:
        return _ENFSI[0][1][lang]
    # 1 < LR <= 10 is weak, 10..100 moderate, 100..1e3 moderately strong, 1e3..1e4 strong,
    # 1e4..1e6 very strong, above extremely strong.
    edges = [1, 2, 3, 4, 6]
    level = 1 + sum(magnitude > e for e in edges)
    term = _ENFSI[level][1][lang]
    # The propositions are worded as in the report's propositions section, and "support" is said once.
    if lang == "zh":
        return f"{term}H1（{PROPOSITIONS['zh']['h1']}）" if log10_lr > 0 else f"{term}H2（{PROPOSITIONS['zh']['h2']}）"
    return (f"{term} for H1 ({PROPOSITIONS['en']['h1']})" if log10_lr > 0
            else f"{term} for H2 ({PROPOSITIONS['en']['h2']})")


#: The propositions at source level, as every report and verbal equivalent words them.
PROPOSITIONS = {
    "en": {"h1": "the questioned signature was written by the writer of the reference signatures",
           "h2": "the questioned signature was written by someone else"},
    "zh": {"h1": "检材签名为样本签名的书写人所写", "h2": "检材签名为他人所写"},
}


# Conclusion tiers (by |log10 LR|) shared by the SWGDOC nine-level scale and GB/T 37239-2018.
_TIERS = (6.0, 4.0, 2.0, 1.0)
_SWGDOC = ["identification", "strong probability the writer did", "probable the writer did",
           "indications the writer did", "no conclusion", "indications the writer did not",
           "probable the writer did not", "strong probability the writer did not", "elimination"]
_GBT = ["肯定是同一人书写", "极可能是同一人书写", "很可能是同一人书写", "倾向认定是同一人书写", "无法判断",
        "倾向否定是同一人书写", "很可能不是同一人书写", "极可能不是同一人书写", "否定是同一人书写"]


def _tier(log10_lr: float) -> int:
    for i, edge in enumerate(_TIERS):
        if log10_lr >= edge:
            return i
    for i, edge in enumerate(_TIERS):
        if log10_lr <= -edge:
            return 8 - i
    return 4


# These terms state how probable a proposition is; reading them off an LR without prior odds
# transposes the conditional. The report no longer derives them: only an examiner, who
# supplies the prior judgement, may state one. Kept for callers of the old API.
def swgdoc_term(log10_lr: float) -> str:
    """SWGDOC / ASTM E1658 nine-level conclusion term (a convention, see docs)."""
    return _SWGDOC[_tier(log10_lr)]


def gbt37239_term(log10_lr: float) -> str:
    """GB/T 37239-2018 conclusion term (a convention, see docs)."""
    return _GBT[_tier(log10_lr)]


MAPPING_NOTE = {
    "en": ("The mapping from LR to the ENFSI verbal scale follows the ENFSI guideline; the mapping to the "
           "SWGDOC nine-level scale and to GB/T 37239-2018 conclusion terms is a convention of this system "
           f"(|log10 LR| >= {_TIERS[0]:g}: identification/elimination, >= {_TIERS[1]:g}: strong probability, "
           f">= {_TIERS[2]:g}: probable, >= {_TIERS[3]:g}: indications, otherwise no conclusion), not part of "
           "those standards."),
    "zh": ("似然比与ENFSI语言等级的对应遵循ENFSI指南；与SWGDOC九级结论及GB/T 37239-2018结论用语的对应为本系统约定"
           f"（|log10 LR| ≥ {_TIERS[0]:g}：肯定/否定；≥ {_TIERS[1]:g}：极可能；≥ {_TIERS[2]:g}：很可能；"
           f"≥ {_TIERS[3]:g}：可能；其余：无法判断），并非上述标准的组成部分。"),
}
