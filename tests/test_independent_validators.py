"""Our seals and time-stamps judged by tools we did not write: pyHanko's CLI validator and OpenSSL."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from inkwitness.evidence.pdf import SealConfig, sign_pdf

from .conftest import synthetic_signature
from .test_pdf_evidence import blank_pdf
from .test_pdf_longterm import escrow, free_port, lt, pki_at  # noqa: F401 - fixtures used by name

PYHANKO = shutil.which("pyhanko") or str(Path(__file__).resolve().parents[1] / ".venv/bin/pyhanko")


def validate(pdf: Path, ca: Path, *options: str) -> subprocess.CompletedProcess:
    """pyHanko's own validator on a file, trusting only our CA."""
    return subprocess.run([PYHANKO, "sign", "validate", "--executive-summary", "--trust-replace", "--trust", str(ca),
                           *options, str(pdf)], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not Path(PYHANKO).exists(), reason="pyhanko-cli is not installed (test extra)")
def test_pyhanko_validates_a_b_lta_seal_with_forced_revocation_info(lt, tmp_path):  # noqa: F811
    pki, _, _, sealed = lt
    pdf = tmp_path / "sealed.pdf"
    pdf.write_bytes(sealed)
    result = validate(pdf, pki.ca_cert, "--force-revinfo")
    assert result.returncode == 0 and result.stdout.strip().endswith(":VALID"), result.stdout + result.stderr
    # The same validator refuses a copy with one byte of the signed page content flipped.
    data = bytearray(sealed)
    data[data.index(b"stream") + 20] ^= 0x01
    (tmp_path / "altered.pdf").write_bytes(bytes(data))
    altered = validate(tmp_path / "altered.pdf", pki.ca_cert, "--force-revinfo")
    assert altered.returncode == 1 and altered.stdout.strip().endswith(":INVALID"), altered.stdout


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_verifies_a_time_stamp_of_the_bundled_tsa(lt, tmp_path):  # noqa: F811
    pki, first, _, _ = lt
    data = tmp_path / "data.bin"
    data.write_bytes(b"inkwitness evidence")
    query = tmp_path / "q.tsq"
    subprocess.run(["openssl", "ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(query)],
                   check=True, capture_output=True)
    request = urllib.request.Request(first.url, data=query.read_bytes(),
                                     headers={"Content-Type": "application/timestamp-query"})
    with urllib.request.urlopen(request) as reply:  # noqa: S310 - loopback
        (tmp_path / "r.tsr").write_bytes(reply.read())
    ok = subprocess.run(["openssl", "ts", "-verify", "-data", str(data), "-in", str(tmp_path / "r.tsr"),
                         "-CAfile", str(pki.ca_cert), "-untrusted", str(pki.tsa_cert)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stdout + ok.stderr
    # A token over other data, or a damaged token, fails OpenSSL's check too.
    (tmp_path / "other.bin").write_bytes(b"something else")
    wrong = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "other.bin"), "-in",
                            str(tmp_path / "r.tsr"), "-CAfile", str(pki.ca_cert), "-untrusted", str(pki.tsa_cert)],
                           capture_output=True, text=True)
    assert wrong.returncode != 0
    token = bytearray((tmp_path / "r.tsr").read_bytes())
    token[-40] ^= 0xFF
    (tmp_path / "bad.tsr").write_bytes(bytes(token))
    damaged = subprocess.run(["openssl", "ts", "-verify", "-data", str(data), "-in", str(tmp_path / "bad.tsr"),
                              "-CAfile", str(pki.ca_cert), "-untrusted", str(pki.tsa_cert)],
                             capture_output=True, text=True)
    assert damaged.returncode != 0
