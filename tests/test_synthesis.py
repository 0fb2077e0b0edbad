"""Sigma-lognormal extraction and synthesis: closed form, reconstruction SNR, duplicates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inkwitness.formats import read_signature
from inkwitness.model import default_model
from inkwitness.signature import Signature
from inkwitness.synthesis import displacement, duplicate, duplicates, extract, reconstruct, snr_db, velocity
from inkwitness.synthesis.lognormal import characteristic_times, velocity_jacobian
from inkwitness.synthesis.perturb import RELATIVE_BOUNDS, perturb_components
from inkwitness.synthesis.rx0 import extract_stroke, rx0_component
from inkwitness.verification import dtw_compare, prepare, view_matrix

from .conftest import synthetic_signature

# (D, t0, mu, sigma, theta_s, theta_e): handwriting-like components, time in seconds.
COMPONENTS = [
    (3000.0, -0.05, math.log(0.2), 0.30, 0.5, 1.2),
    (1500.0, 0.02, math.log(0.18), 0.20, -2.0, -2.6),
    (5000.0, -0.10, math.log(0.35), 0.50, 3.0, 3.0),
    (5000.0, -0.10, math.log(0.50), 0.70, 3.0, 2.0),
]


def _svc(data_root, user: int, sample: int = 1) -> Signature:
    return read_signature(data_root / "svc2004" / "Task2" / f"U{user}S{sample}.TXT")


@pytest.mark.parametrize("params", COMPONENTS)
def test_rx0_recovers_a_single_lognormal_in_closed_form(params):
    comp = np.array([params])
    t = np.arange(0.0, 3.0, 0.01)  # 100 Hz, as the tablets sample
    vx, vy = velocity(comp, t)
    p = int(np.argmax(np.hypot(vx, vy)))
    got = rx0_component(t, vx, vy, p)
    assert got is not None
    d, t0, mu, sigma, ths, the = got
    assert d == pytest.approx(params[0], rel=0.02)
    assert t0 == pytest.approx(params[1], abs=0.005)
    assert mu == pytest.approx(params[2], abs=0.02)
    assert sigma == pytest.approx(params[3], rel=0.03)
    assert ths == pytest.approx(params[4], abs=0.03)
    assert the == pytest.approx(params[5], abs=0.03)


def test_characteristic_times_are_the_speed_peak_and_inflections():
    comp = np.array([COMPONENTS[0]])
    t = np.arange(0.0, 1.5, 1e-4)
    speed = np.hypot(*velocity(comp, t))
    t1, t2, t3 = characteristic_times(comp[0, 3], comp[0, 2], comp[0, 1])
    assert t[np.argmax(speed)] == pytest.approx(t2, abs=2e-4)
    curvature = np.gradient(np.gradient(speed))
    flips = t[1:][np.diff(np.sign(curvature)) != 0]
    assert min(abs(flips - t1)) < 1e-3 and min(abs(flips - t3)) < 1e-3


def test_extraction_of_a_sum_of_lognormals_reaches_high_snr():
    comps = np.array(COMPONENTS[:2]) + np.array([0, 0.25, 0, 0, 0, 0]) * np.array([[0], [1]])
    t = np.arange(0.0, 1.5, 0.01)
    vx, vy = velocity(comps, t)
    found, snr = extract_stroke(t, vx, vy)
    assert snr >= 20.0
    assert snr == pytest.approx(snr_db(vx, vy, *velocity(found, t)))


def test_jacobian_matches_finite_differences():
    comps = np.array(COMPONENTS)
    t = np.arange(0.0, 1.5, 0.01)
    jx, jy = velocity_jacobian(comps, t)
    flat = comps.reshape(-1)
    for j in range(flat.size):
        h = 1e-6 * max(1.0, abs(flat[j]))
        up, down = flat.copy(), flat.copy()
        up[j] += h
        down[j] -= h
        (ux, uy), (dx, dy) = velocity(up.reshape(-1, 6), t), velocity(down.reshape(-1, 6), t)
        np.testing.assert_allclose(jx[:, j], (ux - dx) / (2 * h), rtol=1e-4, atol=1e-3 * np.abs(jx[:, j]).max() + 1e-6)
        np.testing.assert_allclose(jy[:, j], (uy - dy) / (2 * h), rtol=1e-4, atol=1e-3 * np.abs(jy[:, j]).max() + 1e-6)


def test_displacement_is_the_integral_of_velocity():
    comps = np.array(COMPONENTS)
    t = np.linspace(0.0, 2.0, 20001)
    vx, vy = velocity(comps, t)
    dx, dy = displacement(comps, t)
    # Trapezoidal integration of the velocity agrees with the closed-form arc integral.
    ix = np.concatenate(([0.0], np.cumsum((vx[1:] + vx[:-1]) * np.diff(t) / 2)))
    iy = np.concatenate(([0.0], np.cumsum((vy[1:] + vy[:-1]) * np.diff(t) / 2)))
    np.testing.assert_allclose(dx, ix, atol=0.05)
    np.testing.assert_allclose(dy, iy, atol=0.05)


def test_unperturbed_synthesis_reproduces_the_source():
    sig = synthetic_signature(3)
    model = extract(sig)
    again = reconstruct(model)
    assert again.n_strokes == sig.n_strokes
    np.testing.assert_allclose(again.t, sig.t, atol=1e-3)
    np.testing.assert_allclose(again.x, sig.x, atol=2e-3)
    np.testing.assert_allclose(again.y, sig.y, atol=2e-3)
    np.testing.assert_allclose(again.pressure, sig.pressure, atol=1e-9)
    assert model.snr_db >= 15.0


def test_real_signatures_reconstruct_with_median_snr_above_15_db(data_root):
    snrs = []
    for user in range(1, 11):
        model = extract(_svc(data_root, user))
        snrs.append(model.snr_db)
        assert all(s.components.shape[0] > 0 for s in model.strokes if s.pen_down and s.duration_ms >= 50)
    print(f"SVC2004 Task2 U1-10 S1 velocity SNR: median {np.median(snrs):.2f} dB, "
          f"10th percentile {np.percentile(snrs, 10):.2f} dB")
    assert np.median(snrs) >= 15.0
    assert np.percentile(snrs, 10) >= 10.0


def test_duplicates_are_deterministic_valid_and_keep_the_strokes():
    sig = synthetic_signature(5)
    for kind in ("genuine", "forgery"):
        a = duplicates(sig, 3, kind, seed=11)
        b = duplicates(sig, 3, kind, seed=11)
        c = duplicates(sig, 3, kind, seed=12)
        assert [s.sha256 for s in a] == [s.sha256 for s in b]
        assert [s.sha256 for s in a] != [s.sha256 for s in c]
        assert len({s.sha256 for s in a}) == 3
        for dup in a:
            assert Signature.from_dict(dup.to_dict()) == dup
            assert dup.n_strokes == sig.n_strokes
            assert [s.pen_down for s in dup.strokes] == [s.pen_down for s in sig.strokes]
            assert dup.device == sig.device
            assert dup.channel_names == sig.channel_names
            assert dup.sampling_rate_hz == pytest.approx(sig.sampling_rate_hz)
            assert f"{kind}-like duplicate of {sig.sha256[:12]}" in dup.repairs[0]
            assert dup.capture.extra["synthetic"]["source_sha256"] == sig.sha256
            assert dup.capture.extra["synthetic"]["kind"] == kind
            assert 0.0 <= dup.pressure.min() and dup.pressure.max() <= 1.0


def test_duplicate_accepts_a_seed_or_a_generator():
    sig = synthetic_signature(6)
    model = extract(sig)
    assert duplicate(model, "genuine", 3) == duplicate(model, "genuine", np.random.default_rng(3))
    assert duplicate(sig, "forgery", 4) == duplicate(model, "forgery", 4)


def test_forgery_like_duplicates_lie_farther_from_the_source(data_root):
    model = default_model()
    functions = ("x", "y", "vx", "vy")
    genuine, forgery = [], []
    for user in range(1, 9):
        sig = _svc(data_root, user)
        ref = view_matrix(prepare(sig), functions)
        fitted = extract(sig)
        for kind, out in (("genuine", genuine), ("forgery", forgery)):
            for dup in duplicates(fitted, 3, kind, seed=user):
                out.append(dtw_compare(ref, view_matrix(prepare(dup), functions), model.window_frac,
                                       model.min_window)[0])
    assert np.mean(forgery) > 1.3 * np.mean(genuine)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(["genuine", "forgery"]))
def test_perturbation_stays_within_the_published_ranges(seed, kind):
    comps = np.array(COMPONENTS)
    out = perturb_components(comps, kind, np.random.default_rng(seed))
    lo_eps, hi_eps = (0.0, 0.25) if kind == "genuine" else (0.4, 0.65)
    for col, (neg, pos) in RELATIVE_BOUNDS.items():
        rel = out[:, col] / comps[:, col] - 1.0
        assert np.all((rel >= hi_eps * neg - 1e-12) & (rel <= hi_eps * pos + 1e-12))
        assert np.all(np.abs(rel) >= lo_eps * min(-neg, pos) - 1e-12)
    noise = 0.1 if kind == "genuine" else 0.2
    assert np.all(np.abs(out[:, 4:] - comps[:, 4:]) <= noise)
    assert np.all(out[:, 0] > 0) and np.all(out[:, 3] > 0)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="genuine"):
        duplicate(synthetic_signature(1), "skilled", 0)  # type: ignore[arg-type]
