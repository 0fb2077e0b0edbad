"""The numbers of a forensic comparison: everything the report states, computed once.

``analyse`` is deterministic: the same inputs (including the report date, which defaults
to ``SOURCE_DATE_EPOCH`` or now) give the same ``ReportData``. The PDF renderer and the
service both use it, so the report's numbers equal the API's.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..calibration import CALIBRATION_FORMAT, Calibration, default_calibration, enfsi_verbal
from ..errors import EnrolmentError
from ..evaluation import eer
from ..features.globalfeatures import FEATURES
from ..features.timefunctions import normalise
from ..matching.dtw import dtw_path
from ..model import MODEL_FORMAT, Model, default_model
from ..signature import Signature
from ..verification import Verifier, prepare, view_matrix
from .fingerprints import FingerCase, analyse_fingers
from .text import feature_label, unit_label, warning_label

#: Sampling below this rate loses the fast parts of handwriting (~10-15 Hz components).
LOW_RATE_HZ = 75.0
#: How many deviating segments the dynamics figure highlights.
N_SEGMENTS = 3
#: Features shown in the table regardless of their deviation.
KEY_FEATURES = ("duration", "pen_down_duration", "n_strokes", "mean_speed", "max_speed", "mean_pressure",
                "aspect_ratio", "path_length", "pen_down_ratio")
#: A normalised distance component above this (times the spread among the references) is named
#: as an observation, as the verifier does for its own reasons.
NOTABLE_DISTANCE = 1.5


@dataclass(frozen=True)
class Submitted:
    """A file as submitted for examination: its name and the SHA-256 of its bytes.

    ``source`` says where the item came from when it is not a plain file (a sealed PDF's
    field, a log entry, the enrolment store) and what was checked; see ``report.sources``.
    An item that was not submitted as a file has an empty name and hash.
    """

    name: str
    sha256: str
    source: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    @classmethod
    def from_path(cls, path: str | Path) -> Submitted:
        """Name and hash of a file on disk, read as it is."""
        path = Path(path)
        return cls(path.name, hashlib.sha256(path.read_bytes()).hexdigest())

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> Submitted:
        """Name and hash of submitted bytes."""
        return cls(name, hashlib.sha256(data).hexdigest())


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
    file_name: str | None = None
    file_sha256: str | None = None
    #: The warnings as (code, detail) so the report can word them in its language.
    quality: list[tuple[str, str]] = field(default_factory=list)
    #: Where the item came from (``Submitted.source``); None for a plain file.
    source: dict[str, Any] | None = None


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
    # SWGDOC and GB/T 37239-2018 terms state how probable a proposition is, which needs prior odds
    # the system does not have: they are no longer derived from the LR (kept as None for the API).
    swgdoc: str | None
    gbt37239: str | None
    reasons: list[str]
    features: list[FeatureRow]
    closest_reference: int
    deviating_segments_ms: list[tuple[float, float, float]]
    validation: dict[str, Any]
    model: dict[str, Any] = field(default_factory=dict)
    report_date: str = ""
    qualification: str | None = None
    circumstances: str | None = None
    question: str | None = None
    #: The examiner's own conclusion (e.g. on a SWGDOC or GB/T scale), given with their prior judgement.
    examiner_conclusion: str | None = None
    #: Who submitted the material, when and how it was received (the chain of custody as known).
    provenance: str | None = None
    software: dict[str, Any] = field(default_factory=dict)
    observations: dict[str, list[str]] = field(default_factory=dict)
    #: The finger-press comparison (``report.fingerprints.analyse_fingers``), when the case has one.
    fingerprints: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _info(role: str, sig: Signature, submitted: Submitted | None = None) -> SampleInfo:
    quality: list[tuple[str, str]] = []
    rate = sig.sampling_rate_hz
    if rate and rate < LOW_RATE_HZ:
        quality.append(("low_rate", f"{rate:.0f} Hz < {LOW_RATE_HZ:.0f} Hz"))
    if sig.pressure is None:
        quality.append(("no_pressure", ""))
    if sig.timing == "nominal":
        quality.append(("nominal_timing", ""))
    quality += [("repaired", r) for r in sig.repairs if not r.startswith("t derived")]
    warnings = [warning_label(code, detail, "en") for code, detail in quality]
    return SampleInfo(role, sig.sha256, len(sig), sig.n_strokes, round(sig.duration_ms, 1), round(rate, 1),
                      list(sig.channel_names), sig.device.to_dict(), sig.timing, warnings,
                      (submitted.name or None) if submitted else None,
                      (submitted.sha256 or None) if submitted else None, quality,
                      submitted.source if submitted else None)


def resolve_date(value: datetime | str | None = None) -> datetime:
    """The report date: the value given, else ``SOURCE_DATE_EPOCH`` (reproducible builds), else now; in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        value = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).replace(microsecond=0)


def _artifact(kind: str, resource: str, fmt: str, in_use: object, shipped: object, text: str) -> dict[str, Any]:
    """Format and SHA-256 of the model or calibration in use: of the shipped file, or of its serialised form."""
    data = text.encode()
    source = "serialised"
    if in_use is shipped:
        try:
            data = resources.files("inkwitness").joinpath(resource).read_bytes()
            source = resource
        except (FileNotFoundError, OSError):
            pass
    return {"kind": kind, "format": fmt, "source": source, "sha256": hashlib.sha256(data).hexdigest()}


def _observations(comps: dict[str, float], features: list[FeatureRow], model: Model, lang: str) -> list[str]:
    """What differs most, in words: rhythm, shape and dynamics, and up to three deviating model features."""
    out = []
    tempo, shape = comps.get("all_tempo"), comps.get("all_min")
    if tempo is not None and tempo > NOTABLE_DISTANCE:
        out.append(f"Rhythm differs: aligning with the references needs {tempo:.1f}× the time warping the references "
                   "need among themselves." if lang == "en" else
                   f"节奏不同：与样本对齐所需的时间规整量为样本之间的{tempo:.1f}倍。")
    if shape is not None and shape > NOTABLE_DISTANCE:
        out.append(f"Trajectory and dynamics differ from the closest reference by {shape:.2f}× the spread expected "
                   "among this writer's signatures." if lang == "en" else
                   f"轨迹与书写动态和最接近样本的差异为该书写人签名间预期差异的{shape:.2f}倍。")
    used = set(model.global_features)
    flagged = sorted((f for f in features if f.flagged and f.name in used), key=lambda f: -abs(f.z))[:3]
    for f in flagged:
        label, unit = feature_label(f.name, lang), unit_label(f.unit, lang)
        if lang == "en":
            out.append(f"{label}: {f.questioned:.3g} vs reference mean {f.ref_mean:.3g} ± {f.ref_sd:.2g} {unit} "
                       f"(z = {f.z:+.1f}).")
        else:
            out.append(f"{label}：检材 {f.questioned:.3g}，样本均值 {f.ref_mean:.3g} ± {f.ref_sd:.2g}（{unit}；"
                       f"z = {f.z:+.1f}）。")
    return out


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
            calibration: Calibration | None = None, *, qualification: str | None = None,
            circumstances: str | None = None, question: str | None = None, conclusion: str | None = None,
            report_date: datetime | str | None = None, submitted: list[Submitted | None] | None = None,
            provenance: str | None = None, fingers: FingerCase | None = None) -> ReportData:
    """Compare a questioned signature with references and compute everything the report states.

    ``submitted`` names the files as received (references first, then the questioned one);
    ``fingers`` adds the finger-press comparison when the case has one.
    """
    model = model or default_model()
    calibration = calibration or default_calibration()
    submitted = list(submitted or [])
    if submitted and len(submitted) != len(references) + 1:
        raise ValueError("submitted must list every reference and then the questioned file")
    submitted += [None] * (len(references) + 1 - len(submitted))
    if len(references) < 3:
        raise EnrolmentError(f"a comparison needs at least 3 reference signatures, got {len(references)}")
    refs_prep = [prepare(r) for r in references]
    q_prep = prepare(questioned)
    verifier = Verifier(model).fit(refs_prep, check_consistency=False)
    result = verifier.score(q_prep)
    distances, _, _ = verifier.components(q_prep)
    log10_lr = float(calibration.log10_lr(result.score))
    # The closest reference (in the main DTW view) anchors the alignment figures.
    main_view = model.view_functions(verifier.template_.has_pressure and q_prep.has_pressure)[0][1]
    qm = view_matrix(q_prep, main_view)
    paths = [dtw_path(qm, view_matrix(r, main_view)) for r in refs_prep]
    closest = int(np.argmin([local.mean() for _, local in paths]))
    pairs, local = paths[closest]
    q_times = normalise(questioned).t
    # Every figure is computed from the calibration's stored score sets, never typed in.
    validation = {}
    for role, v in [*(("validation", v) for v in calibration.validation), ("training", calibration.training)]:
        metrics = calibration.metrics(v)
        key = v.name if role == "validation" else "training:" + v.name
        validation[key] = {"eer": eer(v.scores[v.labels == 1], v.scores[v.labels == 0])[0], **metrics,
                           "role": role, "dataset": v.name, "population": v.population,
                           "misleading": calibration.misleading_rates(v)}
    features = _feature_rows(refs_prep, q_prep, model)
    # Only the components the model fuses carry weight in the score; the others would mislead.
    fused = [k for k in model.fusion_components if k in result.components]
    software = {
        "inkwitness": __version__,
        "model": {**_artifact("model", "models/default.json", MODEL_FORMAT, model, default_model(), model.to_json()),
                  "trained_on": list(model.trained_on)},
        "calibration": {**_artifact("calibration", "models/calibration.json", CALIBRATION_FORMAT, calibration,
                                    default_calibration(), calibration.to_json()),
                        "fitted_on": calibration.training.name, "population": calibration.training.population,
                        "validated_on": [v.name for v in calibration.validation]},
    }
    return ReportData(
        case_id=case_id, examiner=examiner,
        inputs=[_info(f"reference {i + 1}", r, submitted[i]) for i, r in enumerate(references)]
        + [_info("questioned", questioned, submitted[-1])],
        channels_compared=list(result.channels),
        components={k: round(result.components[k], 4) for k in fused},
        score=round(result.score, 4), log10_lr=round(log10_lr, 3), lr=float(f"{10 ** log10_lr:.3g}"),
        lr_bounds_log10=(round(calibration.lower, 3), round(calibration.upper, 3)),
        enfsi={"en": enfsi_verbal(log10_lr, "en"), "zh": enfsi_verbal(log10_lr, "zh")},
        swgdoc=None, gbt37239=None, reasons=result.reasons,
        features=features, closest_reference=closest + 1,
        deviating_segments_ms=deviating_segments(q_times, pairs, local),
        validation=validation,
        model={"trained_on": list(model.trained_on), "threshold": model.threshold,
               "fusion_components": list(model.fusion_components), "global_features": list(model.global_features)},
        report_date=resolve_date(report_date).isoformat(), qualification=qualification,
        circumstances=circumstances, question=question, examiner_conclusion=conclusion, provenance=provenance,
        software=software,
        observations={lang: _observations(distances, features, model, lang) for lang in ("en", "zh")},
        fingerprints=analyse_fingers(fingers) if fingers is not None else None,
    )
