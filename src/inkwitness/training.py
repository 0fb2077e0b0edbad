"""Writer-independent training of the verifier's learned parts, and the protocols that judge it.

Training happens in two steps. :func:`measure` compares every protocol sample of the
development datasets with its user's references once (DTW distances, mean-template
distance, global features: a :class:`~inkwitness.verification.Measurement`). :func:`fit`
then learns everything that is fitted (population spread of the global features, the
references' spread prior, the selected global features, the fusion and its threshold) from
the measurements of the training writers only. Because the DTWs are not repeated, the
writer-disjoint protocols are cheap: :func:`cross_validate` refits per fold of writers and
:func:`leave_one_out` per held-out dataset (see ``docs/accuracy.md``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from . import datasets as ds
from .calibration import ScoreSet
from .errors import InkwitnessError
from .evaluation import ScoreRow, eer, prepare_all, workers_default
from .features.globalfeatures import FEATURE_NAMES
from .model import COMPONENTS, EXTRA_VIEWS, VIEWS, Model, spread_key
from .verification import Measurement, Verifier, components_of, deviations

#: Impostor comparisons per user drawn from other users' genuine samples during training.
TRAIN_RANDOM_PER_USER = 10
#: How many global features the model keeps (ranked by writer-independent skilled EER).
N_GLOBAL_FEATURES = 40
#: Weight of the population prior added to each person's reference spread (chosen by
#: leave-one-dataset-out over the training datasets; docs/accuracy.md).
SPREAD_SHRINK = 0.5
#: Writer folds of the cross-validation protocol (SVC2004: users 1-10, 11-20, 21-30, 31-40).
FOLDS = 4

#: Named sets of fused components (``docs/accuracy.md`` has the ablation over them).
COMPONENT_SETS: dict[str, tuple[str, ...]] = {
    "compact": COMPONENTS,
    "extended": COMPONENTS + ("ds_mean", "ds_min", "all_perref", "dyn_perref", "ds_perref", "template"),
    "spread": COMPONENTS + ("ds_mean", "ds_min", "template", "all_spread", "dyn_spread"),
}
_EXTENDED = COMPONENT_SETS["extended"]
# The Engine II ablation (docs/accuracy.md): each candidate method added to the shipped set alone.
COMPONENT_SETS.update({
    "extended+sig": _EXTENDED + ("sig_mean", "sig_min", "sig_perref"),
    "extended+ctx": _EXTENDED + ("ctx_mean", "ctx_min", "ctx_perref"),
    "extended+vq": _EXTENDED + ("vq", "vq_usage"),
    "extended+cdtw-vq": _EXTENDED + ("ctx_mean", "ctx_min", "ctx_perref", "vq", "vq_usage"),
})
#: The "rich" set: every view's components plus one per selected global feature.
RICH_VIEW_PARTS = ("mean", "min", "tempo", "perref", "raw", "spread")


@dataclass(frozen=True)
class FusionConfig:
    """What :func:`fit` learns and how strongly it is regularised."""

    components: str = "compact"               # a key of COMPONENT_SETS, or "rich"
    c: float = 1.0                            # inverse L2 strength of the logistic fusion
    dataset_weights: Mapping[str, float] = field(default_factory=dict)  # default 1 per dataset
    spread_shrink: float = SPREAD_SHRINK
    n_global_features: int = N_GLOBAL_FEATURES


@dataclass(frozen=True)
class Record:
    """One protocol comparison: who, what kind of sample, and what comparing it measured."""

    dataset: str
    user: str
    questioned: str
    label: str
    measurement: Measurement
    # The template's own (mean, closest) spread per spread_key, with and without pressure, so that
    # priors exist for questioned samples that lack pressure too (shared by a trial's records).
    template_spreads: Mapping[str, tuple[float, float]] = field(default_factory=dict)


def _measure_trial(args: tuple) -> list[Record]:
    dataset, trial, preps, model = args
    verifier = Verifier(model).fit([preps[s.path] for s in trial.references], check_consistency=False)
    template = verifier.template_
    spreads = {spread_key(name, with_pressure): template.spread(funcs, model)[:2]
               for with_pressure in ((True, False) if template.has_pressure else (False,))
               for name, funcs in model.view_functions(with_pressure)}
    out = []
    for label, samples in ((ds.GENUINE, trial.genuine), (ds.SKILLED, trial.skilled), (ds.RANDOM, trial.random)):
        for s in samples:
            if s.path in preps:
                out.append(Record(dataset, trial.user, s.name, label, verifier.measure(preps[s.path]), spreads))
    return out


def measure(names: Sequence[str], root: Path | None, model: Model, workers: int | None = None,
            random_per_user: int | None = TRAIN_RANDOM_PER_USER, progress: Callable[[str], None] | None = None,
            references: int = 5) -> list[Record]:
    """Measurements of every protocol comparison of the named datasets (random impostors optionally subsampled).

    Only ``model``'s geometry is used here (views, DTW band, mean template); nothing learned.
    """
    workers = workers or workers_default()
    records: list[Record] = []
    for name in names:
        trials = ds.protocol(ds.catalogue(name, root), references)
        if random_per_user is not None:
            trials = [ds.Trial(t.user, t.references, t.genuine, t.skilled, t.random[:random_per_user]) for t in trials]
        paths = [s.path for t in trials for s in (*t.references, *t.genuine, *t.skilled, *t.random)]
        preps, _ = prepare_all(paths, workers)
        jobs = [(name, t, {s.path: preps[s.path] for s in (*t.references, *t.genuine, *t.skilled, *t.random)
                           if s.path in preps}, model)
                for t in trials if all(s.path in preps for s in t.references)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for found in pool.map(_measure_trial, jobs):
                records.extend(found)
        if progress:
            progress(f"{name}: {sum(r.dataset == name for r in records)} comparisons measured")
    return records


def _per_trial(records: Sequence[Record]) -> list[Record]:
    # One record per (dataset, user) carries that template's spreads and reference globals.
    seen: dict[tuple[str, str], Record] = {}
    for r in records:
        seen.setdefault((r.dataset, r.user), r)
    return list(seen.values())


def population_std(records: Sequence[Record]) -> np.ndarray:
    """Spread of every global feature over the training signatures (references and their tests, not impostors)."""
    rows = [r.measurement.reference_globals for r in _per_trial(records)]
    rows += [r.measurement.questioned_globals[None, :] for r in records if r.label != ds.RANDOM]
    # A feature no training signature has (pressure features of pen-less data) has no spread:
    # it falls back to 1 below, so numpy's all-NaN warning says nothing useful here.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pop = np.nanstd(np.vstack(rows), axis=0)
    return np.where(np.isfinite(pop) & (pop > 0), pop, 1.0)


def spread_priors(records: Sequence[Record]) -> dict[str, tuple[float, float]]:
    """Median (mean, closest) DTW spread among each training person's references, per view and pressure use."""
    per_key: dict[str, list[tuple[float, float]]] = {}
    for r in _per_trial(records):
        for key, value in r.template_spreads.items():
            per_key.setdefault(key, []).append(value)
    return {k: (float(np.median([a for a, _ in v])), float(np.median([b for _, b in v]))) for k, v in per_key.items()}


def select_features(records: Sequence[Record], model: Model, k: int = N_GLOBAL_FEATURES) -> list[str]:
    """Global features ranked by their mean skilled-forgery EER across the training datasets."""
    names = sorted({r.dataset for r in records})
    everything = range(len(FEATURE_NAMES))
    z = np.full((len(records), len(FEATURE_NAMES)), np.nan)
    for row, r in enumerate(records):
        if r.label in (ds.GENUINE, ds.SKILLED):
            idx, dev, _, _ = deviations(r.measurement.questioned_globals, r.measurement.reference_globals, model,
                                        everything)
            z[row, idx] = np.abs(dev)
    labels = np.array([r.label for r in records])
    dataset = np.array([r.dataset for r in records])
    scores = []
    for j, feature in enumerate(FEATURE_NAMES):
        rates = []
        for name in names:
            col = z[:, j]
            g = -col[(dataset == name) & (labels == ds.GENUINE) & np.isfinite(col)]
            f = -col[(dataset == name) & (labels == ds.SKILLED) & np.isfinite(col)]
            if g.size and f.size:
                rates.append(eer(g, f)[0])
        # Features a dataset cannot compute (no pressure) are judged on the others.
        scores.append((float(np.mean(rates)) if rates else 0.5, feature))
    return [f for _, f in sorted(scores)[:k]]


def fused_components(config: FusionConfig, model: Model) -> tuple[str, ...]:
    """The component names a configuration fuses, given the model's views and selected global features."""
    if config.components == "rich":
        views = tuple(f"{name}_{part}" for name, _, _ in model.views for part in RICH_VIEW_PARTS)
        extra = ("template", "template_raw") if model.template_view else ()
        return views + extra + ("global",) + tuple(f"g:{f}" for f in model.global_features)
    if config.components not in COMPONENT_SETS:
        raise InkwitnessError(f"unknown component set {config.components!r}; "
                              f"known: {', '.join([*COMPONENT_SETS, 'rich'])}")
    wanted = COMPONENT_SETS[config.components]
    if "template" in wanted and not model.template_view:
        raise InkwitnessError(f"component set {config.components!r} needs the mean template (model.template_view)")
    return wanted


def base_for(config: FusionConfig, base: Model | None = None) -> Model:
    """``base`` (default: a fresh model) with the extra views and the VQ codebook the configuration fuses."""
    model = base or Model()
    wanted = COMPONENT_SETS.get(config.components, ())
    have = {name for name, _, _ in model.views}
    extra = tuple(v for v in EXTRA_VIEWS if v[0] not in have and any(c.startswith(f"{v[0]}_") for c in wanted))
    if extra:
        model = replace(model, views=model.views + extra)
    if any(c.startswith("vq") for c in wanted) and not model.codebook_view:
        model = replace(model, codebook_view="ds")
    return model


def _design(records: Sequence[Record], model: Model) -> np.ndarray:
    rows = []
    for r in records:
        comps = components_of(r.measurement, model)
        rows.append([math.log(max(comps.get(k, 1.0) if k.startswith("g:") else comps[k], 1e-9))
                     for k in model.fusion_components])
    return np.array(rows)


def _balanced_weights(records: Sequence[Record], dataset_weights: Mapping[str, float]) -> np.ndarray:
    # Each dataset weighs the same (unless told otherwise), and within it genuine and impostor
    # classes weigh the same, so that the large SUSIG sets do not dictate the fusion.
    dataset = np.array([r.dataset for r in records])
    genuine = np.array([r.label == ds.GENUINE for r in records])
    weights = np.zeros(len(records))
    for name in np.unique(dataset):
        for positive in (True, False):
            mask = (dataset == name) & (genuine == positive)
            if mask.any():
                weights[mask] = dataset_weights.get(str(name), 1.0) / mask.sum()
    return weights * len(weights) / weights.sum()


def fit(records: Sequence[Record], base: Model, config: FusionConfig = FusionConfig()) -> Model:
    """Learn population statistics, feature selection and the fusion from training measurements only."""
    if not any(r.label == ds.GENUINE for r in records) or not any(r.label != ds.GENUINE for r in records):
        raise InkwitnessError("training needs genuine and impostor comparisons")
    names = tuple(sorted({r.dataset for r in records}))
    model = replace(base, trained_on=names, population_std=tuple(float(v) for v in population_std(records)),
                    spread_shrink=config.spread_shrink,
                    spread_prior=spread_priors(records) if config.spread_shrink else {})
    model = replace(model, global_features=tuple(select_features(records, model, config.n_global_features)))
    model = replace(model, fusion_components=fused_components(config, model))
    x = _design(records, model)
    y = np.array([r.label == ds.GENUINE for r in records])
    center, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    clf = LogisticRegression(C=config.c, max_iter=5000)
    clf.fit((x - center) / scale, y, sample_weight=_balanced_weights(records, config.dataset_weights))
    model = replace(model, fusion_weights=tuple(float(w) for w in clf.coef_[0]), fusion_bias=float(clf.intercept_[0]),
                    fusion_center=tuple(float(c) for c in center), fusion_scale=tuple(float(s) for s in scale))
    fused = np.array([model.fuse(components_of(r.measurement, model)) for r in records])
    labels = np.array([r.label for r in records])
    rate, threshold = eer(fused[labels == ds.GENUINE], fused[labels == ds.SKILLED])
    return replace(model, threshold=float(threshold),
                   notes={"training_skilled_eer": rate, "comparisons": len(records),
                          "components": config.components, "c": config.c,
                          "dataset_weights": dict(config.dataset_weights),
                          "selected_by": "mean writer-independent skilled EER over the training datasets"})


def score_records(records: Sequence[Record], model: Model) -> list[ScoreRow]:
    """Score rows of measured comparisons under a fitted model."""
    rows = []
    for r in records:
        comps = components_of(r.measurement, model)
        rows.append(ScoreRow(r.dataset, r.user, r.questioned, r.label, model.fuse(comps),
                             tuple(sorted((k, v) for k, v in comps.items() if not k.startswith("g:")))))
    return rows


def writer_folds(users: Sequence[str], folds: int = FOLDS) -> dict[str, int]:
    """Fold of each user: users sorted by numeric id and cut into ``folds`` contiguous groups."""
    ordered = sorted(set(users), key=lambda u: (int(u) if u.isdigit() else math.inf, u))
    if len(ordered) < folds:
        raise InkwitnessError(f"{len(ordered)} users cannot be split into {folds} writer folds")
    return {u: i * folds // len(ordered) for i, u in enumerate(ordered)}


def cross_validate(test: Sequence[Record], others: Sequence[Record], base: Model,
                   config: FusionConfig = FusionConfig(), folds: int = FOLDS,
                   progress: Callable[[str], None] | None = None) -> list[ScoreRow]:
    """k-fold writer-disjoint cross-validation: each fold scored by a model fitted on the other folds plus ``others``.

    ``test`` holds every comparison of the dataset under test (all random impostors); the
    training part keeps at most :data:`TRAIN_RANDOM_PER_USER` random impostors per user, as
    :func:`train` does. Nothing of a held-out writer (genuine or forged) reaches its model.
    """
    fold_of = writer_folds([r.user for r in test], folds)
    rows: list[ScoreRow] = []
    for k in range(folds):
        held = [r for r in test if fold_of[r.user] == k]
        training = _subsample_random([r for r in test if fold_of[r.user] != k]) + list(others)
        model = fit(training, base, config)
        rows.extend(score_records(held, model))
        if progress:
            progress(f"fold {k + 1}/{folds}: {len(held)} held-out comparisons scored")
    return rows


def _subsample_random(records: Sequence[Record]) -> list[Record]:
    kept: list[Record] = []
    count: dict[tuple[str, str], int] = {}
    for r in records:
        if r.label == ds.RANDOM:
            key = (r.dataset, r.user)
            count[key] = count.get(key, 0) + 1
            if count[key] > TRAIN_RANDOM_PER_USER:
                continue
        kept.append(r)
    return kept


def train(names: Sequence[str], root: Path | None = None, workers: int | None = None,
          progress: Callable[[str], None] | None = None, config: FusionConfig = FusionConfig(),
          base: Model | None = None) -> Model:
    """Learn a model from the named development datasets (writer-independent)."""
    base = base_for(config, base)
    return fit(measure(names, root, base, workers, progress=progress), base, config)


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


#: The development datasets the shipped model is trained on (docs/accuracy.md).
DEVELOPMENT = ("svc2004-task2", "susig-visual", "susig-blind", "sigcomp2011-dutch")
#: The shipped fusion: the compact components plus the DsDTW view and the mean template.
SHIPPED = FusionConfig(components="extended", c=1.0)


def run_protocol(dataset: str, protocol: str, root: Path | None, train_with: Sequence[str],
                 config: FusionConfig = SHIPPED, base: Model | None = None, workers: int | None = None,
                 references: int = 5, progress: Callable[[str], None] | None = None) -> list[ScoreRow]:
    """Score rows of ``dataset`` under a writer-disjoint training protocol.

    ``cv4``: 4-fold cross-validation over the dataset's writers, each fold's model also trained
    on ``train_with``; ``lodo``: one model trained on ``train_with`` only (which must not
    include ``dataset``) scores the whole dataset.
    """
    base = base_for(config, base)
    if dataset in train_with:
        raise InkwitnessError(f"{dataset} cannot be both tested and among the training datasets")
    others = measure(train_with, root, base, workers, progress=progress, references=references)
    test = measure([dataset], root, base, workers, random_per_user=None, progress=progress, references=references)
    if protocol == "cv4":
        return cross_validate(test, others, base, config, FOLDS, progress)
    if protocol == "lodo":
        if not train_with:
            raise InkwitnessError("--protocol lodo needs training datasets (--train-with)")
        return score_records(test, fit(others, base, config))
    raise InkwitnessError(f"unknown protocol {protocol!r}; known: fixed, cv4, lodo")
