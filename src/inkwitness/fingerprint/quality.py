"""Capture quality: NFIQ 2 (0-100) and minutia count, and the refusal of captures too poor to rely on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .enhance import foreground_mask, ridge_orientation
from .matcher import Extraction, extract, working_image
from .sample import Fingerprint, LowQualityCapture

#: NFIQ 2 below this is refused. FVC2002 DB1_B (dry and partial prints included) ranges 15-87, median 66.
MIN_NFIQ2 = 20
#: Fewer minutiae than this cannot support a comparison (12 is the classic courtroom point standard's floor).
MIN_MINUTIAE = 12
#: NFIQ 2's actionable measure: below this mean grey level contrast the image is empty or too faint.
MIN_CONTRAST = 3.0
#: Mean ridge-flow coherence over the finger. FVC2002 DB1_B: 0.35-0.85 (median 0.68); sensor noise 0.09-0.15.
MIN_COHERENCE = 0.25


@dataclass(frozen=True)
class QualityReport:
    """NFIQ 2, minutiae, and the reasons (if any) to refuse the capture."""

    nfiq2: int | None
    minutiae: int
    coherence: float
    actionable: dict[str, float]
    reasons: tuple[str, ...] = field(default=())

    @property
    def acceptable(self) -> bool:
        """Whether the capture may be enrolled or compared."""
        return not self.reasons


def assess(fp: Fingerprint, min_nfiq2: int = MIN_NFIQ2, min_minutiae: int = MIN_MINUTIAE,
           extraction: Extraction | None = None) -> QualityReport:
    """Measure a capture and list every reason to refuse it."""
    ex = extraction or extract(fp, quality=True)
    n = len(ex.template.minutiae)
    coherence = ridge_coherence(working_image(fp))
    reasons = []
    # NFIQ 2 scores random noise around 30 and mindtct finds 150 "minutiae" in it; ridge flow tells them apart.
    if coherence < MIN_COHERENCE:
        reasons.append(f"no coherent ridge flow (coherence {coherence:.2f} < {MIN_COHERENCE}): not a fingerprint")
    if ex.nfiq2 is None:
        reasons.append("NFIQ 2 finds no fingerprint in the image (blank, uniform or not a finger)")
    elif ex.nfiq2 < min_nfiq2:
        reasons.append(f"NFIQ 2 quality {ex.nfiq2} is below the threshold {min_nfiq2} "
                       f"({_hint(ex.actionable)})")
    if n < min_minutiae:
        reasons.append(f"only {n} minutiae found, at least {min_minutiae} are needed")
    return QualityReport(ex.nfiq2, n, round(coherence, 3), ex.actionable, tuple(reasons))


def require_quality(fp: Fingerprint, min_nfiq2: int = MIN_NFIQ2, min_minutiae: int = MIN_MINUTIAE
                    ) -> tuple[Extraction, QualityReport]:
    """Extract and assess; raise LowQualityCapture with every reason when the capture is too poor."""
    ex = extract(fp, quality=True)
    report = assess(fp, min_nfiq2, min_minutiae, ex)
    if not report.acceptable:
        raise LowQualityCapture("capture refused: " + "; ".join(report.reasons) + ". Press the finger again.")
    return ex, report


def ridge_coherence(image: np.ndarray, ppi: float = 500.0) -> float:
    """Mean coherence of the ridge orientation over the finger area (0: no flow, 1: parallel ridges)."""
    mask = foreground_mask(image, ppi)
    if not mask.any():
        return 0.0
    _, coherence = ridge_orientation(image, ppi)
    return float(coherence[mask].mean())


def _hint(actionable: dict[str, float]) -> str:
    # NFIQ 2's actionable feedback names what the person pressing the finger can change.
    contrast = actionable.get("EmptyImageOrContrastTooLow")
    if contrast is not None and contrast < MIN_CONTRAST:
        return "the image is empty or its contrast too low"
    if actionable.get("SufficientFingerprintForeground", 1e9) < 30_000:
        return "too little of the finger touched the sensor"
    return "blurred, smudged, too dry or too wet"
