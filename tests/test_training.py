"""Training and its writer-disjoint protocols: nothing fitted sees a held-out writer."""

from __future__ import annotations

import numpy as np
import pytest

from inkwitness import datasets as ds
from inkwitness import training
from inkwitness.errors import InkwitnessError
from inkwitness.model import Model
from inkwitness.training import FusionConfig, Record, cross_validate, fit, writer_folds
from inkwitness.verification import Verifier

from .conftest import synthetic_signature


def test_svc2004_folds_are_users_1_to_10_11_to_20_21_to_30_31_to_40():
    folds = writer_folds([str(u) for u in range(40, 0, -1)])
    assert [u for u, f in folds.items() if f == 0] == [str(u) for u in range(1, 11)]
    assert {folds["11"], folds["20"], folds["21"], folds["31"], folds["40"]} == {1, 2, 3}
    assert folds["20"] == 1 and folds["31"] == 3
    with pytest.raises(InkwitnessError):
        writer_folds(["1", "2"])


def _records(users: int) -> list[Record]:
    """Measured comparisons of generated writers: genuine samples near their references, impostors far."""
    base = Model()
    out = []
    for u in range(users):
        refs = [synthetic_signature(100 * u + k) for k in range(4)]
        verifier = Verifier(base).fit(refs, check_consistency=False)
        for k in range(3):
            out.append(Record("synthetic", str(u + 1), f"g{k}", ds.GENUINE,
                              verifier.measure(synthetic_signature(100 * u + 10 + k))))
            out.append(Record("synthetic", str(u + 1), f"f{k}", ds.SKILLED,
                              verifier.measure(synthetic_signature(100 * ((u + 1) % users) + k, n=240))))
    return out


def test_cross_validation_never_fits_on_a_held_out_writer(monkeypatch):
    records = _records(8)
    seen: list[set[str]] = []
    real_fit = training.fit

    def spy(train, base, config=FusionConfig()):
        seen.append({r.user for r in train})
        return real_fit(train, base, config)

    monkeypatch.setattr(training, "fit", spy)
    rows = cross_validate(records, [], Model())
    assert len(rows) == len(records) and len(seen) == 4
    folds = writer_folds([r.user for r in records])
    for k, users in enumerate(seen):
        held = {u for u, f in folds.items() if f == k}
        assert held and not users & held
        assert users | held == set(folds)
    # Each row was scored by the model of its own fold: the same row re-scored by the full model differs.
    assert {r.user for r in rows} == set(folds)


def test_fit_learns_a_standardised_fusion_from_measurements():
    records = _records(6)
    model = fit(records, Model(), FusionConfig(components="extended"))
    assert model.fusion_components == training.COMPONENT_SETS["extended"]
    assert len(model.fusion_center) == len(model.fusion_scale) == len(model.fusion_weights)
    assert all(s > 0 for s in model.fusion_scale)
    scores = training.score_records(records, model)
    g = [r.score for r in scores if r.label == ds.GENUINE]
    f = [r.score for r in scores if r.label == ds.SKILLED]
    assert np.mean(g) > np.mean(f)
    assert Model.from_json(model.to_json()) == model


def test_unknown_component_sets_and_impossible_training_are_refused():
    records = _records(4)
    with pytest.raises(InkwitnessError, match="unknown component set"):
        fit(records, Model(), FusionConfig(components="nope"))
    with pytest.raises(InkwitnessError, match="genuine and impostor"):
        fit([r for r in records if r.label == ds.GENUINE], Model())
