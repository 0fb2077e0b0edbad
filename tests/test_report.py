"""Calibration and the forensic report: bounded LRs, verbal scales, rendering, text, determinism."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
from datetime import datetime, timezone
from importlib import resources

import numpy as np
import pytest

from inkwitness import __version__
from inkwitness.calibration import (Calibration, ScoreSet, default_calibration, enfsi_verbal, gbt37239_term,
                                    swgdoc_term)
from inkwitness.formats import read_signature
from inkwitness.model import default_model
from inkwitness.report import Submitted, analyse, build_report, build_story, overflowing_cells, resolve_date
from inkwitness.report.fonts import register_pdf_font
from inkwitness.report.text import escape

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
    # Validation sets are data sets the model was not trained on.
    assert "svc2004-task1" in summary["validation"]
    assert not set(summary["validation"]) & set(default_model().trained_on)
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
    (1.5, "moderate support for H1", "indications the writer did", "倾向认定是同一人书写"),
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
    assert data.enfsi["zh"] in text.replace(" ", "").replace("\n", "")


def test_report_is_deterministic(data_root):
    refs = _svc(data_root, 5, range(1, 6))
    q = _svc(data_root, 5, [12])[0]
    first = build_report(refs, q, lang="en", report_date="2026-03-01T10:00:00+00:00")
    second = build_report(refs, q, lang="en", report_date="2026-03-01T10:00:00+00:00")
    assert first[0].to_dict() == second[0].to_dict()
    assert first[1] == second[1]


def test_report_cli_numbers_equal_its_json(data_root, tmp_path):
    d = data_root / "svc2004/Task2"
    args = ["report", *sum((["--references", str(d / f"U7S{i}.TXT")] for i in range(1, 6)), []),
            "--questioned", str(d / "U7S30.TXT"), "-o", str(tmp_path / "r.pdf"), "--json", str(tmp_path / "r.json"),
            "--examiner", "A. Examiner", "--qualification", "FDE", "--circumstances", "Disputed loan",
            "--question", "Who signed?", "--provenance", "By post", "--date", "2026-12-04"]
    out = run(*args)
    assert out.returncode == 0, out.stderr
    numbers = json.loads((tmp_path / "r.json").read_text())
    text = pdftotext((tmp_path / "r.pdf").read_bytes(), tmp_path)
    assert f"{numbers['lr']:.3g}" in text and f"{numbers['score']:+.3f}" in text
    assert numbers["report_date"].startswith("2026-12-04") and numbers["qualification"] == "FDE"
    assert numbers["circumstances"] == "Disputed loan" and numbers["provenance"] == "By post"
    questioned = numbers["inputs"][-1]
    assert questioned["file_name"] == "U7S30.TXT"
    assert questioned["file_sha256"] == hashlib.sha256((d / "U7S30.TXT").read_bytes()).hexdigest()
    flat = _flat("".join(_pages((tmp_path / "r.pdf").read_bytes(), tmp_path)))
    assert "U7S30.TXT" in flat and questioned["file_sha256"] in flat
    out = run(*args[:-1], "not-a-date")
    assert out.returncode == 2 and "--date" in out.stderr


def test_report_cli_rejects_bad_language_and_too_few_references(data_root, tmp_path):
    d = data_root / "svc2004/Task2"
    out = run("report", "--references", str(d / "U1S1.TXT"), "--questioned", str(d / "U1S2.TXT"), "-o",
              str(tmp_path / "r.pdf"))
    assert out.returncode == 2 and "at least 3" in out.stderr
    out = run("report", "--references", str(d / "U1S1.TXT"), "--questioned", str(d / "U1S2.TXT"), "-o",
              str(tmp_path / "r.pdf"), "--lang", "fr")
    assert out.returncode == 2 and "--lang" in out.stderr


# --- the report as a document: escaping, language, parts, material, scales, validation, layout ------------

REPORT_DATE = "2026-12-04T09:30:00+00:00"
#: Latin words a Chinese report may contain: units, abbreviations and proper names.
ZH_ALLOWED = {"ms", "mm", "hz", "sha", "lr", "log10", "dtw", "pdf", "enfsi", "iso", "gb", "t", "svc2004", "cllr",
              "cllr_min", "inkwitness", "h1", "h2", "z", "susig", "sigcomp2011", "elub", "swgdoc", "eer", "det",
              "tippett", "x", "y", "json", "wacom", "intuos", "inkwitness.model", "inkwitness.calibration",
              "scut", "mmsig"}


def _pages(pdf: bytes, tmp_path, *args: str) -> list[str]:
    """pdftotext of each page."""
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "p.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", *args, str(path), "-"], capture_output=True, text=True, check=True).stdout
    return out.split("\f")[:-1]


def _flat(text: str) -> str:
    return "".join(text.split())


@pytest.fixture(scope="module")
def reports(data_root, tmp_path_factory):
    """A plain English report, an English one with hostile markup in every supplied field, and a Chinese one."""
    tmp = tmp_path_factory.mktemp("reports")
    planted = tmp / "planted.png"
    import matplotlib.pyplot as plt

    plt.imsave(planted, np.zeros((8, 8)))
    d = data_root / "svc2004/Task2"
    paths = [d / f"U1S{i}.TXT" for i in range(1, 6)] + [d / "U1S21.TXT"]
    refs, q = [read_signature(p) for p in paths[:5]], read_signature(paths[5])
    submitted = [Submitted.from_path(p) for p in paths]
    hostile = f'K-1 <img src="{planted}" width="50" height="50"/> <a href="https://evil.example/">click</a> &amp;'
    common = dict(report_date=REPORT_DATE, submitted=submitted)
    plain = build_report(refs, q, lang="en", case_id="K-1", **common)
    marked = build_report(refs, q, lang="en", case_id=hostile, examiner='Dr. 王 <font size="40">big</font>',
                          qualification="Document examiner <b>bold</b>", circumstances="Contract <u>dispute</u>",
                          question="Who signed? <br/>", conclusion="probable the writer did not",
                          provenance="Received by courier <i>sealed</i> on 2026-12-01", **common)
    zh = build_report(refs, q, lang="zh", case_id="案-2026-17", examiner="王明", qualification="文书检验工程师",
                      circumstances="合同签名有争议。", question="检材签名是否为王某所写？",
                      provenance="2026年12月1日由委托方当面提交。", **common)
    return {"refs": refs, "q": q, "paths": paths, "hostile": hostile, "plain": plain, "marked": marked, "zh": zh,
            "tmp": tmp}


def _image_count(pdf: bytes, tmp_path) -> int:
    if not shutil.which("pdfimages"):
        pytest.skip("pdfimages (poppler-utils) is not installed")
    path = tmp_path / "i.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    return len(out.splitlines()) - 2


def test_escape_makes_markup_literal_and_switches_font_for_cjk():
    assert (escape('<img src="/x.png"/> & <a href="y">')
            == '&lt;img src=&quot;/x.png&quot;/&gt; &amp; &lt;a href=&quot;y&quot;&gt;')
    assert escape("Dr. 王 ≥ <b>", "CJK") == 'Dr. <font name="CJK">王</font> <font name="CJK">≥</font> &lt;b&gt;'


def test_supplied_markup_is_shown_literally_and_embeds_nothing(reports, tmp_path):
    data, pdf = reports["marked"]
    text = "\n".join(_pages(pdf, tmp_path))
    flat = _flat(text)
    assert _flat(reports["hostile"]) in flat
    for literal in ['<font size="40">big</font>', "<b>bold</b>", "<u>dispute</u>", "<br/>", "<i>sealed</i>"]:
        assert _flat(literal) in flat
    assert b"/URI" not in pdf and b"/Annot" not in pdf
    assert _image_count(pdf, tmp_path) == _image_count(reports["plain"][1], tmp_path)
    assert data.case_id == reports["hostile"]


def _glyph_problems(text: str) -> list[str]:
    """Characters no font of the report can draw: not cp1252 (standard fonts) and not in the CJK font."""
    from reportlab.pdfbase.pdfmetrics import getFont

    cmap = getFont(register_pdf_font()).face.charToGlyph
    bad = []
    for ch in set(text) - set(" \n\f\t"):
        try:
            ch.encode("cp1252")
            continue
        except UnicodeEncodeError:
            pass
        if ord(ch) not in cmap or ch == "\ufffd":
            bad.append(ch)
    return bad


def test_every_character_of_both_reports_has_a_glyph(reports, tmp_path):
    for key in ("plain", "marked", "zh"):
        pages = _pages(reports[key][1], tmp_path)
        assert len(pages) >= 4
        for page in pages:
            assert "\ufffd" not in page
            assert not _glyph_problems(page), (key, _glyph_problems(page))
    # The Chinese report sets everything in the CJK font, so every character must be in it.
    from reportlab.pdfbase.pdfmetrics import getFont

    cmap = getFont(register_pdf_font()).face.charToGlyph
    text = "".join(_pages(reports["zh"][1], tmp_path))
    assert not {ch for ch in text if not ch.isspace() and ord(ch) not in cmap}


def test_english_report_is_in_english(reports, tmp_path):
    text = "".join(_pages(reports["plain"][1], tmp_path))
    assert not re.search(r"[\u3000-\u9fff\uff00-\uffef]", text)
    assert "Dynamic signature comparison analysis report" in text


def test_chinese_report_is_entirely_chinese(reports, tmp_path):
    data, pdf = reports["zh"]
    text = "".join(_pages(pdf, tmp_path))
    # Hashes (wrapped over lines in their cells), file names, numbers such as 1.2e+04 and the
    # device's model name are data, not the report's words.
    for info in data.inputs:
        text = text.replace(info.file_name or "", " ")
    text = re.sub(r"\d(\.\d+)?e[+-]\d+", " ", text).replace("WACOM Intuos (SVC2004)", " ")
    hashes = [i.sha256 for i in data.inputs] + [i.file_sha256 or "" for i in data.inputs] + [
        data.software["model"]["sha256"], data.software["calibration"]["sha256"]]
    words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9_.]*", text)}
    words = {w for w in words if not (re.fullmatch(r"[0-9a-f]+", w) and any(w in h for h in hashes))}
    assert not words - ZH_ALLOWED, sorted(words - ZH_ALLOWED)
    for english in ("vy_sign_changes", "height units", "pressure", "reference", "repaired", "SWGDOC九级"):
        assert english not in text
    assert "●" in text  # bullets render (the CJK font has no U+2022)


def test_report_states_date_pages_examiner_and_versions(reports, tmp_path):
    data, pdf = reports["marked"]
    pages = _pages(pdf, tmp_path)
    for n, page in enumerate(pages, 1):
        assert f"Page {n} of {len(pages)}" in page and "2026-12-04" in page
    assert b"D:20261204093000" in pdf and b"D:20000101" not in pdf
    text = "".join(pages)
    for needle in ("Dr. 王", "Document examiner", "Signature", "Contract", "Who signed?", f"inkwitness {__version__}",
                   "Case circumstances and question", "Propositions", "Method and its validation",
                   "Provenance: Received by courier"):
        assert needle in text
    model_sha = hashlib.sha256(resources.files("inkwitness").joinpath("models/default.json").read_bytes()).hexdigest()
    cal_sha = hashlib.sha256(resources.files("inkwitness").joinpath("models/calibration.json").read_bytes()).hexdigest()
    assert data.software["model"]["sha256"] == model_sha and data.software["calibration"]["sha256"] == cal_sha
    flat = _flat(text)
    assert model_sha in flat and cal_sha in flat
    # The propositions come before any result.
    assert text.index("Propositions") < text.index("Results") < text.index("Evaluative opinion")
    zh_pages = _pages(reports["zh"][1], tmp_path)
    assert all(f"第 {n} 页，共 {len(zh_pages)} 页" in p for n, p in enumerate(zh_pages, 1))
    assert "合同签名有争议" in "".join(zh_pages) and "检验人" in "".join(zh_pages)
    assert "由委托方当面提交" in _flat("".join(zh_pages))


def test_report_date_comes_from_the_option_or_source_date_epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert resolve_date().isoformat() == "2023-11-14T22:13:20+00:00"
    assert resolve_date("2026-01-02").isoformat() == "2026-01-02T00:00:00+00:00"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert abs((resolve_date() - datetime.now(timezone.utc)).total_seconds()) < 60


def test_material_lists_submitted_files_with_their_hashes(reports, tmp_path):
    data, pdf = reports["plain"]
    flat = _flat("".join(_pages(pdf, tmp_path)))
    for path, info in zip(reports["paths"], data.inputs):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert info.file_name == path.name and info.file_sha256 == digest
        assert path.name in flat and digest in flat and info.sha256 in flat
    assert data.inputs[0].file_sha256.startswith("80998969")
    # Every item states its origin; plain files say so (report.sources adds PDFs, log entries and the store).
    assert all(info.source is None for info in data.inputs) and flat.count("fileassubmitted") == len(data.inputs)
    assert _flat("".join(_pages(reports["zh"][1], tmp_path))).count("按文件送检") == len(data.inputs)


def test_only_the_models_fused_components_are_reported(reports, tmp_path, data_root):
    data, pdf = reports["plain"]
    model = default_model()
    assert list(data.components) == [c for c in model.fusion_components]
    assert "dyn_tempo" not in data.components and "dir_tempo" not in data.components
    text = "".join(_pages(pdf, tmp_path))
    assert "dynamics (velocity, pressure): rhythm" not in text
    smaller = dataclasses.replace(model, fusion_components=("all_mean", "global"), fusion_weights=(-1.0, -1.0))
    other = analyse(reports["refs"], reports["q"], model=smaller, report_date=REPORT_DATE)
    assert list(other.components) == ["all_mean", "global"]


def test_opinion_is_the_lr_and_posterior_scales_appear_only_as_the_examiners(reports, tmp_path):
    data, pdf = reports["plain"]
    text = "".join(_pages(pdf, tmp_path))
    assert data.swgdoc is None and data.gbt37239 is None
    assert "SWGDOC" not in text and "37239" not in text and "probable the writer" not in text
    assert data.enfsi["en"] in " ".join(text.split())
    marked = " ".join("".join(_pages(reports["marked"][1], tmp_path)).split())
    assert "Examiner's conclusion (the examiner's own, not derived from the LR)" in marked
    assert "probable the writer did not" in marked and "prior judgement" in marked
    zh_data, zh_pdf = reports["zh"]
    zh = _flat("".join(_pages(zh_pdf, tmp_path)))
    assert "笔迹动态特征比对分析报告" in zh and "司法鉴定比对报告" not in zh and "检验人结论" not in zh
    assert "支持（支持" not in zh_data.enfsi["zh"] and zh_data.enfsi["zh"].count("支持") == 1
    assert "检材签名为样本签名的书写人所写" in enfsi_verbal(1.5, "zh") and "参考书写人" not in enfsi_verbal(1.5, "zh")


def test_validation_figures_are_computed_from_the_calibration_and_stated(reports, tmp_path):
    data, pdf = reports["plain"]
    cal = default_calibration()
    held = cal.validation[0]
    llr = np.asarray(cal.log10_lr(held.scores))
    forged, genuine = llr[held.labels == 0], llr[held.labels == 1]
    figures = data.validation[held.name]
    assert figures["misleading"]["h2_lr_above_1"] == pytest.approx((forged > 0).mean())
    assert figures["misleading"]["h2_lr_above_100"] == pytest.approx((forged > 2).mean())
    assert figures["misleading"]["h1_lr_below_1"] == pytest.approx((genuine < 0).mean())
    assert figures["role"] == "validation"
    text = " ".join("".join(_pages(pdf, tmp_path)).split())
    m = figures["misleading"]
    for value in (m["h2_lr_above_1"], m["h2_lr_above_10"], m["h2_lr_above_100"], m["h1_lr_below_1"]):
        assert f"{100 * value:.1f} %" in text
    assert f"{figures['cllr']:.3f}" in text and f"{figures['cllr_min']:.3f}" in text
    assert "40 writers" in text and "ELUB" in text and f"{data.lr_bounds_log10[1]:+.2f}" in text


def test_score_sets_keep_an_optional_population_backwards_compatibly():
    cal = default_calibration()
    old = json.loads(cal.to_json())
    assert all("population" not in v for v in old["validation"])  # the shipped file's format is unchanged
    old["validation"][0]["population"] = "40 writers"
    again = Calibration.from_json(json.dumps(old))
    assert again.validation[0].population == "40 writers"
    assert all(v.population is None for v in again.validation[1:])
    assert json.loads(again.to_json())["validation"][0]["population"] == "40 writers"
    rates = cal.misleading_rates(ScoreSet("x", np.array([-9.0, 9.0, 9.0]), np.array([1, 0, 1])))
    assert rates["h2_lr_above_1"] == 1.0 and rates["h1_lr_below_1"] == 0.5
    assert cal.misleading_rates(ScoreSet("x", np.array([1.0]), np.array([1])))["h2_lr_above_1"] is None


def test_limitations_state_what_was_not_validated(reports, tmp_path):
    text = " ".join("".join(_pages(reports["plain"][1], tmp_path)).split())
    for needle in ("skilled simulation only", "disguise", "auto-forgery", "not been validated"):
        assert needle in text
    zh = _flat("".join(_pages(reports["zh"][1], tmp_path)))
    assert "熟练摹仿" in zh and "伪装" in zh and "自我伪造" in zh and "不是司法鉴定意见书" in zh


def test_table_text_stays_inside_its_cells(reports):
    for lang in ("en", "zh"):
        data = reports["zh" if lang == "zh" else "marked"][0]
        story = build_story(data, reports["refs"], reports["q"], default_calibration(), lang)
        assert overflowing_cells(story) == []


def test_words_on_rendered_pages_do_not_overlap(reports, tmp_path):
    """pdftotext word boxes: text spilling out of a cell would run into its neighbour's words."""
    for key in ("marked", "zh"):
        _, pdf = reports[key]
        path = tmp_path / f"{key}.pdf"
        path.write_bytes(pdf)
        html = subprocess.run(["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout
        for page in html.split("<page ")[1:]:
            boxes = [tuple(map(float, m)) for m in
                     re.findall(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)"', page)]
            for i, (x0, y0, x1, y1) in enumerate(boxes):
                for a0, b0, a1, b1 in boxes[i + 1:]:
                    overlap_x = min(x1, a1) - max(x0, a0)
                    overlap_y = min(y1, b1) - max(y0, b0)
                    assert not (overlap_x > 1.0 and overlap_y > 2.0), (key, (x0, y0, x1, y1), (a0, b0, a1, b1))


def test_both_reports_render_to_png(reports, tmp_path):
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    for key in ("marked", "zh"):
        path = tmp_path / f"{key}.pdf"
        path.write_bytes(reports[key][1])
        subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / key)], check=True)
        pngs = sorted(tmp_path.glob(f"{key}-*.png"))
        assert len(pngs) == len(_pages(reports[key][1], tmp_path)) and all(p.stat().st_size > 5000 for p in pngs)
