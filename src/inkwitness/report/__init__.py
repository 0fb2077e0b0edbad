"""Forensic comparison reports: the numbers (analysis) and the PDF (document)."""

from __future__ import annotations

from ..calibration import Calibration, default_calibration
from ..signature import Signature
from .analysis import ReportData, analyse
from .document import render


def build_report(references: list[Signature], questioned: Signature, *, case_id: str | None = None,
                 examiner: str | None = None, lang: str = "en",
                 calibration: Calibration | None = None) -> tuple[ReportData, bytes]:
    """Analyse and render: the report's numbers and its PDF bytes."""
    calibration = calibration or default_calibration()
    data = analyse(references, questioned, case_id=case_id, examiner=examiner, calibration=calibration)
    return data, render(data, references, questioned, calibration, lang)


__all__ = ["ReportData", "analyse", "build_report", "render"]
