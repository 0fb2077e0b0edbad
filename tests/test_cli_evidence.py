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
    assert run("verify-pdf", str(root / "signed.pdf"), "--data-dir", str(data)).returncode == 0
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
    root, data = workspace, workspace / "data"
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
