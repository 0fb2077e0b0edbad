"""The numbers of a forensic comparison: everything the report states, computed once.

``analyse`` is deterministic: the same inputs give the same ``ReportData``. The PDF
renderer and the service both use it, so the report's numbers equal the API's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..calibration import Calibration, default_calibration, enfsi_verbal, gbt37239_term, swgdoc_term
from ..errors import EnrolmentError
from ..evaluation import eer
from ..features.globalfeatures import FEATURES
from ..features.timefunctions import normalise
from ..matching.dtw import dtw_path
from ..model import Model, default_model
from ..signature import Signature
from ..verification import Verifier, prepare, view_matrix

#: Sampling below this rate loses the fast parts of handwriting (~10-15 Hz components).
LOW_RATE_HZ = 75.0
#: How many deviating segments the dynamics figure highlights.
N_SEGMENTS = 3
#: Features shown in the table regardless of their deviation.
KEY_FEATURES = ("duration", "pen_down_duration", "n_strokes", "mean_speed", "max_speed", "mean_pressure",
                "aspect_ratio", "path_length", "pen_down_ratio")


@dataclass
class SampleInfo:
    """One input signature as the report lists it."""

    role: str
    sha256: str
    points: int
    strokes: int
    duration_ms: float
    rate_hz: float
    channels: list[str]
    device: dict[str, Any]
    timing: str
    warnings: list[str]


@dataclass
class FeatureRow:
    """One line of the feature table."""

    name: str
    unit: str
    questioned: float
    ref_min: float
    ref_max: float
    ref_mean: float
    ref_sd: float
    z: float
    flagged: bool


@dataclass
class ReportData:
    """Everything a report states; ``to_dict`` is what the API returns."""

    case_id: str | None
    examiner: str | None
    inputs: list[SampleInfo]
    channels_compared: list[str]
    components: dict[str, float]
    score: float
    log10_lr: float
    lr: float
    lr_bounds_log10: tuple[float, float]
    enfsi: dict[str, str]
    swgdoc: str
    gbt37239: str
    reasons: list[str]
    features: list[FeatureRow]
    closest_reference: int
    deviating_segments_ms: list[tuple[float, float, float]]
    validation: dict[str, Any]
    model: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _info(role: str, sig: Signature) -> SampleInfo:
    warnings = []
    rate = sig.sampling_rate_hz
    if rate and rate < LOW_RATE_HZ:
        warnings.append(f"low sampling rate ({rate:.0f} Hz < {LOW_RATE_HZ:.0f} Hz)")
    if sig.pressure is None:
        warnings.append("no pressure channel")
    if sig.timing == "nominal":
        warnings.append("timestamps derived from the declared rate")
    warnings += [f"repaired: {r}" for r in sig.repairs if not r.startswith("t derived")]
    return SampleInfo(role, sig.sha256, len(sig), sig.n_strokes, round(sig.duration_ms, 1), round(rate, 1),
                      list(sig.channel_names), sig.device.to_dict(), sig.timing, warnings)


def _feature_rows(refs_prep: list, q_prep: Any, model: Model) -> list[FeatureRow]:
    refs = np.vstack([r.globals for r in refs_prep])
    floor = model.global_floor * model.population_std_array
    rows = []
    for i, feat in enumerate(FEATURES):
        values = refs[:, i]
        qv = q_prep.globals[i]
        if not (np.isfinite(qv) and np.isfinite(values).all()):
            continue
        sd = float(values.std(ddof=1))
        sigma = max(float(np.sqrt(sd ** 2 + floor[i] ** 2)), 1e-12)
        z = float((qv - values.mean()) / sigma)
        rows.append(FeatureRow(feat.name, feat.unit, float(qv), float(values.min()), float(values.max()),
                               float(values.mean()), sd, round(z, 3), abs(z) >= 2.0))
    key = [r for r in rows if r.name in KEY_FEATURES]
    rest = sorted((r for r in rows if r.name not in KEY_FEATURES), key=lambda r: -abs(r.z))[:16]
    return key + rest


def deviating_segments(q_times: np.ndarray, pairs: np.ndarray, local: np.ndarray, n: int = N_SEGMENTS,
                       width: int = 20) -> list[tuple[float, float, float]]:
    """The ``n`` windows of the questioned trace (start ms, end ms, mean cost) that deviate most."""
    if local.size == 0:
        return []
    k = min(width, local.size)
    smooth = np.convolve(local, np.ones(k) / k, mode="same")
    taken = np.zeros(local.size, dtype=bool)
    out = []
    for idx in np.argsort(-smooth, kind="stable"):
        lo, hi = max(0, idx - k // 2), min(local.size, idx + k // 2 + 1)
        if taken[lo:hi].any():
            continue
        taken[lo:hi] = True
        out.append((float(q_times[pairs[lo, 0]]), float(q_times[pairs[hi - 1, 0]]), round(float(smooth[idx]), 4)))
        if len(out) == n:
            break
    return sorted(out)


def analyse(references: list[Signature], questioned: Signature, case_id: str | None = None,
            examiner: str | None = None, model: Model | None = None,
            calibration: Calibration | None = None) -> ReportData:
    """Compare a questioned signature with references and compute everything the report states."""
    model = model or default_model()
    calibration = calibration or default_calibration()
    if len(references) < 3:
        raise EnrolmentError(f"a comparison needs at least 3 reference signatures, got {len(references)}")
    refs_prep = [prepare(r) for r in references]
    q_prep = prepare(questioned)
    verifier = Verifier(model).fit(refs_prep, check_consistency=False)
    result = verifier.score(q_prep)
    log10_lr = float(calibration.log10_lr(result.score))
    # The closest reference (in the main DTW view) anchors the alignment figures.
    main_view = model.view_functions(verifier.template_.has_pressure and q_prep.has_pressure)[0][1]
    qm = view_matrix(q_prep, main_view)
    paths = [dtw_path(qm, view_matrix(r, main_view)) for r in refs_prep]
    closest = int(np.argmin([local.mean() for _, local in paths]))
    pairs, local = paths[closest]
    q_times = normalise(questioned).t
    validation = {}
    for v in calibration.validation:
        genuine = v.scores[v.labels == 1]
        forged = v.scores[v.labels == 0]
        metrics = calibration.metrics(v)
        validation[v.name] = {"eer": eer(genuine, forged)[0], "cllr": metrics["cllr"], "cllr_min": metrics["cllr_min"],
                              "n_same": metrics["n_same"], "n_different": metrics["n_different"]}
    train = calibration.metrics(calibration.training)
    validation["training:" + calibration.training.name] = {
        "eer": eer(calibration.training.scores[calibration.training.labels == 1],
                   calibration.training.scores[calibration.training.labels == 0])[0], **train}
    return ReportData(
        case_id=case_id, examiner=examiner,
        inputs=[_info(f"reference {i + 1}", r) for i, r in enumerate(references)] + [_info("questioned", questioned)],
        channels_compared=list(result.channels),
        components={k: round(v, 4) for k, v in result.components.items()},
        score=round(result.score, 4), log10_lr=round(log10_lr, 3), lr=float(f"{10 ** log10_lr:.3g}"),
        lr_bounds_log10=(round(calibration.lower, 3), round(calibration.upper, 3)),
        enfsi={"en": enfsi_verbal(log10_lr, "en"), "zh": enfsi_verbal(log10_lr, "zh")},
        swgdoc=swgdoc_term(log10_lr), gbt37239=gbt37239_term(log10_lr), reasons=result.reasons,
        features=_feature_rows(refs_prep, q_prep, model), closest_reference=closest + 1,
        deviating_segments_ms=deviating_segments(q_times, pairs, local),
        validation=validation,
        model={"trained_on": list(model.trained_on), "threshold": model.threshold,
               "fusion_components": list(model.fusion_components)},
    )
