"""Writer-independent training of the verifier's learned parts on development datasets.

Feature selection, the population spread of global features, the fusion weights and the
operating threshold are all learned here from datasets whose writers are disjoint from
the ones the model is evaluated on (see ``docs/accuracy.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from . import datasets as ds
from .calibration import ScoreSet
from .evaluation import eer, prepare_all, workers_default
from .features.globalfeatures import FEATURE_NAMES
from .model import COMPONENTS, Model, spread_key
from .verification import Prepared, Verifier

#: Impostor comparisons per user drawn from other users' genuine samples during training.
TRAIN_RANDOM_PER_USER = 10
#: How many global features the model keeps (ranked by writer-independent skilled EER).
N_GLOBAL_FEATURES = 40
#: Weight of the population prior added to each person's reference spread (chosen by
#: leave-one-dataset-out over the training datasets; docs/accuracy.md).
SPREAD_SHRINK = 0.5


@dataclass
class Comparison:
    """One training comparison: its label, components and per-feature deviations."""

    dataset: str
    label: str
    components: dict[str, float]
    z: np.ndarray  # |z| per feature, NaN where a side lacks it


def _compare_trial(args: tuple) -> list[Comparison]:
    dataset, trial, preps, model = args
    verifier = Verifier(model).fit([preps[s.path] for s in trial.references], check_consistency=False)
    everything = list(range(len(FEATURE_NAMES)))
    out = []
    for label, samples in ((ds.GENUINE, trial.genuine), (ds.SKILLED, trial.skilled), (ds.RANDOM, trial.random)):
        for s in samples:
            q = preps[s.path]
            comps, _, _ = verifier.components(q)
            idx, z, _, _ = verifier.global_deviations(q, model, everything)
            full = np.full(len(FEATURE_NAMES), np.nan)
            full[idx] = np.abs(z)
            out.append(Comparison(dataset, label, comps, full))
    return out


def collect(names: Sequence[str], root: Path | None, model: Model, workers: int,
            progress: Callable[[str], None] | None = None,
            prepared: dict[Path, Prepared] | None = None) -> tuple[list[Comparison], dict[Path, Prepared]]:
    """Components of every protocol comparison of the named datasets (random impostors subsampled).

    Signatures already in ``prepared`` are not prepared again.
    """
    comparisons: list[Comparison] = []
    all_preps: dict[Path, Prepared] = dict(prepared or {})
    for name in names:
        trials = [ds.Trial(t.user, t.references, t.genuine, t.skilled, t.random[:TRAIN_RANDOM_PER_USER])
                  for t in ds.protocol(ds.catalogue(name, root))]
        paths = [s.path for t in trials for s in (*t.references, *t.genuine, *t.skilled, *t.random)]
        missing, _ = prepare_all([p for p in paths if p not in all_preps], workers)
        all_preps.update(missing)
        preps = all_preps
        jobs = [(name, t, {s.path: preps[s.path] for s in (*t.references, *t.genuine, *t.skilled, *t.random)}, model)
                for t in trials if all(s.path in preps for s in (*t.references, *t.genuine, *t.skilled, *t.random))]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(_compare_trial, jobs):
                comparisons.extend(result)
        if progress:
            progress(f"{name}: {sum(c.dataset == name for c in comparisons)} comparisons")
    return comparisons, all_preps


def _trial_spread(args: tuple) -> dict[str, tuple[float, float]]:
    trial, preps, model = args
    template = Verifier(model).fit([preps[s.path] for s in trial.references], check_consistency=False).template_
    out = {}
    for with_pressure in ((True, False) if template.has_pressure else (False,)):
        for name, funcs in model.view_functions(with_pressure):
            mean, closest, _ = template.spread(funcs, model)
            out[spread_key(name, with_pressure)] = (mean, closest)
    return out


def spread_priors(names: Sequence[str], root: Path | None, model: Model, preps: dict[Path, Prepared],
                  workers: int) -> dict[str, tuple[float, float]]:
    """Median (mean, closest) DTW spread among each training person's references, per view and pressure use."""
    jobs = [(t, {s.path: preps[s.path] for s in t.references}, model) for name in names
            for t in ds.protocol(ds.catalogue(name, root)) if all(s.path in preps for s in t.references)]
    per_key: dict[str, list[tuple[float, float]]] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for found in pool.map(_trial_spread, jobs):
            for key, value in found.items():
                per_key.setdefault(key, []).append(value)
    return {k: (float(np.median([m for m, _ in v])), float(np.median([c for _, c in v]))) for k, v in per_key.items()}


def select_features(comparisons: Sequence[Comparison], k: int = N_GLOBAL_FEATURES) -> list[str]:
    """Global features ranked by their mean skilled-forgery EER across the training datasets."""
    names = sorted({c.dataset for c in comparisons})
    scores = []
    for j, feature in enumerate(FEATURE_NAMES):
        rates = []
        for name in names:
            g = [-c.z[j] for c in comparisons if c.dataset == name and c.label == ds.GENUINE and np.isfinite(c.z[j])]
            f = [-c.z[j] for c in comparisons if c.dataset == name and c.label == ds.SKILLED and np.isfinite(c.z[j])]
            if g and f:
                rates.append(eer(g, f)[0])
        # Features a dataset cannot compute (no pressure) are judged on the others.
        scores.append((float(np.mean(rates)) if rates else 0.5, feature))
    return [f for _, f in sorted(scores)[:k]]


def _design(comparisons: Sequence[Comparison], model: Model) -> np.ndarray:
    selected = model.global_index()
    rows = []
    for c in comparisons:
        z = c.z[selected]
        z = z[np.isfinite(z)]
        comps = dict(c.components, **{"global": float(np.minimum(z, model.global_cap).mean()) if z.size else 1.0})
        rows.append([math.log(max(comps[k], 1e-9)) for k in model.fusion_components])
    return np.array(rows)


def train(names: Sequence[str], root: Path | None = None, workers: int | None = None,
          progress: Callable[[str], None] | None = None, spread_shrink: float = SPREAD_SHRINK) -> Model:
    """Learn a model from the named development datasets (writer-independent)."""
    workers = workers or workers_default()
    base = Model(trained_on=tuple(names))
    # Population spread first: it only needs the prepared signatures.
    trial_paths = []
    for name in names:
        for t in ds.protocol(ds.catalogue(name, root)):
            trial_paths += [s.path for s in (*t.references, *t.genuine, *t.skilled)]
    preps, _ = prepare_all(trial_paths, workers)
    glob = np.vstack([p.globals for p in preps.values()])
    with np.errstate(all="ignore"):
        pop = np.nanstd(glob, axis=0)
    pop = np.where(np.isfinite(pop) & (pop > 0), pop, 1.0)
    base = replace(base, population_std=tuple(float(v) for v in pop))
    base = replace(base, spread_shrink=spread_shrink,
                   spread_prior=spread_priors(names, root, base, preps, workers) if spread_shrink else {})
    comparisons, _ = collect(names, root, base, workers, progress, prepared=preps)
    model = replace(base, global_features=tuple(select_features(comparisons)), fusion_components=COMPONENTS)
    x = _design(comparisons, model)
    y = np.array([c.label == ds.GENUINE for c in comparisons])
    # Each dataset weighs the same, and within it genuine and impostor classes weigh the same,
    # so that the large SUSIG Visual set does not dictate the fusion.
    weights = np.zeros(len(comparisons))
    for name in names:
        for positive in (True, False):
            mask = np.array([c.dataset == name for c in comparisons]) & (y == positive)
            if mask.any():
                weights[mask] = 1.0 / mask.sum()
    clf = LogisticRegression(C=1.0, max_iter=5000)
    clf.fit(x, y, sample_weight=weights * len(weights))
    model = replace(model, fusion_weights=tuple(float(w) for w in clf.coef_[0]),
                    fusion_bias=float(clf.intercept_[0]))
    fused = x @ np.asarray(model.fusion_weights) + model.fusion_bias
    labels = np.array([c.label for c in comparisons])
    rate, threshold = eer(fused[labels == ds.GENUINE], fused[labels == ds.SKILLED])
    return replace(model, threshold=float(threshold),
                   notes={"training_skilled_eer": rate, "comparisons": len(comparisons),
                          "selected_by": "mean writer-independent skilled EER over the training datasets"})


def calibration_scores(names: Sequence[str], root: Path | None = None, model: Model | None = None,
                       workers: int | None = None) -> ScoreSet:
    """Fused same-writer and skilled-forgery scores of the named datasets' protocols, as one set."""
    from .evaluation import evaluate

    scores, labels = [], []
    for name in names:
        rows, _ = evaluate(name, root, model=model, workers=workers)
        for row in rows:
            if row.label in (ds.GENUINE, ds.SKILLED):
                scores.append(row.score)
                labels.append(1 if row.label == ds.GENUINE else 0)
    return ScoreSet("+".join(names), np.asarray(scores), np.asarray(labels))
