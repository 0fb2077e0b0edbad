"""Enrolment and verification: ``Template`` from references, ``Verifier.score`` for a questioned sample.

The verifier follows scikit-learn conventions: parameters are set in ``__init__`` and only
stored there, ``fit`` learns the template (``template_``), ``score`` uses it. Each
component is a distance to the references divided by the references' own spread among
themselves (user-specific normalisation), shrunk toward the population's spread because
a handful of references estimate it poorly, so one global threshold serves all users.
Components are fused by a logistic model trained writer-independently on development
datasets (see :mod:`inkwitness.model` and ``docs/accuracy.md``); higher means more genuine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from .errors import EnrolmentError, IncompatibleSignatures
from .features.globalfeatures import FEATURE_NAMES, global_features
from .features.timefunctions import normalise, time_functions, znorm
from .matching.dtw import dtw_kernel
from .model import Model, default_model
from .signature import Signature

MIN_REFERENCES = 3
DEFAULT_REFERENCES = 5


@dataclass(frozen=True)
class Prepared:
    """What verification needs of one signature, computed once."""

    sha256: str
    functions: tuple[str, ...]
    matrix: np.ndarray          # n x d time functions, z-normalised per column
    globals: np.ndarray         # global features (NaN where absent)
    has_pressure: bool
    length: int


def prepare(sig: Signature, model: Model | None = None) -> Prepared:
    """Time functions and global features of a signature.

    With a model, only the global features it uses are computed (the hot path of
    verification); without one, all of them (training, reports).
    """
    trace = normalise(sig)
    names, matrix = time_functions(trace, with_pressure=True)
    only = model.global_index() if model is not None else None
    return Prepared(sig.sha256, names, np.ascontiguousarray(znorm(matrix)), global_features(sig, trace, only),
                    sig.pressure is not None, len(trace))


def view_matrix(prep: Prepared, wanted: Sequence[str]) -> np.ndarray:
    """The z-normalised time functions ``wanted`` of a prepared signature, as a contiguous matrix."""
    idx = [prep.functions.index(n) for n in wanted]
    return np.ascontiguousarray(prep.matrix[:, idx])


def dtw_compare(a: np.ndarray, b: np.ndarray, window_frac: float, min_window: float) -> tuple[float, float]:
    """Banded DTW of two time-function matrices: (cost per path step, share of non-diagonal steps).

    The non-diagonal share measures how much the warping had to stretch time: a forger
    who reproduces the shape with a different rhythm needs more of it than the writer.
    """
    n, m = a.shape[0], b.shape[0]
    window = max(min_window, window_frac * max(n, m))
    cost, length = dtw_kernel(a, b, window, False)
    if not length:
        return math.inf, 1.0
    steps = length - 1
    nondiag = (2 * steps - (n - 1) - (m - 1)) / steps if steps else 0.0
    return cost / length, nondiag


@dataclass
class Template:
    """A person's enrolment: prepared references and their spread among themselves."""

    references: list[Prepared]
    _spread: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict, repr=False)
    _mats: dict[tuple[str, ...], list[np.ndarray]] = field(default_factory=dict, repr=False)
    _summary: dict[tuple[str, ...], tuple[float, float, float]] = field(default_factory=dict, repr=False)

    @property
    def has_pressure(self) -> bool:
        """Whether every reference carries pressure."""
        return all(r.has_pressure for r in self.references)

    def matrices(self, functions: tuple[str, ...]) -> list[np.ndarray]:
        """The references' time-function matrices for a channel set (cached)."""
        if functions not in self._mats:
            self._mats[functions] = [view_matrix(r, functions) for r in self.references]
        return self._mats[functions]

    def pairwise(self, functions: tuple[str, ...], model: Model) -> np.ndarray:
        """(k, k, 2) DTW cost and non-diagonal share among the references (cached per channel set)."""
        if functions not in self._spread:
            k = len(self.references)
            out = np.zeros((k, k, 2))
            mats = self.matrices(functions)
            for i, j in combinations(range(k), 2):
                out[i, j] = out[j, i] = dtw_compare(mats[i], mats[j], model.window_frac, model.min_window)
            self._spread[functions] = out
        return self._spread[functions]

    def spread(self, functions: tuple[str, ...], model: Model) -> tuple[float, float, float]:
        """Mean DTW cost among the references, mean distance to each one's closest other, mean tempo."""
        if functions not in self._summary:
            pair = self.pairwise(functions, model)
            k = pair.shape[0]
            off = ~np.eye(k, dtype=bool)
            self._summary[functions] = (float(pair[:, :, 0][off].mean()),
                                        float(np.mean([pair[i, :, 0][off[i]].min() for i in range(k)])),
                                        float(pair[:, :, 1][off].mean()))
        return self._summary[functions]


@dataclass(frozen=True)
class Verification:
    """The result of scoring one questioned signature against a template."""

    score: float
    decision: str                  # "genuine" or "forgery" at the configured operating point
    threshold: float
    components: dict[str, float]   # each component's own score (higher = more genuine)
    reasons: list[str]
    channels: tuple[str, ...]      # time functions compared

    @property
    def accepted(self) -> bool:
        """Whether the decision is genuine."""
        return self.decision == "genuine"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"score": self.score, "decision": self.decision, "threshold": self.threshold,
                "components": self.components, "reasons": self.reasons, "channels": list(self.channels)}


class Verifier:
    """Enrol with ``fit(references)``, then ``score(questioned)``.

    ``threshold`` overrides the model's operating point (the score above which a sample
    is accepted). ``consistency_limit`` is how many times the others' typical distance one
    reference may lie from them before the enrolment is refused. 1.5 sits above the 99th
    percentile of genuine 5-reference enrolments (1.43 SVC2004 Task2, 1.48 SUSIG Blind,
    1.32 SUSIG Visual) and below the 1st percentile of enrolments with another person's
    signature among them (1.59, 1.47, 1.39).
    """

    def __init__(self, model: Model | None = None, *, threshold: float | None = None,
                 min_references: int = MIN_REFERENCES, consistency_limit: float = 1.5) -> None:
        self.model = model
        self.threshold = threshold
        self.min_references = min_references
        self.consistency_limit = consistency_limit

    @property
    def model_(self) -> Model:
        """The model in use."""
        return self.model or default_model()

    def fit(self, references: Sequence[Signature | Prepared], check_consistency: bool = True) -> Verifier:
        """Build the template from k references; refuse too few or inconsistent ones."""
        if len(references) < self.min_references:
            raise EnrolmentError(f"enrolment needs at least {self.min_references} references, got {len(references)}")
        preps = [r if isinstance(r, Prepared) else prepare(r, self.model_) for r in references]
        if len({p.sha256 for p in preps}) < len(preps):
            raise EnrolmentError("enrolment contains the same signature twice")
        self.template_ = Template(preps)
        if check_consistency:
            self._check_consistency()
        return self

    def _check_consistency(self) -> None:
        model = self.model_
        name, funcs = model.view_functions(self.template_.has_pressure)[0]
        pair = self.template_.pairwise(funcs, model)[:, :, 0]
        k = pair.shape[0]
        per_ref = pair.sum(axis=1) / (k - 1)
        # A reference far from all others (a different signature, a forgery, a broken capture)
        # would inflate the spread and let forgeries through; refuse it by name.
        others = np.array([np.median(np.delete(per_ref, i)) for i in range(k)])
        ratio = per_ref / np.maximum(others, 1e-9)
        worst = int(np.argmax(ratio))
        if ratio[worst] > self.consistency_limit:
            raise EnrolmentError(f"reference {worst + 1} (sha256 {self.template_.references[worst].sha256[:12]}) "
                                 f"does not match the others: its distance to them is {ratio[worst]:.1f}x theirs")

    def components(self, questioned: Signature | Prepared) -> tuple[dict[str, float], tuple[str, ...], list[str]]:
        """Normalised distance components (1 = as far as this person's signatures are expected to be apart)."""
        template = self._template()
        model = self.model_
        q = questioned if isinstance(questioned, Prepared) else prepare(questioned, model)
        use_pressure = template.has_pressure and q.has_pressure
        comps: dict[str, float] = {}
        used: list[str] = []
        for name, funcs in model.view_functions(use_pressure):
            own_mean, own_min, ref_tempo = template.spread(funcs, model)
            prior_mean, prior_min = model.prior_spread(name, use_pressure)
            ref_mean, ref_min = own_mean + prior_mean, own_min + prior_min
            qm = view_matrix(q, funcs)
            d = np.array([dtw_compare(qm, r, model.window_frac, model.min_window)
                          for r in template.matrices(funcs)])
            comps[f"{name}_mean"] = float(d[:, 0].mean() / max(ref_mean, 1e-9))
            comps[f"{name}_min"] = float(d[:, 0].min() / max(ref_min, 1e-9))
            comps[f"{name}_tempo"] = float((d[:, 1].mean() + 0.02) / (ref_tempo + 0.02))
            used.extend(f for f in funcs if f not in used)
        g, reasons = self._global_distance(q, model)
        comps["global"] = g
        return comps, tuple(used), reasons

    def global_deviations(self, q: Prepared, model: Model | None = None,
                          features: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-feature z-scores of a questioned sample against the references: (index, z, mean, sigma).

        Only features present on both sides are returned.
        """
        model = model or self.model_
        refs = np.vstack([r.globals for r in self._template().references])
        selected = model.global_index() if features is None else list(features)
        usable = [i for i in selected if np.isfinite(q.globals[i]) and np.isfinite(refs[:, i]).all()]
        idx = np.array(usable, dtype=np.int64)
        if not usable:
            return idx, np.zeros(0), np.zeros(0), np.zeros(0)
        mu = refs[:, idx].mean(axis=0)
        sd = refs[:, idx].std(axis=0, ddof=1)
        # With 3..5 references the sample std is unreliable; a floor from the population
        # spread keeps one lucky, tight feature from dominating the distance.
        floor = model.global_floor * model.population_std_array[idx]
        sigma = np.maximum(np.sqrt(sd ** 2 + floor ** 2), 1e-12)
        return idx, (q.globals[idx] - mu) / sigma, mu, sigma

    def _global_distance(self, q: Prepared, model: Model) -> tuple[float, list[str]]:
        idx, z, mu, sigma = self.global_deviations(q, model)
        if not idx.size:
            raise IncompatibleSignatures("no global feature is available on both sides")
        capped = np.minimum(np.abs(z), model.global_cap)
        order = np.argsort(-np.abs(z))[:3]
        reasons = [f"{FEATURE_NAMES[idx[i]]}: {q.globals[idx[i]]:.3g} vs reference {mu[i]:.3g} +- {sigma[i]:.2g} "
                   f"(z = {z[i]:+.1f})" for i in order if abs(z[i]) >= 2]
        return float(capped.mean()), reasons

    def score(self, questioned: Signature | Prepared) -> Verification:
        """Score a questioned signature: fused score, components, decision and reasons."""
        comps, funcs, reasons = self.components(questioned)
        model = self.model_
        fused = model.fuse(comps)
        threshold = model.threshold if self.threshold is None else self.threshold
        component_scores = {k: -math.log(max(v, 1e-9)) for k, v in comps.items()}
        if comps["all_min"] > 1.5:
            reasons.insert(0, f"trajectory and dynamics differ from the closest reference by "
                              f"{comps['all_min']:.2f}x the spread expected among this person's signatures")
        if comps["all_tempo"] > 1.5:
            reasons.insert(0, f"rhythm differs: aligning with the references needs {comps['all_tempo']:.1f}x "
                              "the time warping the references need among themselves")
        return Verification(score=fused, decision="genuine" if fused >= threshold else "forgery",
                            threshold=threshold, components=component_scores, reasons=reasons, channels=funcs)

    def _template(self) -> Template:
        template = getattr(self, "template_", None)
        if template is None:
            raise EnrolmentError("the verifier is not enrolled: call fit(references) first")
        return template
