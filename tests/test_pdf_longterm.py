"""Long-term evidence: OCSP from the bundled PKI in the DSS, revocation reported, and `pdf extend` renewal."""

from __future__ import annotations

import datetime as dt
import io
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509 import ocsp
from pyhanko.pdf_utils.reader import PdfFileReader

from inkwitness.evidence.envelope import EvidenceError, generate_escrow_key
from inkwitness.evidence.ocsp import OcspResponder, encoded_get_request, fetch_ocsp, ocsp_url
from inkwitness.evidence.pdf import SealConfig, extend_pdf, sign_pdf, verify_pdf
from inkwitness.evidence.pki import PkiPaths, create_pki, issue_certificate, revoke
from inkwitness.evidence.tsa import TsaServer

from .conftest import synthetic_signature
from .test_pdf_evidence import blank_pdf


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pki_at(folder: Path, port: int, **kwargs) -> PkiPaths:
    """A PKI whose certificates name the CRL and OCSP responder of a server on ``port``."""
    base = f"http://127.0.0.1:{port}"
    return create_pki(folder, crl_url=f"{base}/ca.crl", ocsp_url=f"{base}/ocsp", **kwargs)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def ask(responder: OcspResponder, cert: x509.Certificate, issuer: x509.Certificate) -> ocsp.OCSPResponse:
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    return ocsp.load_der_ocsp_response(responder.respond(request.public_bytes(serialization.Encoding.DER)))


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process as the console script does (exit code, stdout, stderr); a traceback fails."""
    from inkwitness.cli import main

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["inkwitness", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
        sys.exit(0)
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def doc_timestamps(pdf: bytes) -> int:
    return len(PdfFileReader(io.BytesIO(pdf), strict=False).embedded_timestamp_signatures)


@pytest.fixture(scope="module")
def escrow():
    return generate_escrow_key()


@pytest.fixture(scope="module")
def lt(tmp_path_factory, escrow):
    """A PKI with a one-year seal and a two-year TSA certificate, a ten-year second TSA, both serving."""
    port = free_port()
    pki = pki_at(tmp_path_factory.mktemp("lt") / "pki", port, years=10, signer_days=365, tsa_days=730)
    tsa2 = issue_certificate(pki, "tsa2", "inkwitness TSA 2", "tsa", days=3650)
    with TsaServer(pki.tsa_cert, pki.tsa_key, port=port) as first, TsaServer(*tsa2) as second:
        config = SealConfig(pki.signer_cert, pki.signer_key, (pki.ca_cert,), first.url, escrow.public_key(),
                            ocsp=True)
        sealed, _ = sign_pdf(blank_pdf(), synthetic_signature(1), 1, (300, 100, 500, 180), config)
        yield pki, first, second, sealed


def test_the_responder_answers_good_unknown_unauthorized_and_revoked(tmp_path, lt):
    other = lt[0]
    pki = pki_at(tmp_path / "pki", free_port())
    signer, ca = load(pki.signer_cert), load(pki.ca_cert)
    assert ocsp_url(signer) == ocsp_url(load(pki.tsa_cert)) and ocsp_url(signer).endswith("/ocsp")
    responder = OcspResponder(pki)
    good = ask(responder, signer, ca)
    assert good.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert good.certificate_status == ocsp.OCSPCertStatus.GOOD and good.serial_number == signer.serial_number
    ca.public_key().verify(good.signature, good.tbs_response_bytes, padding.PKCS1v15(),
                           good.signature_hash_algorithm)
    # A serial this CA never issued into the folder is not vouched for.
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), None)
    unissued = (x509.CertificateBuilder().subject_name(signer.subject).issuer_name(ca.subject)
                .public_key(signer.public_key()).serial_number(12345)
                .not_valid_before(signer.not_valid_before_utc).not_valid_after(signer.not_valid_after_utc)
                .sign(ca_key, hashes.SHA256()))
    assert ask(responder, unissued, ca).certificate_status == ocsp.OCSPCertStatus.UNKNOWN
    # Another CA's certificates are not this responder's business.
    assert ask(responder, load(other.signer_cert), load(other.ca_cert)).response_status == \
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert ocsp.load_der_ocsp_response(responder.respond(b"\x30\x03junk")).response_status == \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    # Revoking is recorded in the folder; the CRL and OCSP both say so.
    first = revoke(pki, signer.serial_number, "key_compromise")
    assert revoke(pki, signer.serial_number, "superseded") == first  # the first revocation stands
    revoked = ask(responder, signer, ca)
    assert revoked.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason == x509.ReasonFlags.key_compromise
    crl = x509.load_der_x509_crl(pki.crl.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(signer.serial_number) is not None
    assert f"{signer.serial_number:x}" in pki.revocations.read_text()
    assert ask(responder, load(pki.tsa_cert), ca).certificate_status == ocsp.OCSPCertStatus.GOOD


def test_the_server_answers_ocsp_by_post_and_get_and_serves_the_crl(lt):
    pki, first, _, _ = lt
    signer, ca = load(pki.signer_cert), load(pki.ca_cert)
    assert ocsp.load_der_ocsp_response(fetch_ocsp(signer, ca)).certificate_status == ocsp.OCSPCertStatus.GOOD
    request = ocsp.OCSPRequestBuilder().add_certificate(signer, ca, hashes.SHA1()).build()
    url = f"{first.base_url}/ocsp/{encoded_get_request(request.public_bytes(serialization.Encoding.DER))}"
    with urllib.request.urlopen(url) as reply:  # noqa: S310 - loopback
        assert reply.headers["Content-Type"] == "application/ocsp-response"
        assert ocsp.load_der_ocsp_response(reply.read()).certificate_status == ocsp.OCSPCertStatus.GOOD
    with urllib.request.urlopen(f"{first.base_url}/ca.crl") as reply:  # noqa: S310 - loopback
        assert reply.read() == pki.crl.read_bytes()


def test_a_seal_embeds_ocsp_responses_and_verifies_offline_after_they_go_stale(lt):
    pki, _, _, sealed = lt
    (check,) = verify_pdf(sealed, [pki.ca_cert])
    assert check.ok, check.problems
    assert check.ltv["level"] == "B-LTA" and check.ltv["dss_crls"] == 0 and check.ltv["dss_ocsps"] == 2
    # The answers are fresh for a day; ten days on, the document time-stamp proves they were then.
    (later,) = verify_pdf(sealed, [pki.ca_cert], at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=10))
    assert later.ok and "validated_at_signing_time" in later.ltv, later.problems


def test_a_seal_certificate_revoked_after_sealing_is_reported_as_revoked(lt, tmp_path, escrow, monkeypatch, capsys):
    from asn1crypto import ocsp as asn1_ocsp
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    pki, server, _, _ = lt
    # A sealing certificate of its own, so that revoking it leaves the other tests alone.
    cert, key = issue_certificate(pki, "seal-revoked", "inkwitness seal to revoke", "seal", days=30)
    config = SealConfig(cert, key, (pki.ca_cert,), server.url, escrow.public_key(), ocsp=True)
    sealed, _ = sign_pdf(blank_pdf(), synthetic_signature(2), 1, (300, 100, 500, 180), config)
    serial = load(cert).serial_number
    code, out, err = cli(monkeypatch, capsys, "pki", "revoke", str(cert), "--pki", str(pki.folder), "--reason",
                         "key_compromise")
    assert code == 0 and f"revoked {serial:x}" in out, err
    # Later revocation data in the DSS (as another tool's LTV update would add it).
    fresh = fetch_ocsp(load(cert), load(pki.ca_cert))
    buf = io.BytesIO(sealed)
    DocumentSecurityStore.add_dss(buf, None, ocsps=[asn1_ocsp.OCSPResponse.load(fresh)], force_write=True)
    (tmp_path / "revoked.pdf").write_bytes(buf.getvalue())
    # Neither sealing anew nor renewing the evidence goes ahead with a revoked certificate.
    with pytest.raises(EvidenceError, match="signing refused: .* was revoked .*key_compromise.*OCSP"):
        sign_pdf(blank_pdf(), synthetic_signature(2), 1, (300, 100, 500, 180), config)
    with pytest.raises(EvidenceError, match="cannot extend: .* was revoked"):
        extend_pdf(sealed, [pki.ca_cert], server.url)
    code, out, err = cli(monkeypatch, capsys, "verify-pdf", str(tmp_path / "revoked.pdf"), "--trust",
                         str(pki.ca_cert))
    assert code == 1 and "FAILED" in out, out
    assert "signing certificate" in out and "was REVOKED on" in out
    assert "key_compromise" in out and "OCSP response in the DSS" in out
    assert "Traceback" not in out + err and "does not chain" not in out
    # The document as sealed (before revocation data said otherwise) still verifies offline,
    # and so does one whose DSS holds a REVOKED answer nobody trusted signed.
    (check,) = verify_pdf(sealed, [pki.ca_cert])
    assert check.ok, check.problems
    (check,) = verify_pdf(with_forged_revocation(sealed, load(cert), load(pki.ca_cert)), [pki.ca_cert])
    assert check.ok and check.ltv["dss_ocsps"] == 3, check.problems


def with_forged_revocation(pdf: bytes, cert: x509.Certificate, ca: x509.Certificate) -> bytes:
    """The PDF plus a DSS update with a REVOKED answer for ``cert``, signed by a key posing as its CA."""
    from asn1crypto import ocsp as asn1_ocsp
    from cryptography.hazmat.primitives.asymmetric import ec
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    impostor = (x509.CertificateBuilder().subject_name(ca.subject).issuer_name(ca.subject)
                .public_key(key.public_key()).serial_number(1).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    forged = (ocsp.OCSPResponseBuilder()
              .add_response(cert=cert, issuer=ca, algorithm=hashes.SHA256(), cert_status=ocsp.OCSPCertStatus.REVOKED,
                            this_update=now, next_update=now + dt.timedelta(days=1),
                            revocation_time=now - dt.timedelta(seconds=5),
                            revocation_reason=x509.ReasonFlags.key_compromise)
              .responder_id(ocsp.OCSPResponderEncoding.NAME, impostor).certificates([impostor])
              .sign(key, hashes.SHA256()))
    buf = io.BytesIO(pdf)
    DocumentSecurityStore.add_dss(buf, None, ocsps=[asn1_ocsp.OCSPResponse.load(
        forged.public_bytes(serialization.Encoding.DER))], force_write=True)
    return buf.getvalue()


def test_pdf_extend_adds_a_document_timestamp_that_outlives_the_first_certificates(lt, tmp_path, monkeypatch,
                                                                                   capsys):
    pki, _, second, sealed = lt
    (tmp_path / "sealed.pdf").write_bytes(sealed)
    code, out, err = cli(monkeypatch, capsys, "pdf", "extend", str(tmp_path / "sealed.pdf"), "-o",
                         str(tmp_path / "extended.pdf"), "--tsa-url", second.url, "--trust", str(pki.ca_cert))
    assert code == 0 and "document time-stamp 2" in out, err
    extended = (tmp_path / "extended.pdf").read_bytes()
    assert extended.startswith(sealed) and doc_timestamps(extended) == doc_timestamps(sealed) + 1 == 2
    (now,) = verify_pdf(extended, [pki.ca_cert])
    # Two answers from sealing; fresh ones for the seal, the first and the second TSA.
    assert now.ok and now.ltv["dss_ocsps"] == 5 and len(now.ltv["document_timestamps"]) == 2, now.problems
    # Three years on, the seal (one year) and the first TSA (two years) certificates have
    # expired; only the renewed evidence still stands.
    later = (dt.date.today() + dt.timedelta(days=3 * 365)).isoformat()
    code, out, err = cli(monkeypatch, capsys, "verify-pdf", str(tmp_path / "extended.pdf"), "--trust",
                         str(pki.ca_cert), "--at", later)
    assert code == 0 and ": OK" in out and "OCSP responses in DSS: 5" in out, out + err
    (stale,) = verify_pdf(sealed, [pki.ca_cert], at=dt.datetime.fromisoformat(later + "T00:00+00:00"))
    assert not stale.ok and any("the signing certificate expired" in p and "pdf extend" in p
                                for p in stale.problems), stale.problems
    # Renewing again with the same TSA still adds a time-stamp, chained onto the last.
    again = extend_pdf(extended, [pki.ca_cert], second.url)
    assert doc_timestamps(again) == 3 and all(c.ok for c in verify_pdf(again, [pki.ca_cert]))


@pytest.mark.parametrize("case", ["missing", "not-a-pdf", "unsigned"])
def test_pdf_extend_refuses_bad_input_in_one_line(lt, tmp_path, case, monkeypatch, capsys):
    pki, _, second, _ = lt
    target = tmp_path / "in.pdf"
    if case == "not-a-pdf":
        target.write_text("hello, not a PDF")
    elif case == "unsigned":
        target.write_bytes(blank_pdf())
    code, _, err = cli(monkeypatch, capsys, "pdf", "extend", str(target), "-o", str(tmp_path / "out.pdf"),
                       "--tsa-url", second.url, "--trust", str(pki.ca_cert))
    assert code == 2 and not (tmp_path / "out.pdf").exists()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert {"missing": "not found", "not-a-pdf": "not a PDF", "unsigned": "no signature"}[case] in lines[0]


def test_pki_serve_answers_crl_and_ocsp_on_its_port(lt):
    pki, *_ = lt
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "inkwitness.cli", "pki", "serve", str(pki.folder),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ca.crl", timeout=2) as reply:  # noqa: S310
                    assert reply.read() == pki.crl.read_bytes()
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.2)
        request = ocsp.OCSPRequestBuilder().add_certificate(load(pki.tsa_cert), load(pki.ca_cert),
                                                            hashes.SHA256()).build()
        post = urllib.request.Request(f"http://127.0.0.1:{port}/ocsp",
                                      data=request.public_bytes(serialization.Encoding.DER),
                                      headers={"Content-Type": "application/ocsp-request"})
        with urllib.request.urlopen(post, timeout=5) as reply:  # noqa: S310 - loopback
            assert ocsp.load_der_ocsp_response(reply.read()).certificate_status == ocsp.OCSPCertStatus.GOOD
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_pdf_extend_puts_a_b_t_seal_s_revocation_data_under_its_first_document_timestamp(lt, escrow):
    pki, first, _, _ = lt
    config = SealConfig(pki.signer_cert, pki.signer_key, (pki.ca_cert,), first.url, escrow.public_key())
    plain, _ = sign_pdf(blank_pdf(), synthetic_signature(3), 1, (300, 100, 500, 180), config)
    assert doc_timestamps(plain) == 0 and verify_pdf(plain, [pki.ca_cert])[0].ltv["level"] == "B-T"
    extended = extend_pdf(plain, [pki.ca_cert], first.url)
    (check,) = verify_pdf(extended, [pki.ca_cert])
    assert check.ok and check.ltv["level"] == "B-LTA" and check.ltv["dss_ocsps"] == 2, check.problems
    reader = PdfFileReader(io.BytesIO(extended), strict=False)
    (stamp,) = reader.embedded_timestamp_signatures
    assert "/DSS" in reader.get_historical_root(stamp.signed_revision)
