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
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from .errors import ComparisonBudgetExceeded, EnrolmentError, IncompatibleSignatures
from .features.globalfeatures import FEATURE_NAMES, global_features
from .features.timefunctions import EXTENDED_PREFIXES, normalise, time_functions, znorm
from .matching.dtw import dtw_kernel
from .matching.codebook import Codebook, fit_codebook, own_mismatch
from .matching.template import MeanTemplate, mean_template
from .model import Model, default_model
from .signature import Signature

MIN_REFERENCES = 3
DEFAULT_REFERENCES = 5

#: Monotonic time after which comparisons stop with ComparisonBudgetExceeded (None: no limit).
#: Set per request by :func:`comparison_budget`; checked before each DTW comparison.
DEADLINE: ContextVar[float | None] = ContextVar("inkwitness_comparison_deadline", default=None)


def check_deadline() -> None:
    """Raise ComparisonBudgetExceeded if this context's comparison deadline has passed."""
    deadline = DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline:
        raise ComparisonBudgetExceeded("the comparison ran past this request's time budget and was stopped; "
                                       "the server is busy: try again later")


@contextmanager
def comparison_budget(seconds: float | None) -> Iterator[None]:
    """Within the block, comparisons stop after ``seconds`` (None or <= 0: no budget; a budget already
    set outside is kept if it ends sooner)."""
    if not seconds or seconds <= 0:
        yield
        return
    deadline = time.monotonic() + seconds
    outer = DEADLINE.get()
    token = DEADLINE.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        DEADLINE.reset(token)


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

    With a model, only the global features it uses are computed, and the path-signature and
    contextual columns only if its views compare them (the hot path of verification);
    without one, all of them (training, reports).
    """
    trace = normalise(sig)
    extended = model is None or any(f.startswith(EXTENDED_PREFIXES)
                                    for _, p, g in model.views for f in (*p, *g))
    names, matrix = time_functions(trace, with_pressure=True, extended=extended)
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
    check_deadline()
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
    _means: dict[tuple[str, ...], tuple[MeanTemplate, float]] = field(default_factory=dict, repr=False)
    _codebooks: dict[tuple[str, ...], tuple[Codebook, tuple[float, float]]] = field(default_factory=dict, repr=False)

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

    def per_reference(self, functions: tuple[str, ...], model: Model) -> np.ndarray:
        """Each reference's mean DTW cost to the other references."""
        pair = self.pairwise(functions, model)[:, :, 0]
        return pair.sum(axis=1) / max(pair.shape[0] - 1, 1)

    def mean_template(self, functions: tuple[str, ...], model: Model) -> tuple[MeanTemplate, float]:
        """The references' stability-weighted mean template and their mean distance to it (cached)."""
        if functions not in self._means:
            mats = self.matrices(functions)
            template = mean_template(mats, model.window_frac, model.min_window)
            own = float(np.mean([template.distance(m, model.window_frac, model.min_window) for m in mats]))
            self._means[functions] = (template, own)
        return self._means[functions]

    def codebook(self, functions: tuple[str, ...]) -> tuple[Codebook, tuple[float, float]]:
        """The references' VQ codebook and their own leave-one-out mismatch against it (cached)."""
        if functions not in self._codebooks:
            mats = self.matrices(functions)
            self._codebooks[functions] = (fit_codebook(mats), own_mismatch(mats))
        return self._codebooks[functions]


@dataclass(frozen=True)
class Measurement:
    """What comparing one questioned sample with a template measured, before any learned scaling.

    Components (:func:`components_of`) are derived from it with a model's population
    statistics, so training can refit those statistics per fold without repeating the DTWs.
    """

    with_pressure: bool
    views: dict[str, np.ndarray]                      # view -> (k, 2): cost per step, non-diagonal share
    spreads: dict[str, tuple[float, float, float]]    # view -> references' own mean, nearest, tempo
    per_reference: dict[str, np.ndarray]              # view -> (k,) each reference's mean cost to the others
    template: tuple[float, float] | None              # (questioned, references' mean) cost to the mean template
    questioned_globals: np.ndarray
    reference_globals: np.ndarray                     # (k, n_features)
    # Questioned (distortion, usage chi-square) against the VQ codebook, and the references' own.
    codebook: tuple[float, float, float, float] | None = None


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

    def measure(self, questioned: Signature | Prepared) -> Measurement:
        """DTW distances to every reference and to the mean template, and the global features of both sides."""
        template = self._template()
        model = self.model_
        q = questioned if isinstance(questioned, Prepared) else prepare(questioned, model)
        use_pressure = template.has_pressure and q.has_pressure
        views, spreads, per_ref = {}, {}, {}
        for name, funcs in model.view_functions(use_pressure):
            qm = view_matrix(q, funcs)
            views[name] = np.array([dtw_compare(qm, r, model.window_frac, model.min_window)
                                    for r in template.matrices(funcs)])
            spreads[name] = template.spread(funcs, model)
            per_ref[name] = template.per_reference(funcs, model)
        mean = None
        if model.template_view:
            check_deadline()
            funcs = dict(model.view_functions(use_pressure))[model.template_view]
            mt, own = template.mean_template(funcs, model)
            mean = (mt.distance(view_matrix(q, funcs), model.window_frac, model.min_window), own)
        vq = None
        if model.codebook_view:
            check_deadline()
            funcs = dict(model.view_functions(use_pressure))[model.codebook_view]
            book, (own_distortion, own_usage) = template.codebook(funcs)
            vq = (*book.mismatch(view_matrix(q, funcs)), own_distortion, own_usage)
        return Measurement(use_pressure, views, spreads, per_ref, mean, q.globals,
                           np.vstack([r.globals for r in template.references]), vq)

    def components(self, questioned: Signature | Prepared) -> tuple[dict[str, float], tuple[str, ...], list[str]]:
        """Normalised distance components (1 = as far as this person's signatures are expected to be apart)."""
        model = self.model_
        q = questioned if isinstance(questioned, Prepared) else prepare(questioned, model)
        m = self.measure(q)
        comps, reasons = _components_and_reasons(m, model)
        used: list[str] = []
        for _, funcs in model.view_functions(m.with_pressure):
            used.extend(f for f in funcs if f not in used)
        return comps, tuple(used), reasons

    def global_deviations(self, q: Prepared, model: Model | None = None,
                          features: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-feature z-scores of a questioned sample against the references: (index, z, mean, sigma).

        Only features present on both sides are returned.
        """
        refs = np.vstack([r.globals for r in self._template().references])
        return deviations(q.globals, refs, model or self.model_, features)

    def score(self, questioned: Signature | Prepared) -> Verification:
        """Score a questioned signature: fused score, components, decision and reasons."""
        comps, funcs, reasons = self.components(questioned)
        model = self.model_
        fused = model.fuse(comps)
        threshold = model.threshold if self.threshold is None else self.threshold
        # Only what the fusion weighs is reported: the other components carried no weight in the score.
        component_scores = {k: -math.log(max(comps.get(k, 1.0), 1e-9)) for k in model.fusion_components}
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


def deviations(questioned: np.ndarray, references: np.ndarray, model: Model,
               features: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-feature z-scores of questioned global features against (k, n) reference ones: (index, z, mean, sigma)."""
    selected = model.global_index() if features is None else list(features)
    usable = [i for i in selected if np.isfinite(questioned[i]) and np.isfinite(references[:, i]).all()]
    idx = np.array(usable, dtype=np.int64)
    if not usable:
        return idx, np.zeros(0), np.zeros(0), np.zeros(0)
    mu = references[:, idx].mean(axis=0)
    sd = references[:, idx].std(axis=0, ddof=1)
    # With 3..5 references the sample std is unreliable; a floor from the population
    # spread keeps one lucky, tight feature from dominating the distance.
    floor = model.global_floor * model.population_std_array[idx]
    sigma = np.maximum(np.sqrt(sd ** 2 + floor ** 2), 1e-12)
    return idx, (questioned[idx] - mu) / sigma, mu, sigma


def global_distance(m: Measurement, model: Model) -> tuple[float, list[str]]:
    """Capped mean |z| of the model's global features, and the largest deviations as reasons."""
    idx, z, mu, sigma = deviations(m.questioned_globals, m.reference_globals, model)
    if not idx.size:
        raise IncompatibleSignatures("no global feature is available on both sides")
    capped = np.minimum(np.abs(z), model.global_cap)
    order = np.argsort(-np.abs(z))[:3]
    reasons = [f"{FEATURE_NAMES[idx[i]]}: {m.questioned_globals[idx[i]]:.3g} vs reference {mu[i]:.3g} "
               f"+- {sigma[i]:.2g} (z = {z[i]:+.1f})" for i in order if abs(z[i]) >= 2]
    return float(capped.mean()), reasons


def components_of(m: Measurement, model: Model, every_feature: bool = False) -> dict[str, float]:
    """Every component a model can fuse, from one measurement (positive; larger = farther from the references).

    Per DTW view: the mean and the closest distance to the references over the references'
    own (shrunk) spread, the rhythm (share of non-diagonal warping), each reference's distance
    over its own typical distance to the others (``perref``), the raw mean distance and the
    references' own spread; the stability-weighted distance to the mean template over the
    references' own (``template``); the capped mean |z| of the global features; and
    ``g:NAME`` = 1 + capped |z| for each global feature on both sides (with ``every_feature``,
    else only those the model fuses).
    """
    return _components_and_reasons(m, model, every_feature)[0]


def _components_and_reasons(m: Measurement, model: Model,
                            every_feature: bool = False) -> tuple[dict[str, float], list[str]]:
    comps: dict[str, float] = {}
    for name, d in m.views.items():
        own_mean, own_min, ref_tempo = m.spreads[name]
        prior_mean, prior_min = model.prior_spread(name, m.with_pressure)
        comps[f"{name}_mean"] = float(d[:, 0].mean() / max(own_mean + prior_mean, 1e-9))
        comps[f"{name}_min"] = float(d[:, 0].min() / max(own_min + prior_min, 1e-9))
        comps[f"{name}_tempo"] = float((d[:, 1].mean() + 0.02) / (ref_tempo + 0.02))
        comps[f"{name}_perref"] = float(np.mean(d[:, 0] / np.maximum(m.per_reference[name], 1e-9)))
        comps[f"{name}_raw"] = float(d[:, 0].mean())
        comps[f"{name}_spread"] = float(own_mean)
    if m.template is not None:
        comps["template"] = float(m.template[0] / max(m.template[1], 1e-9))
        comps["template_raw"] = float(m.template[0])
    if m.codebook is not None:
        distortion, usage, own_distortion, own_usage = m.codebook
        comps["vq"] = float(distortion / max(own_distortion, 1e-9))
        comps["vq_usage"] = float((usage + 0.02) / (own_usage + 0.02))
    comps["global"], reasons = global_distance(m, model)
    wanted = (range(len(FEATURE_NAMES)) if every_feature else
              [FEATURE_NAMES.index(k[2:]) for k in model.fusion_components if k.startswith("g:")])
    if wanted:
        idx, z, _, _ = deviations(m.questioned_globals, m.reference_globals, model, wanted)
        for i, v in zip(idx, np.minimum(np.abs(z), model.global_cap)):
            comps[f"g:{FEATURE_NAMES[i]}"] = float(1.0 + v)
    return comps, reasons
