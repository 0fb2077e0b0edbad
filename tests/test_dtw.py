"""The DTW kernel: exact against a brute-force recurrence and against dtaidistance."""

from __future__ import annotations

import numpy as np
import pytest
from dtaidistance import dtw_ndim
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from inkwitness.matching.dtw import dtw, dtw_distance, dtw_pairs, dtw_path


def brute_force(a: np.ndarray, b: np.ndarray, window: float, squared: bool) -> float:
    """The textbook O(nm) recurrence with the same diagonal band."""
    n, m = len(a), len(b)
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(n):
        centre = i * (m - 1) / (n - 1) if n > 1 else 0.0
        for j in range(m):
            if abs(j - centre) > window + 1e-9:
                continue
            cost = float(((a[i] - b[j]) ** 2).sum())
            cost = cost if squared else np.sqrt(cost)
            acc[i + 1, j + 1] = cost + min(acc[i, j], acc[i, j + 1], acc[i + 1, j])
    return acc[n, m]


series = st.integers(1, 3).flatmap(lambda d: st.tuples(
    arrays(np.float64, st.tuples(st.integers(2, 30), st.just(d)), elements=st.floats(-100, 100)),
    arrays(np.float64, st.tuples(st.integers(2, 30), st.just(d)), elements=st.floats(-100, 100))))


@settings(max_examples=150, deadline=None)
@given(series, st.integers(0, 12), st.booleans())
def test_kernel_equals_brute_force_recurrence(pair, window, squared):
    a, b = pair
    expected = brute_force(a, b, window, squared)
    got = dtw(a, b, window=window, squared=squared).cost
    got = got ** 2 if squared else got
    if np.isinf(expected):
        assert np.isinf(got)
    else:
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


# Integer-valued inputs make ties between steps common, which is where path lengths differ.
tied = st.integers(1, 3).flatmap(lambda d: st.tuples(
    arrays(np.float64, st.tuples(st.integers(1, 40), st.just(d)), elements=st.integers(-3, 3).map(float)),
    arrays(np.float64, st.tuples(st.integers(1, 40), st.just(d)), elements=st.integers(-3, 3).map(float))))


@settings(max_examples=200, deadline=None)
@given(tied, st.integers(0, 15))
def test_path_length_equals_the_explained_paths_length(pair, window):
    a, b = pair
    got = dtw(a, b, window=window)
    if got.path_length:
        pairs, local = dtw_path(a, b, window=window)
        assert got.path_length == len(pairs)
        assert got.cost == pytest.approx(float(local.sum()), rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.integers(5, 80), st.integers(1, 20), st.integers(0, 2**31))
def test_distance_matches_dtaidistance_ndim(n, window, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    assert dtw_distance(a, b, window=window - 1) == pytest.approx(dtw_ndim.distance_fast(a, b, window=window),
                                                                rel=1e-12)
    assert dtw_distance(a, b) == pytest.approx(dtw_ndim.distance_fast(a, b), rel=1e-12)


def test_identical_series_have_zero_cost_and_diagonal_path():
    a = np.random.default_rng(1).normal(size=(50, 4))
    result = dtw(a, a, window=5)
    assert result.cost == 0 and result.path_length == 50


def test_batch_pairs_equal_single_calls():
    rng = np.random.default_rng(2)
    series_list = [rng.normal(size=(int(rng.integers(20, 60)), 2)) for _ in range(6)]
    pairs = np.array([(0, 1), (2, 3), (4, 5), (1, 4)])
    costs, lengths = dtw_pairs(series_list, pairs, window_frac=0.2, min_window=5)
    for (i, j), c, length in zip(pairs, costs, lengths):
        w = max(5, 0.2 * max(len(series_list[i]), len(series_list[j])))
        single = dtw(series_list[i], series_list[j], window=w)
        assert c == pytest.approx(single.cost) and length == single.path_length


def test_mismatched_dimensions_are_refused():
    with pytest.raises(ValueError, match="dimension"):
        dtw(np.zeros((5, 2)), np.zeros((5, 3)))


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 40), st.integers(2, 40), st.integers(1, 3), st.integers(0, 2**31 - 1), st.floats(1.0, 15.0))
def test_compiled_alignment_is_the_explained_path(n, m, d, seed, window):
    from inkwitness.matching.dtw import dtw_alignment

    rng = np.random.default_rng(seed)
    # Small integers make ties frequent, which is where the tie rule matters.
    a = rng.integers(0, 3, (n, d)).astype(float)
    b = rng.integers(0, 3, (m, d)).astype(float)
    try:
        expected, _ = dtw_path(a, b, window=window)
    except ValueError:
        with pytest.raises(ValueError):
            dtw_alignment(a, b, window)
        return
    assert np.array_equal(dtw_alignment(a, b, window), expected)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 40), st.integers(2, 40), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_weighted_dtw_with_unit_weights_is_plain_dtw_and_weights_scale_the_template_side(n, m, d, seed):
    from inkwitness.matching.dtw import dtw_kernel, dtw_weighted_kernel

    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(m, d))
    window = float(max(n, m))
    cost, length = dtw_kernel(a, b, window, False)
    wcost, wlength = dtw_weighted_kernel(a, np.ones_like(a), b, window)
    assert wcost == pytest.approx(cost, rel=1e-9) and wlength == length
    # A constant weight c on every template point multiplies every local cost by c.
    doubled, _ = dtw_weighted_kernel(a, np.full_like(a, 2.0), b, window)
    assert doubled == pytest.approx(2 * cost, rel=1e-9)
