"""The ``inkwitness`` command on real files, and its one-line errors with exit code 2."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from inkwitness.cli import app, main
from inkwitness.formats import read_signature
from inkwitness.signature import Signature

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


def _fpg(sig: Signature, rate_hz: int = 100) -> bytes:
    """An MCYT ``.fpg`` file (60-byte FPG header, float32 x y pressure azimuth altitude rows)."""
    rows = np.column_stack([sig.x, sig.y, np.round(sig.pressure * 1023), np.full(len(sig), 120.0),
                            np.full(len(sig), 60.0)]).astype("<f4")
    header = bytearray(60)
    header[:4] = b"FPG "
    struct.pack_into("<HH", header, 4, 60, 4)
    struct.pack_into("<II", header, 18, rows.nbytes, rows.shape[1])
    struct.pack_into("<I", header, 30, rows.shape[0])
    struct.pack_into("<I", header, 36, rate_hz)
    return bytes(header) + rows.tobytes()


def _mcyt_folder(root: Path, unreadable: bool = False, misnamed: bool = False) -> Path:
    """A one-user MCYT-100 folder (the dataset's own, as users download it) of generated files."""
    folder = root / "MCYT-100" / "0000"
    folder.mkdir(parents=True)
    for k in range(7):
        (folder / f"0000v{k:02d}.fpg").write_bytes(_fpg(synthetic_signature(k)))
    for k in range(2):
        (folder / f"0000f{k:02d}.fpg").write_bytes(_fpg(synthetic_signature(100 + k)))
    if unreadable:
        (folder / "0000v07.fpg").write_bytes(b"FPG " + bytes(10))
    if misnamed:
        (folder / "0000v07-copy.fpg").write_bytes(_fpg(synthetic_signature(7)))
    return root / "MCYT-100"


def _main(*args: str) -> tuple[int, str, str]:
    """Run the real entry point in-process under CliRunner's isolation: exit code, stdout, stderr."""
    with CliRunner().isolation() as (out, err, _):
        argv = sys.argv
        sys.argv = ["inkwitness", *args]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            sys.argv = argv
        return code, out.getvalue().decode(), err.getvalue().decode()


def test_evaluate_prints_skipped_files_from_the_datasets_own_folder(tmp_path):
    folder = _mcyt_folder(tmp_path, unreadable=True, misnamed=True)
    result = CliRunner().invoke(app, ["evaluate", "--dataset", "mcyt100", "--data", str(folder), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "skipped 2 file(s): 1 unreadable, 1 not following the mcyt100 naming" in result.stdout
    assert "skipped unreadable sample 0000v07.fpg" in result.stderr
    assert "2 genuine comparisons" in result.stdout  # v05, v06; the unreadable v07 is not scored


def test_evaluate_without_skips_prints_zero_and_passes_strict(tmp_path):
    folder = _mcyt_folder(tmp_path)
    code, out, err = _main("evaluate", "--dataset", "mcyt100", "--data", str(folder), "--workers", "1", "--strict")
    assert code == 0, err
    assert "skipped 0 file(s): 0 unreadable, 0 not following the mcyt100 naming" in out


@pytest.mark.parametrize("unreadable, misnamed, message", [
    (False, True, "--strict: 1 file(s) skipped, e.g. 0000/0000v07-copy.fpg: file name does not follow the mcyt100 "
                  "naming"),
    (True, False, "--strict: 1 unreadable file(s) skipped, e.g. 0000v07.fpg: "),
])
def test_evaluate_strict_turns_any_skip_into_exit_2(tmp_path, unreadable, misnamed, message):
    folder = _mcyt_folder(tmp_path, unreadable=unreadable, misnamed=misnamed)
    code, out, err = _main("evaluate", "--dataset", "mcyt100", "--data", str(folder), "--workers", "1", "--strict")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), err
    assert "EER" not in out
