"""The report's material from the evidence a case has: a sealed PDF's field, a log entry, the enrolment store."""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import pytest

from inkwitness.formats import read_signature

from .test_cli import run
from .test_cli_evidence import _enrolled_workspace, _seal
from .test_report import ZH_ALLOWED, _flat, _pages

pytestmark = pytest.mark.data

FIELD = "inkwitness-signature-1"
DATE = "2026-12-05"


@pytest.fixture(scope="module")
def case(data_root, tmp_path_factory):
    """Writer 1 of SVC2004 Task 2 enrolled with five references (log entry 0); a skilled forgery sealed (entry 1)."""
    tmp = tmp_path_factory.mktemp("case")
    task2 = data_root / "svc2004/Task2"
    refs = [task2 / f"U1S{i}.TXT" for i in range(1, 6)]
    data, subject = _enrolled_workspace(tmp, [read_signature(p) for p in refs])
    out = _seal(tmp, data, task2 / "U1S21.TXT", tmp / "signed.pdf", "--subject", subject)
    assert out.returncode == 0, out.stderr
    return {"tmp": tmp, "data": data, "subject": subject, "refs": refs, "forgery": task2 / "U1S21.TXT",
            "other": task2 / "U1S6.TXT", "key": tmp / "notary.key.pem"}


def _report(case, name: str, *args: str, lang: str = "en"):
    """Run the report command; returns (process, JSON numbers or None, PDF bytes or None)."""
    out_pdf, out_json = case["tmp"] / f"{name}.pdf", case["tmp"] / f"{name}.json"
    proc = run("report", "-o", str(out_pdf), "--json", str(out_json), "--date", DATE, "--lang", lang, *args)
    if proc.returncode:
        return proc, None, None
    return proc, json.loads(out_json.read_text()), out_pdf.read_bytes()


def _file_refs(case) -> list[str]:
    return sum((["--references", str(p)] for p in case["refs"]), [])


def _one_line_exit_2(proc, needle: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr, proc.stderr


@pytest.fixture(scope="module")
def from_file(case):
    """The same comparison from plain files: the baseline every other route must reproduce."""
    proc, numbers, _ = _report(case, "files", *_file_refs(case), "--questioned", str(case["forgery"]))
    assert proc.returncode == 0, proc.stderr
    return numbers


def test_questioned_from_a_sealed_pdf_field_records_its_provenance(case, from_file):
    pdf = case["tmp"] / "signed.pdf"
    proc, numbers, report = _report(case, "pdf", *_file_refs(case), "--questioned-pdf", str(pdf), "--field", FIELD,
                                    "--escrow-key", str(case["key"]), "--data-dir", str(case["data"]))
    assert proc.returncode == 0, proc.stderr
    q = numbers["inputs"][-1]
    # The escrowed packet is the forgery that was sealed: the comparison equals the file-based one.
    assert q["sha256"] == read_signature(case["forgery"]).sha256 and numbers["lr"] == from_file["lr"]
    assert q["file_name"] == "signed.pdf" and q["file_sha256"] == hashlib.sha256(pdf.read_bytes()).hexdigest()
    source = q["source"]
    assert source["kind"] == "pdf" and source["field"] == FIELD and source["intact"] and source["valid"]
    assert source["trusted"] and source["timestamp"] and source["timestamp_valid"]
    assert source["log"]["index"] == 1 and source["log"]["included"] and source["log"]["event_type"] == "signing"
    text = " ".join("".join(_pages(report, case["tmp"])).split())
    assert f"signature field {FIELD} of a sealed PDF" in text and "PDF signature verifies" in text
    assert source["timestamp"].replace("T", " ")[:19] + " UTC" in text
    assert "transparency log entry 1" in text and "verified" in text
    assert source["log"]["leaf_hash"] in _flat(text)


def test_sealed_pdf_bad_inputs_exit_2_with_one_line(case, tmp_path):
    pdf = str(case["tmp"] / "signed.pdf")
    _one_line_exit_2(run("report", "-o", str(tmp_path / "r.pdf"), *_file_refs(case), "--questioned-pdf", pdf,
                         "--field", "no-such-field", "--escrow-key", str(case["key"])), "no signature field")
    assert run("escrow", "keygen", "-o", str(tmp_path / "other")).returncode == 0
    _one_line_exit_2(run("report", "-o", str(tmp_path / "r.pdf"), *_file_refs(case), "--questioned-pdf", pdf,
                         "--escrow-key", str(tmp_path / "other.key.pem")), "none of the given escrow keys")
    _one_line_exit_2(run("report", "-o", str(tmp_path / "r.pdf"), *_file_refs(case), "--questioned-pdf", pdf),
                     "--escrow-key")
    # A sealed PDF altered after signing is refused, not examined.
    raw = (case["tmp"] / "signed.pdf").read_bytes()
    box = re.search(rb"/MediaBox\s*\[[^\]]*\]", raw).group(0)
    (tmp_path / "altered.pdf").write_bytes(raw.replace(box, box.replace(b"0", b"1", 1), 1))
    proc = run("report", "-o", str(tmp_path / "r.pdf"), *_file_refs(case), "--questioned-pdf",
               str(tmp_path / "altered.pdf"), "--escrow-key", str(case["key"]))
    _one_line_exit_2(proc, "does not verify")
    assert not (tmp_path / "r.pdf").exists()


def test_log_entry_alone_opens_the_sealed_pdf_the_data_directory_keeps(case, from_file):
    proc, numbers, _ = _report(case, "entry", *_file_refs(case), "--log-entry", "1", "--data-dir",
                               str(case["data"]), "--escrow-key", str(case["key"]))
    assert proc.returncode == 0, proc.stderr
    q = numbers["inputs"][-1]
    assert q["source"]["kind"] == "pdf" and q["source"]["stored_with"] == 1 and q["source"]["log"]["included"]
    assert q["file_name"] is None and len(q["file_sha256"]) == 64 and numbers["lr"] == from_file["lr"]


def test_log_entry_states_provenance_of_a_packet_given_by_file(case, from_file):
    proc, numbers, report = _report(case, "file-entry", *_file_refs(case), "--questioned", str(case["forgery"]),
                                    "--log-entry", "1", "--data-dir", str(case["data"]))
    assert proc.returncode == 0, proc.stderr
    q = numbers["inputs"][-1]
    assert q["file_name"] == "U1S21.TXT" and q["source"]["kind"] == "log" and numbers["lr"] == from_file["lr"]
    log = q["source"]["log"]
    assert log["index"] == 1 and log["included"] and log["tree_size"] == 2 and len(log["leaf_hash"]) == 64
    text = " ".join("".join(_pages(report, case["tmp"])).split())
    assert "the signing event names" in text and "inclusion proof" in text and "verified" in text


def test_log_entry_bad_inputs_exit_2_with_one_line(case, tmp_path):
    common = ["report", "-o", str(tmp_path / "r.pdf"), *_file_refs(case), "--data-dir", str(case["data"])]
    _one_line_exit_2(run(*common, "--questioned", str(case["forgery"]), "--log-entry", "99"), "the log has 2 entries")
    _one_line_exit_2(run(*common, "--questioned", str(case["other"]), "--log-entry", "1"), "hashes differ")
    # Entry 0 is the enrolment: the log keeps only hashes of it, so a packet must be given.
    _one_line_exit_2(run(*common, "--log-entry", "0"), "keeps hashes only")
    _one_line_exit_2(run(*common, "--log-entry", "1"), "--escrow-key")
    _one_line_exit_2(run("report", "-o", str(tmp_path / "r.pdf"), *_file_refs(case), "--questioned",
                         str(case["forgery"]), "--log-entry", "1", "--data-dir", str(tmp_path / "none")),
                     "no inkwitness database")


def test_references_from_the_enrolment_store(case, from_file):
    proc, numbers, report = _report(case, "store", "--subject", case["subject"], "--data-dir", str(case["data"]),
                                    "--questioned", str(case["forgery"]))
    assert proc.returncode == 0, proc.stderr
    refs = numbers["inputs"][:-1]
    assert [r["sha256"] for r in refs] == [read_signature(p).sha256 for p in case["refs"]]
    assert numbers["lr"] == from_file["lr"]
    for r in refs:
        source = r["source"]
        assert source["kind"] == "store" and source["subject"] == case["subject"] and r["file_name"] is None
        assert source["log"]["index"] == 0 and source["log"]["event_type"] == "enrolment"
        assert source["log"]["included"] and source["listed"]
    text = " ".join("".join(_pages(report, case["tmp"])).split())
    assert f"enrolment store: subject {case['subject']}" in text and "the entry lists this packet's hash" in text


def test_enrolment_store_bad_inputs_exit_2_with_one_line(case, tmp_path):
    common = ["report", "-o", str(tmp_path / "r.pdf"), "--questioned", str(case["forgery"])]
    _one_line_exit_2(run(*common, "--subject", "no-such-subject", "--data-dir", str(case["data"])),
                     "subject no-such-subject not found")
    keyless = tmp_path / "keyless"
    shutil.copytree(case["data"], keyless)
    (keyless / "storage.key").unlink()
    _one_line_exit_2(run(*common, "--subject", case["subject"], "--data-dir", str(keyless)), "no storage key")
    assert not (keyless / "storage.key").exists()  # a report never makes a key


def test_method_states_calibration_population_and_the_device_class_limit(case, from_file):
    from inkwitness.calibration import default_calibration

    proc, _, report = _report(case, "pop", *_file_refs(case), "--questioned", str(case["forgery"]))
    assert proc.returncode == 0, proc.stderr
    text = " ".join("".join(_pages(report, case["tmp"])).split())
    population = default_calibration().training.population
    assert "Calibration population: held-out writers of" in text and population.startswith("held-out writers of")
    assert "per-device-class calibration (pen tablet versus finger on glass) is not possible yet" in text
    assert "SCUT-MMSIG sample holds one writer" in text
    limits = text[text.index("7. Limitations"):]
    assert "not per device class" in limits and "finger on a touch screen" in limits


def test_chinese_report_of_every_route_stays_chinese(case):
    proc, numbers, report = _report(case, "zh", "--subject", case["subject"], "--data-dir", str(case["data"]),
                                    "--questioned-pdf", str(case["tmp"] / "signed.pdf"), "--escrow-key",
                                    str(case["key"]), "--log-entry", "1", lang="zh")
    assert proc.returncode == 0, proc.stderr
    text = "".join(_pages(report, case["tmp"]))
    flat = _flat(text)
    assert "校准人群" in flat and "手指触屏" in flat and "SCUT-MMSIG样本仅一名书写人" in flat
    assert "封存PDF的签名域" in flat and "包含证明核验通过" in flat and "登记库" in flat and "该条目列有此数据包的哈希" in flat
    # Values are data, not words: the field, the subject and enrolment ids, hashes and file names.
    source = numbers["inputs"][-1]["source"]
    values = [FIELD, case["subject"], numbers["inputs"][0]["source"]["enrolment"], "signed.pdf"]
    for value in values:
        text = text.replace(value, " ")
    hashes = [i["sha256"] for i in numbers["inputs"]] + [i["file_sha256"] or "" for i in numbers["inputs"]] + [
        numbers["software"]["model"]["sha256"], numbers["software"]["calibration"]["sha256"],
        source["log"]["leaf_hash"], numbers["inputs"][0]["source"]["log"]["leaf_hash"]]
    text = re.sub(r"\d(\.\d+)?e[+-]\d+", " ", text).replace("WACOM Intuos (SVC2004)", " ")
    words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9_.]*", text)}
    flat_hashes = "".join(hashes + values[1:3])
    words = {w for w in words if not (re.fullmatch(r"[0-9a-f]+", w) and w in flat_hashes)}
    assert not words - ZH_ALLOWED, sorted(words - ZH_ALLOWED)


def test_origin_of_every_kind_stays_inside_its_cells(data_root):
    """Long values (hashes, ids, field names) in the origin column wrap inside the table, in both languages."""
    from inkwitness.calibration import default_calibration
    from inkwitness.report import Submitted, analyse, build_story, overflowing_cells
    from inkwitness.report.text import source_label

    task2 = data_root / "svc2004/Task2"
    sigs = [read_signature(task2 / f"U2S{i}.TXT") for i in (1, 2, 3, 4)]
    log = {"index": 12345, "leaf_hash": "ab" * 32, "tree_size": 99999, "included": True, "event_type": "signing",
           "log_key": "inkwitness.local/log"}
    store = {"kind": "store", "subject": "5f0c3a1e-9b7d-4c2a-8e11-0d6f2b9a7c34",
             "enrolment": "c1d2e3f4-a5b6-4789-9abc-def012345678", "log": {**log, "event_type": "enrolment"},
             "listed": True}
    pdf = {"kind": "pdf", "field": "inkwitness-signature-" + "9" * 20, "trusted": False, "intact": True,
           "valid": True, "timestamp": "2026-12-05T00:40:00+00:00", "timestamp_valid": True, "bound": True,
           "container_sha256": "cd" * 32, "problems": [], "log": log, "stored_with": 12345}
    submitted = [Submitted("", "", store), Submitted("", "", store), Submitted("U2S3.TXT", "ef" * 32, {"kind": "log",
                                                                                                       "log": log}),
                 Submitted("a-long-sealed-document-name.pdf", "01" * 32, pdf)]
    data = analyse(sigs[:3], sigs[3], submitted=submitted, report_date="2026-12-05")
    assert [i.file_name for i in data.inputs] == [None, None, "U2S3.TXT", "a-long-sealed-document-name.pdf"]
    unlogged = {**pdf, "log": None, "log_checked": False}
    assert source_label(unlogged, "en").endswith("no transparency log was examined")
    assert source_label({**unlogged, "log_checked": True}, "zh").endswith("所查透明日志中无其签署条目")
    for lang in ("en", "zh"):
        assert overflowing_cells(build_story(data, sigs[:3], sigs[3], default_calibration(), lang)) == []
