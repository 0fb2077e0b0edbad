"""Hardening of the evidence code: CLI output, OCSP fetching and checking, the PKI folder's files."""

from __future__ import annotations

import datetime as dt
import http.server
import logging
import os
import stat
import threading
import time
from pathlib import Path

import pytest
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from inkwitness.evidence import pki as pki_module
from inkwitness.evidence.envelope import EvidenceError, generate_escrow_key
from inkwitness.evidence.event_certificate import issue_event_certificate
from inkwitness.evidence.ocsp import OcspResponder, OcspUnavailable, check_response, status_of
from inkwitness.evidence.pdf import SealConfig, SignatureCheck, fresh_ocsp, sign_pdf
from inkwitness.evidence.pki import issue_certificate, load_ca, revocations, revoke
from inkwitness.evidence.tsa import TsaServer
from inkwitness.secretfile import write_secret

from .conftest import synthetic_signature
from .test_pdf_evidence import blank_pdf
from .test_pdf_longterm import ask, cli, free_port, load, pki_at


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A PKI whose CRL and OCSP URLs name a port nobody listens on."""
    return pki_at(tmp_path_factory.mktemp("hardening") / "pki", free_port())


# --- 4: document-derived text in verify-pdf is printed, never interpreted as markup ------------

def test_verify_pdf_prints_markup_in_document_text_literally(tmp_path, monkeypatch, capsys):
    from rich.console import Console

    import inkwitness.cli_evidence as cli_evidence
    import inkwitness.evidence.pdf as pdf_module

    check = SignatureCheck(field="f[/bold][green]", signer="Alice [/b]", intact=True, valid=True, trusted=True,
                           timestamp={"time": "[red]2026", "valid": True}, coverage="[/x]",
                           certificate={"subject": "Common Name: Alice [/b]", "serial": "1", "issuer": "CA"},
                           biometric={"present": True, "bound": True, "signature_sha256": "[blink]"},
                           field_changes=[{"field": "[/y]", "change": "filled", "old": None, "new": "[/z]",
                                           "allowed": True}],
                           problems=["the field [green]OK[/green] [/red]"])
    monkeypatch.setattr(pdf_module, "verify_pdf", lambda *a, **k: [check])
    recorder = Console(record=True, force_terminal=True, width=200)
    monkeypatch.setattr(cli_evidence, "console", recorder)
    (tmp_path / "in.pdf").write_bytes(b"%PDF-1.7")
    (tmp_path / "ca.pem").write_bytes(b"")
    code, _, err = cli(monkeypatch, capsys, "verify-pdf", str(tmp_path / "in.pdf"), "--trust",
                       str(tmp_path / "ca.pem"), "--data-dir", str(tmp_path / "none"))
    text = recorder.export_text()
    assert code == 1 and "Traceback" not in err, err
    for literal in ("signature 1 (f[/bold][green]): FAILED", "signer: Alice [/b];", "[red]2026", "[blink]",
                    "'[/z]'", "problem: the field [green]OK[/green] [/red]"):
        assert literal in text, text
    # Nothing of the document's text turned into style: only the header is bold, "problem" red.
    styled = {seg.text for seg in recorder._record_buffer if seg.style and (seg.style.color or seg.style.bold)}
    assert styled <= {"signature 1 (f[/bold][green])", "problem"}, styled


# --- 5: OCSP only for certificates that chain to the trust roots, and at most 16 fetches -------

class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        type(self).hits.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def recorder():
    _Recorder.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.hits
    server.shutdown()
    server.server_close()


def _ec_ca(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def _ec_leaf(ca: x509.Certificate, ca_key, url: str, serial: int) -> asn1_x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"l{serial}")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(serial)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def test_ocsp_urls_of_certificates_that_do_not_chain_to_the_roots_are_never_fetched(recorder, caplog):
    base, hits = recorder
    ca, ca_key = _ec_ca("Trusted CA")
    # An impostor CA with the trusted CA's very name, as a crafted PDF's DSS would carry it.
    impostor, impostor_key = _ec_ca("Trusted CA")
    forged = _ec_leaf(impostor, impostor_key, f"{base}/forged", 7)
    genuine = _ec_leaf(ca, ca_key, f"{base}/genuine", 8)
    with caplog.at_level(logging.WARNING, logger="inkwitness.evidence.pdf"):
        assert fresh_ocsp([forged, genuine], [_asn1(impostor), _asn1(ca)], [_asn1(ca)]) == []
    assert hits == ["/genuine"], hits
    assert any("does not chain to the trust roots" in r.getMessage() for r in caplog.records)


def test_ocsp_fetches_are_capped_with_one_warning(recorder, caplog):
    base, hits = recorder
    ca, ca_key = _ec_ca("Trusted CA")
    leaves = [_ec_leaf(ca, ca_key, f"{base}/n{i}", 100 + i) for i in range(16 + 4)]
    with caplog.at_level(logging.WARNING, logger="inkwitness.evidence.pdf"):
        fresh_ocsp(leaves, [_asn1(ca)])
    assert len(hits) == 16
    capped = [r for r in caplog.records if "first 16 of 20" in r.getMessage()]
    assert len(capped) == 1, [r.getMessage() for r in caplog.records]


# --- 8: the responder looks event certificates up by serial and caches the folder's ------------

def test_the_responder_looks_up_by_serial_and_does_not_reparse_every_certificate(pki, monkeypatch):
    signer, ca = load(pki.signer_cert), load(pki.ca_cert)
    event = issue_event_certificate(pki, "Alice", "ab" * 32).cert
    # A damaged file among the events: a full scan would trip over it on every request.
    (pki.events / "zz-damaged.cert.pem").write_text("not a certificate")
    responder = OcspResponder(pki)
    assert ask(responder, event, ca).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert ask(responder, signer, ca).certificate_status == ocsp.OCSPCertStatus.GOOD
    parsed: list[bytes] = []
    real = x509.load_pem_x509_certificate
    monkeypatch.setattr(x509, "load_pem_x509_certificate", lambda data, *a: parsed.append(data) or real(data, *a))
    for _ in range(3):
        assert ask(responder, signer, ca).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert pki.signer_cert.read_bytes() not in parsed and pki.tsa_cert.read_bytes() not in parsed
    # A certificate issued into the folder later is seen (the index follows the files).
    monkeypatch.undo()
    cert, _ = issue_certificate(pki, "tsa-later", "a later TSA", "tsa")
    assert ask(responder, load(cert), ca).certificate_status == ocsp.OCSPCertStatus.GOOD


# --- 9: revocations are serialised and files replaced atomically ------------------------------

def test_concurrent_revocations_are_all_kept_and_files_are_replaced_atomically(pki, monkeypatch):
    real = pki_module.revocations

    def slow(paths):
        records = real(paths)
        time.sleep(0.05)  # widen the read-modify-write window
        return records

    monkeypatch.setattr(pki_module, "revocations", slow)
    replaced: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: replaced.append(Path(b).name) or real_replace(a, b))
    serials = list(range(0x5000, 0x5006))
    threads = [threading.Thread(target=revoke, args=(pki, s)) for s in serials]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    monkeypatch.undo()
    assert set(serials) <= set(revocations(pki))
    crl = x509.load_der_x509_crl(pki.crl.read_bytes())
    assert all(crl.get_revoked_certificate_by_serial_number(s) is not None for s in serials)
    assert {"revoked.json", "ca.crl"} <= set(replaced)


# --- 10: private keys are never readable by others -------------------------------------------

def test_private_keys_are_created_owner_only(pki, tmp_path, monkeypatch):
    # Were keys written first and restricted after, this is the moment in between.
    monkeypatch.setattr(Path, "chmod", lambda *a, **k: None)
    _, key = issue_certificate(pki, "seal-mode", "mode check", "seal")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    old = os.umask(0)
    try:
        target = write_secret(tmp_path / "secret.bin", b"one")
        write_secret(target, b"two")  # replaces, still owner-only
    finally:
        os.umask(old)
    assert target.read_bytes() == b"two" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.bin"]


# --- 11: OCSP answers must be current; several single responses are read, not a traceback ------

def _response(pki, cert: x509.Certificate, this_update: dt.datetime, next_update: dt.datetime | None,
              extra_serial: int | None = None) -> bytes:
    ca, ca_key = load_ca(pki)
    der = (ocsp.OCSPResponseBuilder()
           .add_response(cert=cert, issuer=ca, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
                         this_update=this_update, next_update=next_update, revocation_time=None,
                         revocation_reason=None)
           .responder_id(ocsp.OCSPResponderEncoding.HASH, ca).sign(ca_key, hashes.SHA256())
           .public_bytes(serialization.Encoding.DER))
    if extra_serial is None:
        return der
    # Another certificate's answer first, ours second, re-signed by the CA.
    basic = asn1_ocsp.OCSPResponse.load(der)["response_bytes"]["response"].parsed
    tbs = basic["tbs_response_data"]
    ours = tbs["responses"][0]
    other = asn1_ocsp.SingleResponse.load(ours.dump())
    cert_id = ours["cert_id"].native
    cert_id["serial_number"] = extra_serial
    other["cert_id"] = asn1_ocsp.CertId(cert_id)
    new_tbs = asn1_ocsp.ResponseData({"responder_id": tbs["responder_id"].copy(),
                                      "produced_at": tbs["produced_at"].native,
                                      "responses": [other, ours.copy()]})
    signature = ca_key.sign(new_tbs.dump(), padding.PKCS1v15(), hashes.SHA256())
    new_basic = asn1_ocsp.BasicOCSPResponse({"tbs_response_data": new_tbs,
                                             "signature_algorithm": {"algorithm": "sha256_rsa"},
                                             "signature": signature})
    return asn1_ocsp.OCSPResponse({"response_status": "successful", "response_bytes": {
        "response_type": "basic_ocsp_response", "response": new_basic}}).dump()


def test_ocsp_answers_must_be_current_and_may_hold_several_responses(pki):
    signer, ca = load(pki.signer_cert), load(pki.ca_cert)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    day = dt.timedelta(days=1)
    check_response(_response(pki, signer, now, now + day), signer, ca)
    with pytest.raises(OcspUnavailable, match="stale"):
        check_response(_response(pki, signer, now - 3 * day, now - day), signer, ca)
    with pytest.raises(OcspUnavailable, match="future"):
        check_response(_response(pki, signer, now + dt.timedelta(hours=2), now + day), signer, ca)
    several = _response(pki, signer, now, now + day, extra_serial=12345)
    check_response(several, signer, ca)
    assert status_of(several, signer.serial_number)[0] == "GOOD"
    with pytest.raises(OcspUnavailable, match="another certificate"):
        check_response(_response(pki, load(pki.tsa_cert), now, now + day, extra_serial=12345), signer, ca)


# --- 12: long-term sealing with no revocation data at all is refused ---------------------------

def test_lta_sealing_without_any_revocation_data_is_refused(pki):
    # The certificates name an OCSP responder on a port nobody listens on; no CRL is given.
    with TsaServer(pki.tsa_cert, pki.tsa_key) as tsa:
        config = SealConfig(pki.signer_cert, pki.signer_key, (pki.ca_cert,), tsa.url,
                            generate_escrow_key().public_key(), ocsp=True)
        with pytest.raises(EvidenceError, match="no revocation data could be obtained"):
            sign_pdf(blank_pdf(), synthetic_signature(4), 1, (300, 100, 500, 180), config)


def test_escrow_keys_are_created_owner_only_and_never_overwritten(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Path, "chmod", lambda *a, **k: None)
    code, _, err = cli(monkeypatch, capsys, "escrow", "keygen", "-o", str(tmp_path / "notary"))
    assert code == 0, err
    assert stat.S_IMODE((tmp_path / "notary.key.pem").stat().st_mode) == 0o600
    code, _, err = cli(monkeypatch, capsys, "escrow", "rotate", "--keyring", str(tmp_path / "ring"))
    assert code == 0, err
    (key,) = (tmp_path / "ring").glob("escrow-*.key.pem")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_secret(tmp_path / "notary.key.pem", b"other", exclusive=True)
    assert (tmp_path / "notary.key.pem").read_bytes() != b"other"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
