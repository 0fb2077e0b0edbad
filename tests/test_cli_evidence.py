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


def test_verify_pdf_reverifies_handwriting_against_the_enrolled_subject(tmp_path):
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
    Operations(repo, ctx, Settings(data_dir=data)).enrol(tenant, subject, [synthetic_signature(s) for s in range(5)])
    (tmp_path / "doc.pdf").write_bytes(blank_pdf())
    (tmp_path / "sig.json").write_bytes(synthetic_signature(8).canonical_bytes())
    with TsaServer(data / "pki/tsa.cert.pem", data / "pki/tsa.key.pem") as tsa:
        assert run("sign-pdf", str(tmp_path / "doc.pdf"), "--signature", str(tmp_path / "sig.json"), "--page", "1",
                   "--box", "100,100,300,160", "-o", str(tmp_path / "s.pdf"), "--tsa-url", tsa.url,
                   "--escrow-pub", str(tmp_path / "notary.pub.pem"), "--data-dir", str(data)).returncode == 0
    out = run("verify-pdf", str(tmp_path / "s.pdf"), "--data-dir", str(data), "--subject", subject,
              "--escrow-key", str(tmp_path / "notary.key.pem"), "--json")
    assert out.returncode == 0, out.stderr
    (check,) = json.loads(out.stdout)
    assert check["biometric"]["reverification"]["decision"] in ("genuine", "forgery")
    missing = run("verify-pdf", str(tmp_path / "s.pdf"), "--data-dir", str(data), "--subject", subject)
    assert missing.returncode == 2 and "--escrow-key" in missing.stderr
