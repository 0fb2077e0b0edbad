"""The report's finger-press section: quality, minutiae, scores against each reference, validated rates, refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inkwitness.fingerprint import LowQualityCapture, read_fingerprint
from inkwitness.fingerprint.figures import load_figures, protocol
from inkwitness.fingerprint.matcher import MATCH_THRESHOLD
from inkwitness.report import FingerCase, analyse_fingers

from .test_cli import run
from .test_report import ZH_ALLOWED, _flat, _pages

pytestmark = pytest.mark.data

#: Names of the fingerprint standards, algorithms, data set and metrics a Chinese section may show.
FINGER_ZH_ALLOWED = {"nist", "mindtct", "bozorth3", "nfiq", "iec", "fvc2002", "db1_b", "fmr100", "fmr1000"}


@pytest.fixture(scope="module")
def fvc(data_root) -> Path:
    folder = data_root / "fvc2002_db1b"
    if not folder.is_dir():
        pytest.skip(f"fvc2002_db1b not found under {data_root}")
    return folder


def _report(data_root: Path, fvc: Path, out: Path, lang: str, *extra: str):  # noqa: ANN202
    d = data_root / "svc2004/Task2"
    args = ["report", *sum((["--references", str(d / f"U2S{i}.TXT")] for i in range(1, 6)), []),
            "--questioned", str(d / "U2S12.TXT"), "-o", str(out / f"r-{lang}.pdf"), "--json",
            str(out / f"r-{lang}.json"), "--lang", lang, "--date", "2026-12-04", *extra]
    return run(*args)


def _finger_args(fvc: Path, questioned: str = "101_5", references: tuple[str, ...] = ("101_1", "101_2", "101_3")
                 ) -> list[str]:
    args = ["--finger-questioned", str(fvc / f"{questioned}.tif"), "--finger-ppi", "500"]
    for name in references:
        args += ["--finger-reference", str(fvc / f"{name}.tif")]
    return args


@pytest.fixture(scope="module")
def finger_reports(data_root, fvc, tmp_path_factory):
    """An English and a Chinese report of one case with a finger-press of the same finger."""
    out = tmp_path_factory.mktemp("finger-reports")
    made = {}
    for lang in ("en", "zh"):
        done = _report(data_root, fvc, out, lang, *_finger_args(fvc))
        assert done.returncode == 0, done.stderr
        made[lang] = (json.loads((out / f"r-{lang}.json").read_text()), (out / f"r-{lang}.pdf").read_bytes())
    return made


def test_english_report_has_the_finger_section_with_scores_and_rates(finger_reports, tmp_path):
    data, pdf = finger_reports["en"]
    section = data["fingerprints"]
    text = "".join(_pages(pdf, tmp_path))
    assert "5.5 Finger-press comparison" in text and "Validated error rates of the matcher on FVC2002 DB1_B" in text
    captures = section["captures"]
    assert [c["role"] for c in captures] == ["questioned", "reference 1", "reference 2", "reference 3"]
    assert [c["file_name"] for c in captures] == ["101_5.tif", "101_1.tif", "101_2.tif", "101_3.tif"]
    flat = _flat(text)
    for c in captures:
        assert c["file_sha256"] in flat and f"{c['nfiq2']}{c['minutiae']}" in flat
    assert len(section["comparisons"]) == 3
    for c in section["comparisons"]:
        assert f"{c['score']:.1f}" in text
        assert c["match"] == (c["score"] >= MATCH_THRESHOLD)
    # Same finger: every impression matches at the operating threshold.
    assert all(c["match"] for c in section["comparisons"]) and "match (same finger)" in text
    # The rates are the stored figures, not literals.
    figures = load_figures()
    fvc_rates = protocol(figures, "FVC protocol")
    assert f"{100 * fvc_rates['eer']:.2f} %" in text and f"{100 * fvc_rates['fmr100']:.2f} %" in text
    assert f"{100 * protocol(figures, 'all impostors')['fmr1000']:.2f} %" in text
    assert section["validation"]["protocols"][0] == fvc_rates
    assert "same80images" in flat and "optimistic" in text
    # Thumbnails of the four captures are in the PDF besides the signature figures.
    assert re.search(r"Questioned\s+Reference 1\s+Reference 2\s+Reference 3", text)
    assert not re.search(r"[\u3000-\u9fff\uff00-\uffef]", text)


def test_chinese_report_has_the_finger_section_and_stays_chinese(finger_reports, tmp_path):
    data, pdf = finger_reports["zh"]
    section = data["fingerprints"]
    text = "".join(_pages(pdf, tmp_path))
    assert "（五）指纹捺印比对" in text and "检材指纹与各样本指纹的比较" in text
    for c in section["comparisons"]:
        assert f"{c['score']:.1f}" in text
    assert "匹配（同一手指）" in text and "偏乐观" in text
    fvc_rates = protocol(load_figures(), "FVC protocol")
    assert f"{100 * fvc_rates['eer']:.2f} %" in text
    # As in test_report: file names, hashes, numbers in exponent form and the device's model name are data.
    for info in [*data["inputs"], *section["captures"]]:
        text = text.replace(info["file_name"] or "", " ")
    text = re.sub(r"\d(\.\d+)?e[+-]\d+", " ", text).replace("WACOM Intuos (SVC2004)", " ")
    hashes = [i["sha256"] for i in data["inputs"]] + [i["file_sha256"] or "" for i in data["inputs"]]
    hashes += [c["file_sha256"] for c in section["captures"]] + [section["validation"]["figures_sha256"]]
    hashes += [data["software"]["model"]["sha256"], data["software"]["calibration"]["sha256"]]
    words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9_.]*", text)}
    words = {w for w in words if not (re.fullmatch(r"[0-9a-f]+", w) and any(w in h for h in hashes))}
    assert not words - ZH_ALLOWED - FINGER_ZH_ALLOWED, sorted(words - ZH_ALLOWED - FINGER_ZH_ALLOWED)
    for english in ("match", "reference", "questioned", "minutiae", "threshold"):
        assert english not in text


def test_another_finger_scores_below_the_threshold(fvc):
    refs = [read_fingerprint(fvc / f"101_{i}.tif", ppi=500) for i in (1, 2, 3)]
    section = analyse_fingers(FingerCase(read_fingerprint(fvc / "104_4.tif", ppi=500), refs))
    assert not any(c["match"] for c in section["comparisons"]) and not section["best"]["match"]
    assert section["captures"][0]["file_name"] is None  # not submitted as a file: named by its role only


def test_old_calls_have_no_finger_section(data_root):
    from inkwitness.formats import read_signature
    from inkwitness.report import analyse

    d = data_root / "svc2004/Task2"
    data = analyse([read_signature(d / f"U4S{i}.TXT") for i in range(1, 4)], read_signature(d / "U4S9.TXT"))
    assert data.fingerprints is None and data.to_dict()["fingerprints"] is None


def test_a_capture_refused_by_quality_is_not_compared(fvc, tmp_path):
    blank = read_fingerprint(_blank_png(tmp_path))
    refs = [read_fingerprint(fvc / "101_1.tif", ppi=500)]
    with pytest.raises(LowQualityCapture, match="questioned.*refused"):
        analyse_fingers(FingerCase(blank, refs))


def _blank_png(tmp_path: Path) -> Path:
    path = tmp_path / "blank.png"
    Image.fromarray(np.full((374, 388), 200, dtype=np.uint8)).save(path, dpi=(500, 500))
    return path


def test_cli_bad_finger_input_exits_2_with_one_line(data_root, fvc, tmp_path):
    cases = [
        (["--finger-questioned", str(tmp_path / "missing.png"), "--finger-reference", str(fvc / "101_1.tif"),
          "--finger-ppi", "500"], "missing.png"),
        (["--finger-questioned", str(_blank_png(tmp_path)), "--finger-reference", str(fvc / "101_1.tif"),
          "--finger-ppi", "500"], "refused"),
        (["--finger-questioned", str(fvc / "101_5.tif"), "--finger-reference", str(fvc / "101_1.tif")],
         "--finger-ppi"),
        (["--finger-questioned", str(fvc / "101_5.tif"), "--finger-ppi", "500"], "--finger-reference"),
    ]
    (tmp_path / "notes.txt").write_text("not an image")
    cases.append((["--finger-questioned", str(tmp_path / "notes.txt"), "--finger-reference",
                   str(fvc / "101_1.tif"), "--finger-ppi", "500"], "notes.txt"))
    for args, needle in cases:
        out = _report(data_root, fvc, tmp_path, "en", *args)
        assert out.returncode == 2, (args, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], out.stderr
        assert "Traceback" not in out.stderr
