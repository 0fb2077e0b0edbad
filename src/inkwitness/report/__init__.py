"""Dynamic signature comparison analysis reports: the numbers (analysis) and the PDF (document)."""

from __future__ import annotations

from datetime import datetime

from ..calibration import Calibration, default_calibration
from ..model import Model
from ..signature import Signature
from .analysis import ReportData, Submitted, analyse, resolve_date
from .fingerprints import FingerCase, analyse_fingers
from .document import build_story, overflowing_cells, render


def build_report(references: list[Signature], questioned: Signature, *, case_id: str | None = None,
                 examiner: str | None = None, lang: str = "en",
                 calibration: Calibration | None = None, model: Model | None = None,
                 qualification: str | None = None, circumstances: str | None = None, question: str | None = None,
                 conclusion: str | None = None, report_date: datetime | str | None = None,
                 submitted: list[Submitted | None] | None = None,
                 provenance: str | None = None, fingers: FingerCase | None = None) -> tuple[ReportData, bytes]:
    """Analyse and render: the report's numbers and its PDF bytes.

    ``report_date`` defaults to ``SOURCE_DATE_EPOCH`` if set, else now; ``submitted`` names the
    files as received, references first, then the questioned one; ``fingers`` adds the
    finger-press comparison section.
    """
    calibration = calibration or default_calibration()
    data = analyse(references, questioned, case_id=case_id, examiner=examiner, model=model, calibration=calibration,
                   qualification=qualification, circumstances=circumstances, question=question,
                   conclusion=conclusion, report_date=report_date, submitted=submitted,
                   provenance=provenance, fingers=fingers)
    return data, render(data, references, questioned, calibration, lang, fingers=fingers)


__all__ = ["FingerCase", "ReportData", "Submitted", "analyse", "analyse_fingers", "build_report", "build_story",
           "overflowing_cells", "render", "resolve_date"]
