"""The Engine II candidate methods: path signatures, contextual columns, VQ codebook, learned embedding."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from inkwitness.embedding import CHANNELS, DILATIONS, KERNEL, Embedding, conv1d, input_matrix
from inkwitness.errors import InkwitnessError
from inkwitness.features.context import context_functions, shifted
from inkwitness.features.pathsignature import level2, signature_functions
from inkwitness.matching.codebook import fit_codebook, own_mismatch


def _fine_level2(path: np.ndarray) -> np.ndarray:
    """Level-2 signature by brute-force Riemann sums on a finely resampled piecewise-linear path."""
    based = np.vstack([np.zeros(path.shape[1]), path])
    fine = np.vstack([np.linspace(based[k], based[k + 1], 4001)[:-1] for k in range(len(based) - 1)] + [based[-1:]])
    step = np.diff(fine, axis=0)
    return np.einsum("wi,wj->ij", fine[:-1] + 0.5 * step, step)


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, (7, 3), elements=st.floats(-5, 5)))
def test_level2_matches_iterated_integrals(path: np.ndarray) -> None:
    s1, s2 = level2(path[None])
    assert np.allclose(s1[0], path[-1])
    assert np.allclose(s2[0], _fine_level2(path), atol=1e-6)
    # Shuffle identity: the symmetric part of level 2 is half the outer product of level 1.
    assert np.allclose(s2[0] + s2[0].T, np.outer(s1[0], s1[0]))


def test_signed_area_of_a_circle_has_the_turning_sense() -> None:
    t = np.arange(0, 1000, 10.0)
    angle = 2 * np.pi * t / 400
    ccw = signature_functions(t, {"x": np.cos(angle), "y": np.sin(angle)})
    cw = signature_functions(t, {"x": np.cos(angle), "y": -np.sin(angle)})
    assert (ccw["ps_area_xy"][10:-10] > 0).all() and (cw["ps_area_xy"][10:-10] < 0).all()
    assert all(v.shape == t.shape for v in ccw.values())


def test_context_columns_shift_with_held_edges() -> None:
    v = np.arange(10.0)
    assert shifted(v, 3).tolist() == [3, 4, 5, 6, 7, 8, 9, 9, 9, 9]
    assert shifted(v, -3).tolist() == [0, 0, 0, 0, 1, 2, 3, 4, 5, 6]
    cols = context_functions({"vx": v, "vy": -v}, ("vx", "vy", "pressure"), (-1, 0, 1))
    assert sorted(cols) == ["ctx_vx_+0", "ctx_vx_+1", "ctx_vx_-1", "ctx_vy_+0", "ctx_vy_+1", "ctx_vy_-1"]


def test_codebook_separates_foreign_dynamics() -> None:
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(6, 3)) * 4
    refs = [centres[rng.integers(6, size=200)] + rng.normal(scale=0.3, size=(200, 3)) for _ in range(5)]
    book = fit_codebook(refs)
    own_distortion, own_usage = own_mismatch(refs)
    genuine = centres[rng.integers(6, size=200)] + rng.normal(scale=0.3, size=(200, 3))
    foreign = rng.normal(size=(200, 3)) * 4
    g, f = book.mismatch(genuine), book.mismatch(foreign)
    assert g[0] < 2 * own_distortion < f[0]
    assert g[1] < f[1]
    # Deterministic: the same references give the same codebook.
    assert np.array_equal(fit_codebook(refs).codewords, book.codewords)


def _random_embedding(seed: int = 0, hidden: int = 8, dim: int = 4) -> Embedding:
    rng = np.random.default_rng(seed)
    convs, width = [], len(CHANNELS)
    for _ in DILATIONS:
        convs.append((rng.normal(size=(hidden, width, KERNEL)) * 0.3, rng.normal(size=hidden) * 0.1))
        width = hidden
    return Embedding(tuple(convs), (rng.normal(size=(dim, hidden)), rng.normal(size=dim)), {"seed": seed})


def test_embedding_round_trips_and_is_unit_norm() -> None:
    emb = _random_embedding()
    x = np.random.default_rng(1).normal(size=(50, len(CHANNELS)))
    out = emb.apply(x)
    assert out.shape == (50, 4) and np.allclose(np.linalg.norm(out, axis=1), 1.0)
    again = Embedding.from_json(emb.to_json())
    assert np.allclose(again.apply(x), out)
    with pytest.raises(InkwitnessError):
        Embedding.from_json(json.dumps({"format": "other"}))
    with pytest.raises(InkwitnessError):
        Embedding.from_json("{not json")
    for text in ("[]", json.dumps({"format": "inkwitness.embedding/1"}),
                 json.dumps({"format": "inkwitness.embedding/1", "convs": 3, "projection": []})):
        with pytest.raises(InkwitnessError):
            Embedding.from_json(text)


def test_input_matrix_zero_fills_pressure_only() -> None:
    names = tuple(c for c in CHANNELS if "pressure" not in c)
    m = np.arange(len(names) * 4, dtype=float).reshape(4, len(names))
    x = input_matrix(names, m)
    assert np.allclose(x[:, CHANNELS.index("lp_pressure")], 0)
    assert x.shape[0] == 2 and np.allclose(x[:, CHANNELS.index("lp_x")], m[::2, 0])
    with pytest.raises(InkwitnessError):
        input_matrix(names[1:], m[:, 1:])


def test_numpy_convolution_matches_torch() -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is only needed to train the embedding")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 5))
    w, b = rng.normal(size=(7, 5, KERNEL)), rng.normal(size=7)
    for dilation in DILATIONS:
        conv = torch.nn.Conv1d(5, 7, KERNEL, dilation=dilation, padding=dilation * (KERNEL // 2),
                               padding_mode="replicate").double()
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(w))
            conv.bias.copy_(torch.from_numpy(b))
            want = conv(torch.from_numpy(x.T[None]))[0].T.numpy()
        assert np.allclose(conv1d(x, w, b, dilation), want)


def test_model_keeps_the_codebook_view() -> None:
    from inkwitness.model import EXTRA_VIEWS, VIEWS, Model

    model = Model(views=VIEWS + EXTRA_VIEWS, codebook_view="ds")
    again = Model.from_json(model.to_json())
    assert again.codebook_view == "ds" and [v[0] for v in again.views] == [v[0] for v in model.views]


@pytest.mark.data
def test_candidate_components_rank_a_skilled_forgery_below_the_writer(data_root) -> None:
    """The path-signature, contextual and VQ components all come out of a real comparison, writer closer."""
    from inkwitness.formats import read_signature
    from inkwitness.model import EXTRA_VIEWS, VIEWS, Model
    from inkwitness.verification import Verifier, components_of

    model = Model(views=VIEWS + EXTRA_VIEWS, codebook_view="ds")
    refs = [read_signature(data_root / f"svc2004/Task2/U3S{i}.TXT") for i in range(1, 6)]
    verifier = Verifier(model).fit(refs)
    genuine = [components_of(verifier.measure(read_signature(data_root / f"svc2004/Task2/U3S{i}.TXT")), model)
               for i in range(6, 11)]
    forged = [components_of(verifier.measure(read_signature(data_root / f"svc2004/Task2/U3S{i}.TXT")), model)
              for i in range(21, 26)]
    for name in ("sig_mean", "ctx_mean", "vq"):
        assert np.median([c[name] for c in genuine]) < np.median([c[name] for c in forged]), name
    assert all(np.isfinite(c["vq_usage"]) and c["vq_usage"] > 0 for c in genuine + forged)


def test_embedding_training_learns_to_separate_and_exports_to_numpy() -> None:
    """A few steps on toy writers: held-in triplets end up ordered, and numpy inference equals torch's."""
    pytest.importorskip("torch", reason="PyTorch is only needed to train the embedding (pip install -e '.[train]')")
    from inkwitness.embedding_training import EmbeddingConfig, Writer, train_embedding
    from inkwitness.matching.dtw import dtw_distance

    rng = np.random.default_rng(5)
    t = np.linspace(0, 4 * np.pi, 60)

    def writer(freq: float) -> Writer:
        def sample(f: float) -> np.ndarray:
            base = np.column_stack([np.sin(f * t + k) for k in range(len(CHANNELS))])
            return base + rng.normal(scale=0.05, size=base.shape)
        return Writer([sample(freq) for _ in range(4)], [sample(freq * 1.3) for _ in range(4)])

    writers = [writer(f) for f in (1.0, 1.5, 2.0)]
    emb = train_embedding(writers, EmbeddingConfig(steps=60, batch=4, hidden=8, dimension=4, seed=1))
    again = Embedding.from_json(emb.to_json())
    w = writers[0]
    genuine = dtw_distance(again.apply(w.genuine[0]), again.apply(w.genuine[1]))
    forged = dtw_distance(again.apply(w.genuine[0]), again.apply(w.skilled[0]))
    assert genuine < forged
    assert emb.notes["writers"] == 3 and emb.notes["config"]["steps"] == 60
    with pytest.raises(ValueError, match="at least two writers"):
        train_embedding(writers[:1], EmbeddingConfig(steps=1))


def test_training_augmentation_is_identity_when_off_and_bounded_when_on() -> None:
    from inkwitness.embedding_training import EmbeddingConfig, augmented

    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, len(CHANNELS)))
    assert augmented(x, EmbeddingConfig(), rng) is x
    out = augmented(x, EmbeddingConfig(augment_stretch=0.2, augment_gain=0.2, augment_noise=0.1), rng)
    assert 80 <= out.shape[0] <= 120 and out.shape[1] == x.shape[1] and np.isfinite(out).all()
