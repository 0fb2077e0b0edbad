"""Training of the learned embedding (:mod:`inkwitness.embedding`) with PyTorch, writer-independently.

Needs ``pip install torch`` (``pip install -e '.[train]'``); nothing else in the package
imports this module. Each step draws triplets from the training writers only: an anchor
and a positive among a person's genuine signatures, and a negative that is one of that
person's skilled forgeries (or, less often, another person's genuine signature). The DTW
alignment of each pair is found on the current embeddings (numba, no gradient), and the
loss pulls the distance along that path for the positive below the negative's, on a log
scale because verification compares distance ratios. The network is then exported to the
numpy :class:`~inkwitness.embedding.Embedding`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .embedding import CHANNELS, DILATIONS, KERNEL, PRESSURE_CHANNELS, Embedding
from .matching.dtw import dtw_alignment


@dataclass(frozen=True)
class Writer:
    """One training person's embedded-input matrices."""

    genuine: list[np.ndarray]
    skilled: list[np.ndarray]


@dataclass(frozen=True)
class EmbeddingConfig:
    """Network size and optimisation settings (docs/accuracy.md records the ones measured)."""

    hidden: int = 32
    dimension: int = 16
    steps: int = 600
    batch: int = 16
    learning_rate: float = 2e-3
    margin: float = 0.3
    skilled_share: float = 0.75
    pressure_dropout: float = 0.3
    window_frac: float = 0.15
    min_window: float = 10.0
    seed: int = 7
    # Residual on the input (see Embedding.skip): training starts from DTW on the time functions.
    residual: bool = False
    weight_decay: float = 0.0
    # Random time stretch (± share), per-channel gain (± share) and noise (std, in z units) applied
    # to every training sample, so the network cannot learn its training writers' exact signals.
    augment_stretch: float = 0.0
    augment_gain: float = 0.0
    augment_noise: float = 0.0


def _network(config: EmbeddingConfig):  # noqa: ANN202 - torch types stay local to this module
    import torch

    layers: list = []
    width = len(CHANNELS)
    for dilation in DILATIONS:
        layers += [torch.nn.Conv1d(width, config.hidden, KERNEL, dilation=dilation,
                                   padding=dilation * (KERNEL // 2), padding_mode="replicate"), torch.nn.ReLU()]
        width = config.hidden
    projection = torch.nn.Linear(width, config.dimension)
    skip = None
    if config.residual:
        if config.dimension < len(CHANNELS):
            raise ValueError(f"a residual embedding needs at least {len(CHANNELS)} dimensions")
        with torch.no_grad():
            projection.weight.zero_()
            projection.bias.zero_()
        skip = torch.nn.Parameter(torch.eye(config.dimension, len(CHANNELS)))
    return torch.nn.Sequential(*layers), projection, skip


def _embed(convs, projection, skip, x):  # noqa: ANN001, ANN202
    import torch

    h = convs(x.T[None])[0].T
    out = projection(h)
    if skip is not None:
        return out + x @ skip.T
    return out / torch.clamp(out.norm(dim=1, keepdim=True), min=1e-9)


def augmented(x: np.ndarray, config: EmbeddingConfig, rng: np.random.Generator) -> np.ndarray:
    """A randomly re-timed, re-scaled, noisy copy of an (n, channels) input (the input itself when augmentation is off)."""
    out = x
    if config.augment_stretch:
        n = x.shape[0]
        m = max(4, int(round(n * (1 + rng.uniform(-config.augment_stretch, config.augment_stretch)))))
        grid = np.linspace(0, n - 1, m)
        out = np.column_stack([np.interp(grid, np.arange(n), x[:, j]) for j in range(x.shape[1])])
    if config.augment_gain:
        out = out * (1 + rng.uniform(-config.augment_gain, config.augment_gain, size=out.shape[1]))
    if config.augment_noise:
        out = out + rng.normal(scale=config.augment_noise, size=out.shape)
    return out


def _path_distance(a, b, config: EmbeddingConfig):  # noqa: ANN001, ANN202
    import torch

    an = a.detach().numpy().astype(np.float64)
    bn = b.detach().numpy().astype(np.float64)
    window = max(config.min_window, config.window_frac * max(an.shape[0], bn.shape[0]))
    path = torch.from_numpy(dtw_alignment(np.ascontiguousarray(an), np.ascontiguousarray(bn), window))
    return ((a[path[:, 0]] - b[path[:, 1]]) ** 2).sum(dim=1).mean()


def train_embedding(writers: Sequence[Writer], config: EmbeddingConfig = EmbeddingConfig(),
                    progress: Callable[[str], None] | None = None, notes: Mapping | None = None) -> Embedding:
    """Fit the network on the given training writers and export it for numpy inference."""
    import torch

    torch.set_num_threads(1)  # the sequences are small; threads only add synchronisation
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    usable = [w for w in writers if len(w.genuine) >= 2]
    if len(usable) < 2:
        raise ValueError("embedding training needs at least two writers with two genuine signatures each")
    convs, projection, skip = _network(config)
    params = [*convs.parameters(), *projection.parameters(), *([skip] if skip is not None else [])]
    optimiser = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    pressure = [CHANNELS.index(c) for c in PRESSURE_CHANNELS]
    started, recent = time.perf_counter(), []
    for step in range(config.steps):
        losses = []
        for wi in rng.choice(len(usable), size=config.batch):
            writer = usable[wi]
            a, p = rng.choice(len(writer.genuine), size=2, replace=False)
            if writer.skilled and rng.random() < config.skilled_share:
                negative = writer.skilled[rng.integers(len(writer.skilled))]
            else:
                other = usable[(wi + 1 + rng.integers(len(usable) - 1)) % len(usable)]
                negative = other.genuine[rng.integers(len(other.genuine))]
            triplet = [torch.from_numpy(augmented(m, config, rng).astype(np.float32))
                       for m in (writer.genuine[a], writer.genuine[p], negative)]
            if rng.random() < config.pressure_dropout:
                # Pen-less devices give zero pressure channels: the network must cope with them.
                for t in triplet:
                    t[:, pressure] = 0.0
            ea, ep, en = (_embed(convs, projection, skip, t) for t in triplet)
            d_pos, d_neg = _path_distance(ea, ep, config), _path_distance(ea, en, config)
            losses.append(torch.nn.functional.softplus(
                torch.log(d_pos + 1e-6) - torch.log(d_neg + 1e-6) + config.margin))
        loss = torch.stack(losses).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        recent.append(float(loss.detach()))
        if progress and (step + 1) % 50 == 0:
            progress(f"step {step + 1}/{config.steps}: loss {np.mean(recent):.4f} "
                     f"({time.perf_counter() - started:.0f} s)")
            recent = []
    weights = tuple((c.weight.detach().double().numpy().copy(), c.bias.detach().double().numpy().copy())
                    for c in convs if isinstance(c, torch.nn.Conv1d))
    proj = (projection.weight.detach().double().numpy().copy(), projection.bias.detach().double().numpy().copy())
    meta = {"config": config.__dict__, "writers": len(usable), "seconds": round(time.perf_counter() - started, 1),
            "torch": torch.__version__, **(notes or {})}
    return Embedding(weights, proj, meta, None if skip is None else skip.detach().double().numpy().copy())



def writers_of(catalogue, preps: Mapping, users: set[str] | None = None) -> list[Writer]:  # noqa: ANN001
    """Training writers of a dataset catalogue (optionally only ``users``) from prepared signatures."""
    from .embedding import input_matrix

    out = []
    for uid, user in catalogue.users.items():
        if users is not None and uid not in users:
            continue
        genuine = [input_matrix(preps[s.path].functions, preps[s.path].matrix) for s in user.genuine if s.path in preps]
        skilled = [input_matrix(preps[s.path].functions, preps[s.path].matrix) for s in user.skilled if s.path in preps]
        out.append(Writer(genuine, skilled))
    return out


def embedding_rows(embedding: Embedding, catalogue, preps: Mapping, users: set[str],  # noqa: ANN001
                   references: int = 5) -> list:
    """Score rows of ``users``' protocol comparisons scored by the embedding alone.

    The score is minus the questioned sample's mean DTW distance to the references in the
    embedded space over the references' own mean distance among themselves, the same
    user-specific normalisation the fused views get.
    """
    from . import datasets as ds
    from .evaluation import ScoreRow
    from .model import Model
    from .embedding import input_matrix
    from .verification import Prepared, Verifier

    names = tuple(f"e{i}" for i in range(embedding.dimension))
    model = Model(views=(("emb", names, names),), template_view=None)

    def embedded(p: Prepared) -> Prepared:
        return Prepared(p.sha256, names, embedding.apply(input_matrix(p.functions, p.matrix)), p.globals,
                        p.has_pressure, p.length)

    rows = []
    for trial in ds.protocol(catalogue, references):
        if trial.user not in users or not all(s.path in preps for s in trial.references):
            continue
        verifier = Verifier(model).fit([embedded(preps[s.path]) for s in trial.references], check_consistency=False)
        for label, samples in ((ds.GENUINE, trial.genuine), (ds.SKILLED, trial.skilled), (ds.RANDOM, trial.random)):
            for s in samples:
                if s.path in preps:
                    m = verifier.measure(embedded(preps[s.path]))
                    score = -float(m.views["emb"][:, 0].mean() / max(m.spreads["emb"][0], 1e-9))
                    rows.append(ScoreRow(catalogue.name, trial.user, s.name, label, score, ()))
    return rows


def cross_validate_embedding(dataset: str, root, train_with: Sequence[str],  # noqa: ANN001
                             config: EmbeddingConfig = EmbeddingConfig(), workers: int | None = None,
                             progress: Callable[[str], None] | None = None) -> list:
    """4-fold writer-disjoint scores of ``dataset`` by embeddings each trained on the other folds plus ``train_with``."""
    from . import datasets as ds
    from .evaluation import prepare_all, workers_default
    from .training import FOLDS, writer_folds

    names = [dataset, *[n for n in train_with if n != dataset]]
    catalogues = {n: ds.catalogue(n, root) for n in names}
    paths = [s.path for c in catalogues.values() for u in c.users.values() for s in (*u.genuine, *u.skilled)]
    preps, _ = prepare_all(paths, workers or workers_default())
    others = [w for n in names[1:] for w in writers_of(catalogues[n], preps)]
    users = set(catalogues[dataset].users)
    fold_of = writer_folds(list(users), FOLDS)
    rows: list = []
    for k in range(FOLDS):
        held = {u for u in users if fold_of[u] == k}
        training = writers_of(catalogues[dataset], preps, users - held) + others
        embedding = train_embedding(training, config, progress, {"dataset": dataset, "fold": k})
        rows.extend(embedding_rows(embedding, catalogues[dataset], preps, held))
        if progress:
            progress(f"fold {k + 1}/{FOLDS}: {len(held)} held-out writers scored")
    return rows
