"""The ``inkwitness`` command on real files, and its one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from inkwitness.formats import read_signature

from .conftest import synthetic_signature


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "inkwitness.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_info_prints_counts_channels_and_hash(data_root):
    path = data_root / "svc2004/Task2/U1S1.TXT"
    out = run("info", str(path))
    assert out.returncode == 0, out.stderr
    sig = read_signature(path)
    assert "points        84" in out.stdout
    assert "strokes       6" in out.stdout
    assert "channels      t, x, y, pressure, azimuth, altitude" in out.stdout
    assert sig.sha256 in out.stdout
    assert "100.0 Hz" in out.stdout


@pytest.mark.parametrize("to", ["native", "iso19794-7"])
def test_convert_detects_input_and_writes_readable_output(data_root, tmp_path, to):
    src = data_root / "susig/BlindSubCorpus/GENUINE/045_g_4.sig"
    dst = tmp_path / "out.bin"
    out = run("convert", str(src), str(dst), "--to", to)
    assert out.returncode == 0, out.stderr
    back = read_signature(dst)
    assert len(back) == len(read_signature(src))
    if to == "native":
        assert back.sha256 == read_signature(src).sha256


def test_plot_writes_a_png(data_root, tmp_path):
    out = run("plot", str(data_root / "sigcomp2011_dutch_online/genuine/001_1.HWR"), "-o", str(tmp_path / "p.png"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stderr == ""


def test_datasets_list_and_check(data_root):
    out = run("datasets", "list", str(data_root))
    assert out.returncode == 0, out.stderr
    assert "sigcomp2011-dutch" in out.stdout and "244" in out.stdout
    out = run("datasets", "check", str(data_root), "--dataset", "sigcomp2011-dutch")
    assert out.returncode == 0, out.stderr
    assert "244 genuine + 119 skilled unique, ok" in out.stdout
    assert "86 byte-identical duplicate" in out.stdout


@pytest.mark.parametrize("content", [b"", b"garbage\n", b"\x00\x01\x02" * 50, b"SDI\x00 10\x00\xff",
                                     b'{"format":"inkwitness.signature/1","strokes":[{"x":[1e999],"y":[1]}]}',
                                     b"3\n1 2 3 1\n1 2 nan 1\n1 2 3 1\n"])
def test_bad_input_exits_2_with_one_readable_line(tmp_path, content):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    out = run("info", str(path))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert "Traceback" not in out.stderr


def test_missing_file_and_bad_options_exit_2(tmp_path):
    for args in (("info", str(tmp_path / "none.txt")), ("convert", "a", "b", "--to", "pdf"), ("nosuchcommand",)):
        out = run(*args)
        assert out.returncode == 2, args
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_convert_native_roundtrip_from_generated_packet(tmp_path):
    sig = synthetic_signature()
    src = tmp_path / "s.json"
    src.write_bytes(sig.canonical_bytes())
    out = run("convert", str(src), str(tmp_path / "s.iso"), "--to", "iso19794-7")
    assert out.returncode == 0, out.stderr
    assert len(read_signature(tmp_path / "s.iso")) == len(sig)


@pytest.mark.parametrize("args, message", [
    (("log", "verify", "--database-url", "bogus://x"), "is not usable"),
    (("log", "verify", "--database-url", "postgresql://u:hunter2@127.0.0.1:1/x"), "cannot open database"),
    (("verify-pdf", __file__, "--trust", __file__), "is not a certificate"),
])
def test_storage_and_trust_errors_are_one_line_without_secrets(tmp_path, args, message):
    out = run(*args, "--data-dir", str(tmp_path)) if args[0] == "log" else run(*args)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert message in out.stderr and "hunter2" not in out.stderr
