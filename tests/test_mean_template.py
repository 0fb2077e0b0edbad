"""The mean template (DTW barycentre averaging) and its local-stability weights."""

from __future__ import annotations

import numpy as np
import pytest

from inkwitness.matching.template import STABILITY_FLOOR, mean_template


def _series(shift: float, n: int = 120, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n)
    return np.ascontiguousarray(np.column_stack([np.sin(2 * np.pi * (t + shift)), np.cos(2 * np.pi * t)])
                                + rng.normal(0, noise, (n, 2)))


def test_the_mean_of_identical_references_is_that_reference_with_full_weight():
    ref = _series(0.0)
    template = mean_template([ref, ref.copy(), ref.copy()], 0.15, 10.0)
    assert np.allclose(template.mean, ref)
    assert np.allclose(template.weights, 1.0 / STABILITY_FLOOR)
    assert template.distance(ref, 0.15, 10.0) == pytest.approx(0.0, abs=1e-12)


def test_points_where_the_references_disagree_weigh_less():
    refs = [_series(0.0, noise=0.02, seed=s) for s in range(5)]
    # One half of the signature varies a lot between references, the other barely.
    for k, r in enumerate(refs):
        r[60:, 0] += (k - 2) * 0.3
    template = mean_template(refs, 0.15, 10.0)
    assert template.weights[:50, 0].mean() > 1.5 * template.weights[70:, 0].mean()


def test_a_sample_like_the_references_is_closer_to_the_template_than_a_different_one():
    refs = [_series(0.0, noise=0.05, seed=s) for s in range(5)]
    template = mean_template(refs, 0.15, 10.0)
    same = template.distance(_series(0.0, noise=0.05, seed=9), 0.15, 10.0)
    other = template.distance(_series(0.25, noise=0.05, seed=9), 0.15, 10.0)
    assert same < 0.5 * other


def test_an_empty_enrolment_has_no_mean():
    with pytest.raises(ValueError):
        mean_template([], 0.15, 10.0)
