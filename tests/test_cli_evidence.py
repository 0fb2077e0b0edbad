"""The evidence commands end to end, as an integrator would run them."""

from __future__ import annotations

import json
import sqlite3

import pytest

from inkwitness.evidence.tsa import TsaServer

from .conftest import synthetic_signature
from .test_cli import run
from .test_pdf_evidence import blank_pdf


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("ws")
    data = root / "data"
    assert run("pki", "init", "--data-dir", str(data)).returncode == 0
    assert run("escrow", "keygen", "-o", str(root / "notary")).returncode == 0
    (root / "doc.pdf").write_bytes(blank_pdf())
    (root / "sig.json").write_bytes(synthetic_signature(4).canonical_bytes())
    with TsaServer(data / "pki/tsa.cert.pem", data / "pki/tsa.key.pem") as tsa:
        out = run("sign-pdf", str(root / "doc.pdf"), "--signature", str(root / "sig.json"), "--page", "1",
                  "--box", "100,100,300,160", "-o", str(root / "signed.pdf"), "--tsa-url", tsa.url,
                  "--escrow-pub", str(root / "notary.pub.pem"), "--data-dir", str(data), "--subject", "s-1")
        assert out.returncode == 0, out.stderr
    return root


def test_sign_verify_decrypt_log_and_bundle(workspace):
    root, data = workspace, workspace / "data"
    verified = run("verify-pdf", str(root / "signed.pdf"), "--data-dir", str(data))
    assert verified.returncode == 0 and "PAdES level: B-LTA; CRLs in DSS: 1" in verified.stdout, verified.stdout
    out = run("escrow", "decrypt", str(root / "signed.pdf"), "--key", str(root / "notary.key.pem"),
              "-o", str(root / "packet.json"))
    assert out.returncode == 0, out.stderr
    assert (root / "packet.json").read_bytes() == synthetic_signature(4).canonical_bytes()
    assert "log OK: 1 entries" in run("log", "verify", "--data-dir", str(data)).stdout
    shown = json.loads(run("log", "show", "0", "--data-dir", str(data)).stdout)
    assert shown["event"]["type"] == "signing" and shown["event"]["subject"] == "s-1"
    assert run("evidence", "export", "0", "-o", str(root / "b.zip"), "--data-dir", str(data)).returncode == 0
    key = run("log", "checkpoint", "--data-dir", str(data)).stdout.split("verifier key: ")[1].strip()
    out = run("evidence", "verify", str(root / "b.zip"), "--trust", str(data / "pki/ca.cert.pem"), "--log-key", key)
    assert out.returncode == 0, out.stdout
    assert "FAIL" not in out.stdout


def test_log_events_carry_no_coordinates(workspace):
    db = sqlite3.connect(workspace / "data" / "inkwitness.db")
    (event,) = db.execute('select data from log_entries where "index" = 0').fetchone()
    sig = synthetic_signature(4)
    assert b'"x"' not in event and str(int(sig.x[10])).encode() not in event


def test_log_verify_cli_names_tampered_entry(workspace, tmp_path):
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(workspace / "data", copy)
    db = sqlite3.connect(copy / "inkwitness.db")
    db.execute("""update log_entries set data = replace(data, 's-1', 's-2') where "index" = 0""")
    db.commit()
    out = run("log", "verify", "--data-dir", str(copy))
    assert out.returncode == 1 and "entry 0" in out.stderr


def test_decrypt_with_wrong_key_is_one_line_exit_2(workspace, tmp_path):
    assert run("escrow", "keygen", "-o", str(tmp_path / "other")).returncode == 0
    out = run("escrow", "decrypt", str(workspace / "signed.pdf"), "--key", str(tmp_path / "other.key.pem"))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "none of the given escrow keys" in out.stderr


def test_rotation_then_decrypt_with_keyring(tmp_path):
    ring = tmp_path / "ring"
    assert run("escrow", "rotate", "--keyring", str(ring)).returncode == 0
    assert run("escrow", "rotate", "--keyring", str(ring)).returncode == 0
    assert len(list(ring.glob("escrow-*.key.pem"))) == 2 and (ring / "current.pub.pem").exists()


def _enrolled_workspace(tmp_path, references):
    """A data directory with a PKI, an escrow key and one subject enrolled with ``references``."""
    from inkwitness.evidence.context import EvidenceContext
    from inkwitness.service.operations import Operations
    from inkwitness.service.settings import Settings
    from inkwitness.service.storage import Repository, Vault

    data = tmp_path / "data"
    assert run("pki", "init", "--data-dir", str(data)).returncode == 0
    assert run("escrow", "keygen", "-o", str(tmp_path / "notary")).returncode == 0
    ctx = EvidenceContext.resolve(data)
    repo = Repository(ctx.sessions, Vault(Settings(data_dir=data).storage_key()))
    tenant = repo.ensure_tenant("bank")
    subject = repo.create_subject(tenant, "c-7", None).id
    Operations(repo, ctx, Settings(data_dir=data)).enrol(tenant, subject, references)
    (tmp_path / "doc.pdf").write_bytes(blank_pdf())
    return data, subject


def _seal(tmp_path, data, packet, out, *extra):
    with TsaServer(data / "pki/tsa.cert.pem", data / "pki/tsa.key.pem") as tsa:
        return run("sign-pdf", str(tmp_path / "doc.pdf"), "--signature", str(packet), "--page", "1",
                   "--box", "100,100,300,160", "-o", str(out), "--tsa-url", tsa.url,
                   "--escrow-pub", str(tmp_path / "notary.pub.pem"), "--data-dir", str(data), *extra)


def test_verify_pdf_reverifies_handwriting_against_the_enrolled_subject(tmp_path):
    data, subject = _enrolled_workspace(tmp_path, [synthetic_signature(s) for s in range(5)])
    (tmp_path / "sig.json").write_bytes(synthetic_signature(8).canonical_bytes())
    assert _seal(tmp_path, data, tmp_path / "sig.json", tmp_path / "s.pdf").returncode == 0
    out = run("verify-pdf", str(tmp_path / "s.pdf"), "--data-dir", str(data), "--subject", subject,
              "--escrow-key", str(tmp_path / "notary.key.pem"), "--json")
    (check,) = json.loads(out.stdout)
    rv = check["biometric"]["reverification"]
    assert rv["subject"] == subject and rv["decision"] in ("genuine", "forgery")
    # The exit code follows the verdict: only a genuine re-verification passes.
    assert out.returncode == (0 if rv["decision"] == "genuine" else 1), out.stderr
    missing = run("verify-pdf", str(tmp_path / "s.pdf"), "--data-dir", str(data), "--subject", subject)
    assert missing.returncode == 2 and "--escrow-key" in missing.stderr


@pytest.mark.data
def test_skilled_forgery_sealed_as_the_subject_fails_verify_pdf(tmp_path, data_root):
    from inkwitness.formats import read_signature

    task2 = data_root / "svc2004/Task2"
    data, subject = _enrolled_workspace(tmp_path, [read_signature(task2 / f"U1S{i}.TXT") for i in range(1, 6)])
    key = str(tmp_path / "notary.key.pem")
    assert _seal(tmp_path, data, task2 / "U1S21.TXT", tmp_path / "forged.pdf", "--subject", subject).returncode == 0
    # No --subject: the subject recorded at sealing is used, and the forgery verdict fails the check.
    out = run("verify-pdf", str(tmp_path / "forged.pdf"), "--data-dir", str(data), "--escrow-key", key)
    assert out.returncode == 1, out.stdout
    assert "FAILED" in out.stdout and "says forgery" in out.stdout and " OK" not in out.stdout
    field = "inkwitness-signature-1"
    out = run("verify-pdf", str(tmp_path / "forged.pdf"), "--data-dir", str(data), "--escrow-key", key,
              "--subject", f"{field}={subject}", "--json")
    (check,) = json.loads(out.stdout)
    assert out.returncode == 1 and not check["ok"] and check["biometric"]["reverification"]["decision"] == "forgery"
    # A genuine signature of the same writer passes.
    assert _seal(tmp_path, data, task2 / "U1S6.TXT", tmp_path / "genuine.pdf", "--subject", subject).returncode == 0
    out = run("verify-pdf", str(tmp_path / "genuine.pdf"), "--data-dir", str(data), "--escrow-key", key)
    assert out.returncode == 0 and "genuine" in out.stdout, out.stdout
    bad = run("verify-pdf", str(tmp_path / "genuine.pdf"), "--data-dir", str(data), "--escrow-key", key,
              "--subject", f"no-such-field={subject}")
    assert bad.returncode == 2 and "no signature field" in bad.stderr


def test_bundle_keys_from_the_bundle_itself_are_untrusted_unless_accepted(workspace, tmp_path):
    data = workspace / "data"
    bundle = tmp_path / "b.zip"
    assert run("evidence", "export", "0", "-o", str(bundle), "--data-dir", str(data)).returncode == 0
    out = run("evidence", "verify", str(bundle))
    assert out.returncode == 1 and "UNTRUSTED log key" in out.stdout and "UNTRUSTED trust anchors" in out.stdout
    assert run("evidence", "verify", str(bundle), "--trust-bundle-keys").returncode == 0
    key = run("log", "checkpoint", "--data-dir", str(data)).stdout.split("verifier key: ")[1].strip()
    out = run("evidence", "verify", str(bundle), "--log-key", key)
    assert out.returncode == 1 and "UNTRUSTED trust anchors" in out.stdout and "UNTRUSTED log key" not in out.stdout


def test_wrong_pinned_log_key_names_both_keys(workspace, tmp_path):
    from inkwitness.evidence.checkpoint import verifier_key
    from inkwitness.evidence.log import load_or_create_log_key

    data = workspace / "data"
    bundle = tmp_path / "b.zip"
    assert run("evidence", "export", "0", "-o", str(bundle), "--data-dir", str(data)).returncode == 0
    actual = run("log", "checkpoint", "--data-dir", str(data)).stdout.split("verifier key: ")[1].strip()
    other = verifier_key("inkwitness-log", load_or_create_log_key(tmp_path / "k.pem").public_key())
    out = run("evidence", "verify", str(bundle), "--trust", str(data / "pki/ca.cert.pem"), "--log-key", other)
    assert out.returncode == 1
    signer, expected = "+".join(actual.split("+")[:2]), "+".join(other.split("+")[:2])
    assert f"signed by log key {signer}" in out.stdout and f"pinned key is {expected}" in out.stdout
    assert "manifest altered" not in out.stdout


def _bound_packet(seed: int, **binding):
    """A synthetic packet whose capture context binds it to a document and/or nonce."""
    from inkwitness.formats import native

    packet = json.loads(synthetic_signature(seed).canonical_bytes())
    packet["capture"] = {"extra": {"binding": binding}}
    return native.loads(json.dumps(packet).encode())


def test_the_same_handwriting_cannot_be_sealed_into_another_document(workspace, tmp_path):
    import shutil

    root = workspace
    data = tmp_path / "data"
    shutil.copytree(root / "data", data)
    other = tmp_path / "other.pdf"
    other.write_bytes(blank_pdf("Guarantee. Signed below."))
    out = run("sign-pdf", str(other), "--signature", str(root / "sig.json"), "--page", "1", "--box", "1,1,90,40",
              "-o", str(tmp_path / "o.pdf"), "--tsa-url", "http://127.0.0.1:9/tsa", "--escrow-pub",
              str(root / "notary.pub.pem"), "--data-dir", str(data))
    assert out.returncode == 2 and "already sealed into another document (log entry 0" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "o.pdf").exists()


def test_log_verify_and_verify_pdf_flag_a_packet_logged_for_two_documents(workspace, tmp_path):
    import shutil

    from inkwitness.evidence.context import EvidenceContext

    data = tmp_path / "data"
    shutil.copytree(workspace / "data", data)
    # A sealing that bypassed the check (an older version, or a direct database write).
    EvidenceContext.resolve(data).log.append({"type": "signing", "signature_sha256": synthetic_signature(4).sha256,
                                              "document_sha256": "ab" * 32})
    out = run("log", "verify", "--data-dir", str(data))
    assert out.returncode == 1 and "entries 0 and 1: the same handwriting" in out.stderr, out.stderr
    out = run("verify-pdf", str(workspace / "signed.pdf"), "--data-dir", str(data))
    assert out.returncode == 1 and "also logged as sealed into another document (log entry 1)" in out.stdout


def test_capture_binding_refuses_another_document_or_nonce(workspace, tmp_path):
    import hashlib

    from inkwitness.evidence.binding import BindingError, check_binding

    doc = blank_pdf()
    sha = hashlib.sha256(doc).hexdigest()
    bound = _bound_packet(11, document_sha256=sha, nonce="n-1")
    check_binding(bound, sha, "n-1")
    with pytest.raises(BindingError, match="captured for document"):
        check_binding(bound, "cd" * 32, "n-1")
    with pytest.raises(BindingError, match="nonce mismatch"):
        check_binding(bound, sha, "n-2")
    with pytest.raises(BindingError, match="pass the nonce"):
        check_binding(bound, sha, None, require_nonce_check=True)
    check_binding(synthetic_signature(11), sha)  # no binding: nothing to check
    # Through the CLI: a packet bound to doc.pdf is refused for another document.
    packet = tmp_path / "bound.json"
    packet.write_bytes(_bound_packet(12, document_sha256=sha).canonical_bytes())
    other = tmp_path / "other.pdf"
    other.write_bytes(blank_pdf("Guarantee. Signed below."))
    out = run("sign-pdf", str(other), "--signature", str(packet), "--page", "1", "--box", "1,1,90,40",
              "-o", str(tmp_path / "o.pdf"), "--tsa-url", "http://127.0.0.1:9/tsa", "--escrow-pub",
              str(workspace / "notary.pub.pem"), "--data-dir", str(tmp_path / "d"), "--pki",
              str(workspace / "data/pki"))
    assert out.returncode == 2 and "captured for document" in out.stderr, out.stderr
    # The library refuses too, so every caller of sign_pdf (the service included) gets the check.
    from inkwitness.evidence.envelope import load_public_key
    from inkwitness.evidence.pdf import SealConfig, sign_pdf

    pki = workspace / "data/pki"
    config = SealConfig(pki / "signer.cert.pem", pki / "signer.key.pem", (pki / "ca.cert.pem",),
                        "http://127.0.0.1:9/tsa", load_public_key(workspace / "notary.pub.pem"))
    with pytest.raises(BindingError, match="captured for document"):
        sign_pdf(other.read_bytes(), _bound_packet(12, document_sha256=sha), 1, (1, 1, 90, 40), config)


def test_verify_pdf_names_a_form_field_changed_after_signing(workspace, tmp_path):
    from .test_pdf_evidence import fill_field, form_pdf

    root, data = workspace, workspace / "data"
    (tmp_path / "contract.pdf").write_bytes(form_pdf())
    with TsaServer(data / "pki/tsa.cert.pem", data / "pki/tsa.key.pem") as tsa:
        out = run("sign-pdf", str(tmp_path / "contract.pdf"), "--signature", str(root / "sig.json"), "--page", "1",
                  "--box", "100,100,300,160", "-o", str(tmp_path / "signed.pdf"), "--tsa-url", tsa.url,
                  "--escrow-pub", str(root / "notary.pub.pem"), "--data-dir", str(tmp_path / "d"),
                  "--pki", str(data / "pki"))
    assert out.returncode == 0, out.stderr
    (tmp_path / "edited.pdf").write_bytes(fill_field((tmp_path / "signed.pdf").read_bytes(), "days", "90"))
    ok = run("verify-pdf", str(tmp_path / "signed.pdf"), "--trust", str(data / "pki/ca.cert.pem"))
    assert ok.returncode == 0 and "certification: DocMDP NO_CHANGES" in ok.stdout, ok.stdout
    out = run("verify-pdf", str(tmp_path / "edited.pdf"), "--trust", str(data / "pki/ca.cert.pem"))
    assert out.returncode == 1 and "form field 'days' changed after this signature: '30' \u2192 '90'" in out.stdout


def test_verify_pdf_at_a_later_date_reports_expiry_without_a_traceback(workspace):
    data = workspace / "data"
    args = ("verify-pdf", str(workspace / "signed.pdf"), "--trust", str(data / "pki/ca.cert.pem"))
    out = run(*args, "--at", "2045-01-01")
    assert out.returncode == 1
    assert "the signing certificate expired on" in out.stdout and "validated at 2045-01-01" in out.stdout
    assert "time-stamping authority certificate expired" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr and "does not chain" not in out.stdout
    assert run(*args, "--at", "2020-01-01").returncode == 1
    assert run(*args).returncode == 0
    bad = run(*args, "--at", "next tuesday")
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr


def test_a_certificate_revoked_with_pki_crl_can_no_longer_seal(tmp_path):
    from cryptography import x509

    data = tmp_path / "data"
    assert run("pki", "init", "--data-dir", str(data)).returncode == 0
    assert run("escrow", "keygen", "-o", str(tmp_path / "notary")).returncode == 0
    (tmp_path / "doc.pdf").write_bytes(blank_pdf())
    (tmp_path / "sig.json").write_bytes(synthetic_signature(5).canonical_bytes())
    serial = x509.load_pem_x509_certificate((data / "pki/signer.cert.pem").read_bytes()).serial_number
    out = run("pki", "crl", "--data-dir", str(data), "--revoke", f"{serial:x}")
    assert out.returncode == 0 and "1 revoked certificate" in out.stdout, out.stderr
    with TsaServer(data / "pki/tsa.cert.pem", data / "pki/tsa.key.pem") as tsa:
        out = run("sign-pdf", str(tmp_path / "doc.pdf"), "--signature", str(tmp_path / "sig.json"), "--page", "1",
                  "--box", "100,100,300,160", "-o", str(tmp_path / "s.pdf"), "--tsa-url", tsa.url,
                  "--escrow-pub", str(tmp_path / "notary.pub.pem"), "--data-dir", str(data))
    assert out.returncode == 2 and "revoked" in out.stderr and not (tmp_path / "s.pdf").exists(), out.stderr
    assert run("pki", "crl", "--data-dir", str(data), "--revoke", "xyz").returncode == 2


def test_a_newcomer_seals_with_one_command_using_the_data_directory_defaults(tmp_path):
    """No --tsa-url, --escrow-pub or PKI: a PKI, a local TSA and a demo escrow key are made, as serve does."""
    (tmp_path / "doc.pdf").write_bytes(blank_pdf("One command."))
    (tmp_path / "sig.json").write_bytes(synthetic_signature(8).canonical_bytes())
    data = tmp_path / "data"
    out = run("sign-pdf", str(tmp_path / "doc.pdf"), "--signature", str(tmp_path / "sig.json"), "--page", "1",
              "--box", "300,100,500,180", "-o", str(tmp_path / "signed.pdf"), "--data-dir", str(data))
    assert out.returncode == 0, out.stderr
    assert "local time-stamping authority" in out.stderr and "DEMO escrow key pair" in out.stderr
    assert oct((data / "escrow" / "notary.key.pem").stat().st_mode & 0o777) == "0o600"
    verified = run("verify-pdf", str(tmp_path / "signed.pdf"), "--data-dir", str(data))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # An explicit PKI or certificate needs the explicit TSA and escrow key too: no silent mixing.
    mixed = run("sign-pdf", str(tmp_path / "doc.pdf"), "--signature", str(tmp_path / "sig.json"), "--page", "1",
                "--box", "300,100,500,180", "-o", str(tmp_path / "x.pdf"), "--pki", str(data / "pki"))
    assert mixed.returncode == 2 and mixed.stderr.count("\n") == 1 and "--tsa-url" in mixed.stderr
