"""Calibration and the forensic report: bounded LRs, verbal scales, rendering, text, determinism."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from inkwitness.calibration import (Calibration, ScoreSet, default_calibration, enfsi_verbal, gbt37239_term,
                                    swgdoc_term)
from inkwitness.formats import read_signature
from inkwitness.report import analyse, build_report

from .test_cli import run

pytestmark = pytest.mark.data


def pdftotext(pdf: bytes, tmp_path) -> str:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_lrs_are_bounded_by_the_calibration_data():
    cal = default_calibration()
    assert -4 < cal.lower < 0 < cal.upper < 4
    assert cal.log10_lr(1e6) == cal.upper and cal.log10_lr(-1e6) == cal.lower
    values = cal.log10_lr(np.linspace(-50, 50, 101))
    assert np.all(np.diff(values) >= 0) and np.isfinite(values).all()


def test_cllr_reported_for_calibration_and_unseen_data():
    summary = default_calibration().summary
    (train,) = summary["training"].values()
    assert 0 < train["cllr_min"] <= train["cllr"] < 0.3
    assert set(summary["validation"]) == {"svc2004-task2", "svc2004-task1"}
    assert all(0 < v["cllr"] < 1 for v in summary["validation"].values())


def test_calibration_refits_identically_from_its_json():
    cal = default_calibration()
    again = Calibration.from_json(cal.to_json())
    assert (again.lower, again.upper) == (cal.lower, cal.upper)
    assert again.log10_lr(0.7) == cal.log10_lr(0.7)


def test_calibration_needs_both_classes():
    with pytest.raises(Exception, match="both"):
        Calibration(ScoreSet("x", np.zeros(5), np.ones(5, dtype=int)), [])


@pytest.mark.parametrize("llr, enfsi, swgdoc, gbt", [
    (0.0, "no support", "no conclusion", "无法判断"),
    (0.5, "weak support for H1", "no conclusion", "无法判断"),
    (1.5, "moderate support for H1", "indications the writer did", "可能是同一人书写"),
    (2.5, "moderately strong support for H1", "probable the writer did", "很可能是同一人书写"),
    (-2.5, "moderately strong support for H2", "probable the writer did not", "很可能不是同一人书写"),
    (4.5, "very strong support for H1", "strong probability the writer did", "极可能是同一人书写"),
    (-7, "extremely strong support for H2", "elimination", "否定是同一人书写"),
])
def test_verbal_scales(llr, enfsi, swgdoc, gbt):
    assert enfsi_verbal(llr).startswith(enfsi)
    assert swgdoc_term(llr) == swgdoc and gbt37239_term(llr) == gbt


def _svc(data_root, user, indices):
    return [read_signature(data_root / f"svc2004/Task2/U{user}S{i}.TXT") for i in indices]


def test_genuine_and_forgery_reports_point_in_opposite_directions(data_root):
    refs = _svc(data_root, 3, range(1, 6))
    genuine = analyse(refs, _svc(data_root, 3, [10])[0])
    forged = analyse(refs, _svc(data_root, 3, [25])[0])
    assert genuine.log10_lr > 0 > forged.log10_lr
    assert "H1" in genuine.enfsi["en"] and "H2" in forged.enfsi["en"]


def test_report_renders_with_lr_verbal_scale_and_hashes(data_root, tmp_path):
    refs = _svc(data_root, 3, range(1, 6))
    q = _svc(data_root, 3, [10])[0]
    data, pdf = build_report(refs, q, case_id="C-2026-17", examiner="Dr. Wang", lang="en")
    assert pdf.startswith(b"%PDF")
    text = pdftotext(pdf, tmp_path)
    assert f"{data.lr:.3g}" in text and f"{data.log10_lr:+.2f}" in text
    assert data.enfsi["en"].split(" (")[0] in text
    for sig in [*refs, q]:
        assert sig.sha256[:40] in text.replace("\n", "").replace(" ", "")
    assert "C-2026-17" in text and "Limitations" in text and "Cllr" in text


def test_chinese_report_renders_chinese_text(data_root, tmp_path):
    refs = _svc(data_root, 3, range(1, 6))
    data, pdf = build_report(refs, _svc(data_root, 3, [25])[0], lang="zh")
    text = pdftotext(pdf, tmp_path)
    assert "似然比" in text and "局限性" in text
    assert data.gbt37239 in text.replace(" ", "")


def test_report_is_deterministic(data_root):
    refs = _svc(data_root, 5, range(1, 6))
    q = _svc(data_root, 5, [12])[0]
    first = build_report(refs, q, lang="en")
    second = build_report(refs, q, lang="en")
    assert first[0].to_dict() == second[0].to_dict()
    assert first[1] == second[1]


def test_report_cli_numbers_equal_its_json(data_root, tmp_path):
    d = data_root / "svc2004/Task2"
    args = ["report", *sum((["--references", str(d / f"U7S{i}.TXT")] for i in range(1, 6)), []),
            "--questioned", str(d / "U7S30.TXT"), "-o", str(tmp_path / "r.pdf"), "--json", str(tmp_path / "r.json")]
    out = run(*args)
    assert out.returncode == 0, out.stderr
    numbers = json.loads((tmp_path / "r.json").read_text())
    text = pdftotext((tmp_path / "r.pdf").read_bytes(), tmp_path)
    assert f"{numbers['lr']:.3g}" in text and f"{numbers['score']:+.3f}" in text


def test_report_cli_rejects_bad_language_and_too_few_references(data_root, tmp_path):
    d = data_root / "svc2004/Task2"
    out = run("report", "--references", str(d / "U1S1.TXT"), "--questioned", str(d / "U1S2.TXT"), "-o",
              str(tmp_path / "r.pdf"))
    assert out.returncode == 2 and "at least 3" in out.stderr
    out = run("report", "--references", str(d / "U1S1.TXT"), "--questioned", str(d / "U1S2.TXT"), "-o",
              str(tmp_path / "r.pdf"), "--lang", "fr")
    assert out.returncode == 2 and "--lang" in out.stderr
