"""Enrolment and scoring: scikit-learn-like API, refusals, cross-device channels, reasons."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from inkwitness.errors import EnrolmentError
from inkwitness.features.globalfeatures import FEATURE_NAMES, FEATURES, feature_table_markdown, global_features
from inkwitness.formats import read_signature
from inkwitness.model import Model, default_model, spread_key
from inkwitness.signature import Device, make_signature
from inkwitness.verification import Verifier, prepare

from .conftest import synthetic_signature


def test_more_than_100_global_features_each_documented():
    assert len(FEATURES) >= 100
    assert len(set(FEATURE_NAMES)) == len(FEATURES)
    assert all(f.definition and f.unit for f in FEATURES)


def test_feature_documentation_is_generated_from_the_code():
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "features.md").read_text()
    assert feature_table_markdown() in doc


def test_missing_pressure_makes_pressure_features_absent_not_zero():
    with_p = global_features(synthetic_signature(pressure=True))
    without = global_features(synthetic_signature(pressure=False))
    pressure_idx = [i for i, f in enumerate(FEATURES) if f.needs == "pressure"]
    assert np.isfinite(with_p[pressure_idx]).all()
    assert np.isnan(without[pressure_idx]).all()


def test_enrolment_needs_three_references():
    with pytest.raises(EnrolmentError, match="at least 3"):
        Verifier().fit([synthetic_signature(1), synthetic_signature(2)])


def test_enrolment_refuses_duplicates():
    s = synthetic_signature(1)
    with pytest.raises(EnrolmentError, match="same signature twice"):
        Verifier().fit([s, s, synthetic_signature(2)])


def test_scoring_before_enrolment_is_an_error():
    with pytest.raises(EnrolmentError, match="not enrolled"):
        Verifier().score(synthetic_signature())


def test_result_has_score_components_decision_and_reasons():
    refs = [synthetic_signature(seed) for seed in range(5)]
    verifier = Verifier().fit(refs)
    assert hasattr(verifier, "template_")
    result = verifier.score(synthetic_signature(10))
    assert set(result.components) == set(default_model().fusion_components)
    assert result.decision in ("genuine", "forgery")
    assert result.threshold == default_model().threshold
    assert isinstance(result.reasons, list)
    assert result.to_dict()["score"] == result.score


def test_threshold_parameter_overrides_the_operating_point():
    refs = [synthetic_signature(seed) for seed in range(5)]
    q = synthetic_signature(10)
    low = Verifier(threshold=-1e9).fit(refs).score(q)
    high = Verifier(threshold=1e9).fit(refs).score(q)
    assert low.accepted and not high.accepted and low.score == high.score


def test_only_channels_both_sides_have_are_compared():
    refs = [synthetic_signature(seed) for seed in range(5)]
    mouse_like = synthetic_signature(11, pressure=False)
    result = Verifier().fit(refs).score(mouse_like)
    assert "pressure" not in result.channels
    with_p = Verifier().fit(refs).score(synthetic_signature(11))
    assert "pressure" in with_p.channels


def test_different_rates_and_resolutions_are_normalised():
    base = synthetic_signature(3, n=300, rate_hz=100.0)
    # The same movement sampled at 200 Hz and at 4x the resolution.
    t2 = np.arange(600) * 5.0
    fine = make_signature(x=np.interp(t2, base.t, base.x) * 4, y=np.interp(t2, base.t, base.y) * 4, t=t2,
                          pressure=np.interp(t2, base.t, base.pressure), device=Device(sampling_rate_hz=200.0))
    a, b = prepare(base), prepare(fine)
    assert abs(a.length - b.length) <= 2
    np.testing.assert_allclose(a.matrix[:50, :2], b.matrix[:50, :2], atol=0.05)


@pytest.mark.data
def test_inconsistent_enrolment_is_refused_naming_the_reference(data_root):
    refs = [read_signature(data_root / f"svc2004/Task2/U1S{i}.TXT") for i in range(1, 5)]
    intruder = read_signature(data_root / "svc2004/Task2/U7S1.TXT")
    with pytest.raises(EnrolmentError, match="reference 3 .* does not match the others"):
        Verifier().fit(refs[:2] + [intruder] + refs[2:])
    Verifier().fit(refs)  # the genuine references alone are accepted


@pytest.mark.data
def test_genuine_scores_above_skilled_forgery_on_average(data_root):
    refs = [read_signature(data_root / f"svc2004/Task2/U3S{i}.TXT") for i in range(1, 6)]
    verifier = Verifier().fit(refs)
    genuine = [verifier.score(read_signature(data_root / f"svc2004/Task2/U3S{i}.TXT")).score for i in range(6, 21)]
    forged = [verifier.score(read_signature(data_root / f"svc2004/Task2/U3S{i}.TXT")).score for i in range(21, 41)]
    assert np.mean(genuine) > np.mean(forged)


def test_model_json_roundtrip():
    model = default_model()
    assert Model.from_json(model.to_json()) == model
    # SVC2004 Task1 stays out of training: it is the shipped model's unseen check.
    assert "svc2004-task2" in model.trained_on and "svc2004-task1" not in model.trained_on


def test_reference_spread_is_shrunk_toward_the_population_prior():
    refs = [synthetic_signature(seed) for seed in range(5)]
    questioned = synthetic_signature(40)
    base = default_model()
    priors = {spread_key(v, p): (0.6, 0.5) for v, _, _ in base.views for p in (True, False)}
    plain = replace(base, spread_shrink=0.0)
    shrunk = replace(base, spread_shrink=0.5, spread_prior=priors)
    assert plain.prior_spread("all", True) == (0.0, 0.0) and shrunk.prior_spread("all", True) == (0.3, 0.25)
    raw, _, _ = Verifier(plain).fit(refs).components(questioned)
    got, _, _ = Verifier(shrunk).fit(refs).components(questioned)
    template = Verifier(plain).fit(refs).template_
    for view, funcs in plain.view_functions(True):
        pair = template.pairwise(funcs, plain)[:, :, 0]
        spread = pair[~np.eye(5, dtype=bool)].mean()
        # Same distance, a denominator larger by exactly the scaled prior.
        assert got[f"{view}_mean"] == pytest.approx(raw[f"{view}_mean"] * spread / (spread + 0.3))
        assert got[f"{view}_tempo"] == raw[f"{view}_tempo"]
    assert Model.from_json(shrunk.to_json()) == shrunk


@pytest.mark.data
def test_training_learns_a_complete_model_from_development_data(data_root):
    from inkwitness.training import train

    model = train(["mcyt100", "sigcomp2009-nfi"], data_root, workers=2)
    assert model.trained_on == ("mcyt100", "sigcomp2009-nfi")
    assert len(model.fusion_weights) == len(model.fusion_components) and model.global_features
    assert np.isfinite(model.threshold) and 0 <= model.notes["training_skilled_eer"] < 0.5
    # Both datasets carry pressure: priors for every view with and without it, all positive.
    assert set(model.spread_prior) == {spread_key(v, p) for v, _, _ in model.views for p in (True, False)}
    assert all(m > 0 and c > 0 for m, c in model.spread_prior.values())
    assert Model.from_json(model.to_json()) == model


def test_dsdtw_time_functions_follow_their_definitions():
    from inkwitness.features.timefunctions import DSDTW, DSDTW_PRESSURE, LOG_RADIUS_EPS, normalise, time_functions

    names, matrix = time_functions(normalise(synthetic_signature()), with_pressure=True)
    assert set(DSDTW) | set(DSDTW_PRESSURE) <= set(names)
    cols = {n: matrix[:, names.index(n)] for n in names}
    assert np.isfinite(matrix).all()
    v, radius = cols["lp_speed"], cols["lp_log_radius"]
    dtheta = np.abs(cols["lp_v_dtheta"]) / np.maximum(v, 1e-12)
    assert np.allclose(radius, np.log((v + LOG_RADIUS_EPS) / (dtheta + LOG_RADIUS_EPS)), atol=1e-6)
    assert np.allclose(cols["lp_cos"] ** 2 + cols["lp_sin"] ** 2, 1.0)
    without, _ = time_functions(normalise(synthetic_signature(pressure=False)), with_pressure=True)
    assert not set(DSDTW_PRESSURE) & set(without)


def test_the_low_pass_keeps_pen_movements_and_removes_what_is_faster_than_15_hz():
    from inkwitness.features.timefunctions import lowpass

    t = np.arange(400) / 100.0
    slow, fast = np.sin(2 * np.pi * 3 * t), 0.5 * np.sin(2 * np.pi * 40 * t)
    out = lowpass(slow + fast)
    inner = slice(40, -40)
    assert np.abs(out[inner] - slow[inner]).max() < 0.02
    assert lowpass(np.arange(5.0)).tolist() == list(range(5))


def test_a_format_1_model_file_still_scores_as_it_did():
    from inkwitness.model import COMPONENTS

    old = replace(default_model(), template_view=None, fusion_components=COMPONENTS,
                  fusion_weights=(-5.3, 0.3, -4.9, -6.6, -3.3, -0.9, 3.2, -3.8), fusion_center=(), fusion_scale=())
    text = old.to_json().replace("inkwitness.model/2", "inkwitness.model/1")
    data = __import__("json").loads(text)
    for key in ("template_view", "fusion_center", "fusion_scale"):
        data.pop(key)
    loaded = Model.from_json(__import__("json").dumps(data))
    assert loaded.template_view is None and loaded.fusion_center == ()
    refs = [synthetic_signature(seed) for seed in range(5)]
    q = synthetic_signature(11)
    assert Verifier(loaded).fit(refs).score(q).score == pytest.approx(Verifier(old).fit(refs).score(q).score)


def test_standardised_fusion_centres_and_scales_each_log_component():
    model = Model(fusion_components=("all_mean", "global"), fusion_weights=(-2.0, -1.0), fusion_bias=0.5,
                  fusion_center=(0.1, -0.2), fusion_scale=(0.5, 2.0))
    comps = {"all_mean": 1.5, "global": 0.8}
    expected = 0.5 - 2.0 * (np.log(1.5) - 0.1) / 0.5 - 1.0 * (np.log(0.8) + 0.2) / 2.0
    assert model.fuse(comps) == pytest.approx(expected)


def test_the_mean_template_component_compares_with_the_references_own_distance():
    refs = [synthetic_signature(seed) for seed in range(5)]
    verifier = Verifier(replace(default_model(), template_view="all")).fit(refs)
    comps, _, _ = verifier.components(refs[0])
    other, _, _ = verifier.components(synthetic_signature(40, n=260))
    assert 0 < comps["template"] < other["template"]
    # Measuring twice reuses the cached template: the same value.
    again, _, _ = verifier.components(refs[0])
    assert again["template"] == comps["template"]
