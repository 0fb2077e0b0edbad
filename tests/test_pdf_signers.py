"""Per-signer certificates: event certificates bound to one document, and the seal key in a PKCS#11 module."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from inkwitness.evidence import event_certificate
from inkwitness.evidence.envelope import EvidenceError, generate_escrow_key, public_pem
from inkwitness.evidence.event_certificate import EVENT_DOCUMENT_HASH_OID
from inkwitness.evidence.pdf import SealConfig, sign_pdf, verify_pdf
from inkwitness.evidence.pki import issue_certificate
from inkwitness.evidence.tsa import TsaServer

from .conftest import synthetic_signature
from .test_pdf_evidence import blank_pdf
from .test_pdf_longterm import cli, free_port, pki_at

SOFTHSM = Path("/usr/lib/softhsm/libsofthsm2.so")
BOX = (300, 100, 500, 180)


@pytest.fixture(scope="module")
def escrow():
    return generate_escrow_key()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A PKI whose CRL, OCSP responder and TSA answer on one port."""
    port = free_port()
    pki = pki_at(tmp_path_factory.mktemp("signers") / "data" / "pki", port)
    with TsaServer(pki.tsa_cert, pki.tsa_key, port=port) as tsa:
        yield pki, tsa


def _config(served, escrow, **kwargs) -> SealConfig:
    pki, tsa = served
    return SealConfig(pki.signer_cert, pki.signer_key, (pki.ca_cert,), tsa.url, escrow.public_key(), **kwargs)


@pytest.fixture(scope="module")
def event_sealed(served, escrow):
    """A document sealed B-LTA with an event certificate for Zhang San, then approved by the seal."""
    pki, _ = served
    original = blank_pdf("Loan agreement between the parties.")
    config = _config(served, escrow, crls=(pki.crl,), ocsp=True, event_pki=pki.folder,
                     event_validity=dt.timedelta(minutes=30))
    sealed, _ = sign_pdf(original, synthetic_signature(1), 1, BOX, config, signer_name="Zhang San",
                         subject_id="subj-7f3a")
    return original, sealed


def test_an_event_certificate_signs_the_handwriting_and_the_seal_approves(event_sealed, served):
    original, sealed = event_sealed
    pki, _ = served
    checks = verify_pdf(sealed, [pki.ca_cert])
    assert [c.ok for c in checks] == [True, True], [c.problems for c in checks]
    hand, seal = checks
    assert (hand.field, hand.role, seal.field, seal.role) == (
        "inkwitness-signature-1", "handwriting", "inkwitness-seal-1", "organisation seal")
    assert hand.certification == "FILL_FORMS" and hand.biometric["bound"] and not seal.biometric["present"]
    assert "Common Name: Zhang San" in hand.certificate["subject"]
    assert "Serial Number: subj-7f3a" in hand.certificate["subject"]
    assert "Organizational Unit: event certificate" in hand.certificate["subject"]
    assert hand.certificate["event"] == {"document_sha256": hashlib.sha256(original).hexdigest(),
                                         "subject_id": "subj-7f3a", "matches": True,
                                         "signed_document_sha256": hashlib.sha256(original).hexdigest()}
    assert "inkwitness document seal" in seal.certificate["subject"] and "event" not in seal.certificate
    assert hand.ltv["level"] == "B-LTA" and hand.ltv["dss_ocsps"] >= 2
    # The certificate lives as long as asked, is recorded for the OCSP responder, and its key is not kept.
    recorded = list(pki.events.glob("*.cert.pem"))
    cert = x509.load_pem_x509_certificate(recorded[0].read_bytes())
    assert len(recorded) == 1 and not list(pki.events.glob("*key*"))
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(minutes=35)
    ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(EVENT_DOCUMENT_HASH_OID))
    assert not ext.critical and hashlib.sha256(original).digest() in ext.value.value


def test_verify_pdf_reports_the_event_certificate_subject_and_bound_hash(event_sealed, served, tmp_path,
                                                                         monkeypatch, capsys):
    original, sealed = event_sealed
    pki, _ = served
    (tmp_path / "s.pdf").write_bytes(sealed)
    code, out, err = cli(monkeypatch, capsys, "verify-pdf", str(tmp_path / "s.pdf"), "--trust", str(pki.ca_cert))
    assert code == 0, out + err
    digest = hashlib.sha256(original).hexdigest()
    assert f"event certificate: subject id subj-7f3a; bound to document sha256 {digest} (the revision it " \
           "signed)" in " ".join(out.split())
    assert "Common Name: Zhang San" in out and "organisation seal, no handwriting of its own" in " ".join(out.split())


def test_an_event_certificate_bound_to_another_document_is_refused(served, escrow, tmp_path, monkeypatch, capsys):
    pki, _ = served
    issue = event_certificate.issue_event_certificate
    other = hashlib.sha256(b"another document").hexdigest()
    monkeypatch.setattr(event_certificate, "issue_event_certificate",
                        lambda paths, name, _digest, *args: issue(paths, name, other, *args))
    sealed, _ = sign_pdf(blank_pdf(), synthetic_signature(2), 1, BOX, _config(served, escrow, event_pki=pki.folder),
                         signer_name="Li Si")
    hand = verify_pdf(sealed, [pki.ca_cert])[0]
    assert not hand.ok and hand.certificate["event"]["matches"] is False
    assert any("event certificate is bound to another document" in p and other in p for p in hand.problems)
    (tmp_path / "forged.pdf").write_bytes(sealed)
    code, out, _ = cli(monkeypatch, capsys, "verify-pdf", str(tmp_path / "forged.pdf"), "--trust", str(pki.ca_cert))
    assert code == 1 and "NOT the revision it signed" in out and "bound to another document" in out


def test_event_certificate_needs_a_signer_name_and_a_reserved_seal_field(served, escrow, event_sealed):
    pki, _ = served
    config = _config(served, escrow, event_pki=pki.folder)
    with pytest.raises(EvidenceError, match="signer's display name"):
        sign_pdf(blank_pdf(), synthetic_signature(3), 1, BOX, config)
    # Certified with no field left for a further signer (and no seal field to approve in).
    with pytest.raises(EvidenceError, match="certified"):
        sign_pdf(event_sealed[1], synthetic_signature(3), 1, BOX, config, signer_name="Wang Wu")


# --- the seal key in a hardware module (SoftHSM2) ---------------------------------------------

PIN = "246810"


def _softhsm_token(folder: Path) -> None:
    """A SoftHSM2 configuration in ``folder`` (SOFTHSM2_CONF) with one initialised token, 'inkwitness'."""
    (folder / "tokens").mkdir(parents=True)
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "inkwitness", "--pin", PIN,
                    "--so-pin", "13579111"], check=True, capture_output=True, timeout=60)


def _generate_key_in_token(label: str) -> bytes:
    """Make an RSA key pair inside the token; return its public key (PEM): the private key never leaves."""
    import pkcs11
    from pkcs11.util.rsa import encode_rsa_public_key

    with pkcs11.lib(str(SOFTHSM)).get_token(token_label="inkwitness").open(user_pin=PIN, rw=True) as session:
        public, _ = session.generate_keypair(pkcs11.KeyType.RSA, 2048, label=label, store=True)
        key = serialization.load_der_public_key(encode_rsa_public_key(public))
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def hsm(tmp_path_factory, served, escrow):
    """A token holding the seal key, its certificate from the bundled CA, and the sign-pdf arguments."""
    if not SOFTHSM.exists() or shutil.which("softhsm2-util") is None:
        pytest.skip("SoftHSM2 is not installed (apt-get install softhsm2)")
    pytest.importorskip("pkcs11", reason="python-pkcs11 is not installed (the pyhanko[pkcs11] extra)")
    root = tmp_path_factory.mktemp("hsm")
    previous = os.environ.get("SOFTHSM2_CONF")
    _softhsm_token(root / "softhsm")
    try:
        (root / "seal.pub.pem").write_bytes(_generate_key_in_token("org-seal"))
        pki, tsa = served
        public = serialization.load_pem_public_key((root / "seal.pub.pem").read_bytes())
        issue_certificate(pki, "hsm-seal", "inkwitness seal hsm-seal", "seal", public_key=public)
        (root / "doc.pdf").write_bytes(blank_pdf("Sealed through a hardware module."))
        (root / "sig.json").write_bytes(synthetic_signature(6).canonical_bytes())
        (root / "notary.pub.pem").write_bytes(public_pem(escrow.public_key()))
        args = ["sign-pdf", str(root / "doc.pdf"), "--signature", str(root / "sig.json"), "--page", "1",
                "--box", "100,100,300,160", "--tsa-url", tsa.url, "--escrow-pub", str(root / "notary.pub.pem"),
                "--data-dir", str(pki.folder.parent), "--cert", str(pki.folder / "hsm-seal.cert.pem"),
                "--pkcs11-module", str(SOFTHSM), "--pkcs11-token", "inkwitness", "--pkcs11-key", "org-seal",
                "--pkcs11-pin-env", "INKWITNESS_TEST_PIN"]
        yield root, args
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous


def test_a_seal_key_in_softhsm_seals_a_pdf_that_verifies(hsm, served, monkeypatch, capsys):
    root, args = hsm
    pki, _ = served
    # 'pki issue --public-key' certifies a key made in the module; no key file is written.
    code, out, err = cli(monkeypatch, capsys, "pki", "issue", "hsm-seal-2", "--purpose", "seal", "--public-key",
                         str(root / "seal.pub.pem"), "--data-dir", str(pki.folder.parent))
    assert code == 0 and "the key stays where it is" in out and not (pki.folder / "hsm-seal-2.key.pem").exists(), err
    issued = x509.load_pem_x509_certificate((pki.folder / "hsm-seal-2.cert.pem").read_bytes())
    assert issued.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                                            ) == (root / "seal.pub.pem").read_bytes()
    monkeypatch.setenv("INKWITNESS_TEST_PIN", PIN)
    code, out, err = cli(monkeypatch, capsys, *args, "-o", str(root / "sealed.pdf"))
    assert code == 0, err
    # The module's key signs the handwriting field itself, escrow container and all.
    checks = verify_pdf((root / "sealed.pdf").read_bytes(), [pki.ca_cert])
    assert [c.ok for c in checks] == [True], [c.problems for c in checks]
    assert "inkwitness seal hsm-seal" in checks[0].certificate["subject"] and checks[0].biometric["bound"]
    assert checks[0].ltv["level"] == "B-LTA"
    code, out, err = cli(monkeypatch, capsys, "verify-pdf", str(root / "sealed.pdf"), "--trust", str(pki.ca_cert))
    assert code == 0 and "inkwitness seal hsm-seal" in out, out + err


@pytest.mark.parametrize("change, message", [
    ({"INKWITNESS_TEST_PIN": "000000"}, "error: PKCS#11: wrong PIN for token 'inkwitness'"),
    ({"--pkcs11-token": "no-such-token"}, "error: PKCS#11: no token labelled 'no-such-token'"),
    ({"--pkcs11-key": "no-such-key"}, "error: PKCS#11: token 'inkwitness' holds no private key labelled"),
    ({"--pkcs11-module": "/nonexistent/libpkcs11.so"}, "error: PKCS#11 module /nonexistent/libpkcs11.so not found"),
    ({"INKWITNESS_TEST_PIN": None}, "error: environment variable INKWITNESS_TEST_PIN (the token's PIN) is not set"),
])
def test_pkcs11_mistakes_are_one_readable_line(hsm, monkeypatch, capsys, change, message):
    root, args = hsm
    args = list(args)
    monkeypatch.setenv("INKWITNESS_TEST_PIN", PIN)
    for option, value in change.items():
        if option.startswith("--"):
            args[args.index(option) + 1] = value
        elif value is None:
            monkeypatch.delenv(option)
        else:
            monkeypatch.setenv(option, value)
    code, out, err = cli(monkeypatch, capsys, *args, "-o", str(root / "refused.pdf"))
    assert code == 2 and err.strip().startswith(message) and len(err.strip().splitlines()) == 1, err
    assert not (root / "refused.pdf").exists()
