"""The log witness: co-signs only consistent history, in the C2SP cosignature format; bundles need it."""

from __future__ import annotations

import base64
import json
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from inkwitness.evidence import merkle
from inkwitness.evidence.bundle import build_bundle, verify_bundle
from inkwitness.evidence.checkpoint import EM_DASH, open_checkpoint
from inkwitness.evidence.context import EvidenceContext
from inkwitness.evidence.witness import (Witness, WitnessConflict, WitnessError, WitnessServer, cosigned_message,
                                         submit, verify_cosignature, witness_verifier_key)

from .test_cli import run

ORIGIN = "inkwitness.local/log"


def _fill(ctx: EvidenceContext, start: int, stop: int, tag: str = "") -> None:
    for i in range(start, stop):
        ctx.log.append({"type": "capture", "signature_sha256": f"{i:064x}", "note": tag})


@pytest.fixture
def ctx(tmp_path):
    c = EvidenceContext.resolve(tmp_path / "data")
    _fill(c, 0, 3)
    return c


@pytest.fixture
def witness(tmp_path, ctx):
    return Witness("witness.example", ed25519.Ed25519PrivateKey.generate(), tmp_path / "w.json",
                   {ORIGIN: ctx.log.verifier_key})


def _proof(ctx, old, new):
    return [bytes.fromhex(h) for h in ctx.log.consistency_proof(old, new)] if 0 < old < new else []


def test_cosignature_is_c2sp_cosignature_v1(ctx, witness):
    note = ctx.log.latest_checkpoint()
    line = witness.cosign(note, 0, [], timestamp=1_700_000_000)
    dash, name, blob_b64 = line.split(" ")
    blob = base64.b64decode(blob_b64)
    assert dash == EM_DASH and name == "witness.example" and len(blob) == 4 + 8 + 64
    assert struct.unpack(">Q", blob[4:12]) == (1_700_000_000,)
    # Checked independently of our own verifier: Ed25519 over "cosignature/v1\ntime T\n" + body.
    body = note.split("\n\n")[0] + "\n"
    assert cosigned_message(body, 1_700_000_000) == f"cosignature/v1\ntime 1700000000\n{body}".encode()
    witness.key.public_key().verify(blob[12:], cosigned_message(body, 1_700_000_000))
    cosigned = note + line + "\n"
    assert verify_cosignature(cosigned, witness.verifier_key) == 1_700_000_000
    open_checkpoint(cosigned, ctx.log.verifier_key)  # the log's own signature still verifies


def test_witness_follows_a_growing_log(ctx, witness):
    witness.cosign(ctx.log.latest_checkpoint(), 0, [])
    _fill(ctx, 3, 10)
    witness.cosign(ctx.log.latest_checkpoint(), 3, _proof(ctx, 3, 10))
    assert witness.remembered(ORIGIN).size == 10
    with pytest.raises(WitnessConflict) as conflict:
        witness.cosign(ctx.log.latest_checkpoint(), 3, _proof(ctx, 3, 10))
    assert conflict.value.size == 10
    with pytest.raises(WitnessError, match="rollback"):
        witness.cosign(ctx.log.checkpoint_at(5), 10, [])


def test_witness_refuses_a_rewritten_history_and_verification_fails(tmp_path, ctx, witness):
    honest = witness.cosign(ctx.log.latest_checkpoint(), 0, [])
    # The operator rewrites entry 1 and re-signs every checkpoint with the real log key.
    (tmp_path / "forged").mkdir()
    (tmp_path / "forged" / "log-signing-key.pem").write_bytes((ctx.data_dir / "log-signing-key.pem").read_bytes())
    forged = EvidenceContext.resolve(tmp_path / "forged")
    _fill(forged, 0, 1)
    forged.log.append({"type": "capture", "signature_sha256": "f" * 64, "note": "rewritten"})
    _fill(forged, 2, 6)
    assert forged.log.verify().ok and forged.log.verifier_key == ctx.log.verifier_key  # self-consistent
    with pytest.raises(WitnessError, match="not consistent .* rewrote its history"):
        witness.cosign(forged.log.latest_checkpoint(), 3, _proof(forged, 3, 6))
    assert witness.remembered(ORIGIN).size == 3
    # Same size, other root: a fork, refused too.
    with pytest.raises(WitnessError, match="forked"):
        witness.cosign(forged.log.checkpoint_at(3), 3, [])
    # A bundle from the rewritten log carries no co-signature: a relying party pinning the witness rejects it.
    data, _ = forged.log.entry(4)
    bundle = build_bundle(4, data, forged.log.inclusion_proof(4), forged.log.latest_checkpoint(),
                          forged.log.verifier_key, forged.log.key.sign)
    report = verify_bundle(bundle, log_key=ctx.log.verifier_key, witness_keys=[witness.verifier_key])
    assert not report.ok
    assert any("no cosignature by witness witness.example" in p for p in report.problems)
    # Grafting the honest co-signature onto the forged checkpoint of the same size does not help.
    with pytest.raises(WitnessError, match="does not verify"):
        verify_cosignature(forged.log.checkpoint_at(3) + honest + "\n", witness.verifier_key)


def test_a_cosignature_moved_to_another_checkpoint_fails(ctx, witness):
    line = witness.cosign(ctx.log.latest_checkpoint(), 0, [])
    _fill(ctx, 3, 4)
    moved = ctx.log.latest_checkpoint() + line + "\n"
    with pytest.raises(WitnessError, match="does not verify"):
        verify_cosignature(moved, witness.verifier_key)


def test_witness_refuses_checkpoints_not_signed_by_the_pinned_log_key(tmp_path, ctx, witness):
    other = EvidenceContext.resolve(tmp_path / "other")
    _fill(other, 0, 3)
    with pytest.raises(WitnessError, match="not signed by the log's key"):
        witness.cosign(other.log.latest_checkpoint(), 0, [])


def test_witness_over_http_and_bundle_with_cosignature(ctx, witness):
    with WitnessServer(witness) as server:
        line = submit(server.url, 0, [], ctx.log.latest_checkpoint())
        _fill(ctx, 3, 7)
        with pytest.raises(WitnessConflict) as conflict:
            submit(server.url, 0, [], ctx.log.latest_checkpoint())
        assert conflict.value.size == 3
        line = submit(server.url, 3, _proof(ctx, 3, 7), ctx.log.latest_checkpoint())
    size, kept = ctx.add_cosignatures(ctx.log.latest_checkpoint() + line + "\n")
    assert (size, kept) == (7, 1)
    note = ctx.cosigned_checkpoint(5)
    data, _ = ctx.log.entry(4)
    bundle = build_bundle(4, data, ctx.log.inclusion_proof(4, 7), note, ctx.log.verifier_key, ctx.log.key.sign)
    report = verify_bundle(bundle, log_key=ctx.log.verifier_key, witness_keys=[witness.verifier_key])
    assert report.ok, report.problems


def test_cli_prove_consistency_cosign_export_and_verify(tmp_path, ctx):
    data = str(ctx.data_dir)
    proof = json.loads(run("log", "prove", "1", "--data-dir", data).stdout)
    cp = open_checkpoint(proof["checkpoint"], ctx.log.verifier_key)
    leaf = merkle.leaf_hash(json.dumps(proof["event"], sort_keys=True, separators=(",", ":")).encode())
    assert merkle.verify_inclusion(1, cp.size, leaf, [bytes.fromhex(h) for h in proof["audit_path"]], cp.root)
    wkey, state = tmp_path / "w.pem", tmp_path / "w.json"
    out = run("witness", "keygen", "--key", str(wkey), "--name", "w1")
    assert out.returncode == 0, out.stderr
    verifier = out.stdout.split("witness key: ")[1].strip()
    log_key = ctx.log.verifier_key
    (tmp_path / "cp3.txt").write_text(ctx.log.latest_checkpoint())
    common = ["--key", str(wkey), "--name", "w1", "--state", str(state), "--log-key", log_key]
    assert run("witness", "cosign", str(tmp_path / "cp3.txt"), *common).returncode == 0
    _fill(ctx, 3, 6)
    consistency = run("log", "consistency", "--from", "3", "--to", "6", "--data-dir", data)
    assert consistency.returncode == 0, consistency.stderr
    (tmp_path / "p.json").write_text(consistency.stdout)
    c = json.loads(consistency.stdout)
    old = open_checkpoint(c["old_checkpoint"], log_key)
    new = open_checkpoint(c["checkpoint"], log_key)
    assert merkle.verify_consistency(3, 6, old.root, new.root, [bytes.fromhex(h) for h in c["proof"]])
    (tmp_path / "cp6.txt").write_text(ctx.log.latest_checkpoint())
    out = run("witness", "cosign", str(tmp_path / "cp6.txt"), *common, "--proof", str(tmp_path / "p.json"),
              "-o", str(tmp_path / "cosigned.txt"))
    assert out.returncode == 0, out.stderr
    assert run("log", "add-cosignature", str(tmp_path / "cosigned.txt"), "--data-dir", data).returncode == 0
    assert run("evidence", "export", "4", "-o", str(tmp_path / "b.zip"), "--data-dir", data).returncode == 0
    ok = run("evidence", "verify", str(tmp_path / "b.zip"), "--log-key", log_key, "--witness-key", verifier)
    assert ok.returncode == 0 and "witness w1" in ok.stdout, ok.stdout
    other = witness_verifier_key("w2", ed25519.Ed25519PrivateKey.generate().public_key())
    out = run("evidence", "verify", str(tmp_path / "b.zip"), "--log-key", log_key, "--witness-key", other)
    assert out.returncode == 1 and "no cosignature by witness w2" in out.stdout
    # Replaying the old size-3 proof state: the witness refuses with exit 1 and says why.
    out = run("witness", "cosign", str(tmp_path / "cp3.txt"), *common)
    assert out.returncode == 1 and "witness refuses" in out.stderr
    bad = run("evidence", "verify", str(tmp_path / "b.zip"), "--log-key", log_key, "--witness-key", "nonsense")
    assert bad.returncode == 2


def test_log_witness_cli_gets_the_newest_checkpoint_cosigned(ctx, witness):
    data = str(ctx.data_dir)
    with WitnessServer(witness) as server:
        out = run("log", "witness", "--url", server.url, "--data-dir", data)
        assert out.returncode == 0 and "checkpoint of size 3 co-signed" in out.stdout, out.stderr
        _fill(ctx, 3, 5)
        # The CLI remembers the witness's size and proves consistency from it.
        out = run("log", "witness", "--url", server.url, "--data-dir", data)
        assert out.returncode == 0 and "checkpoint of size 5 co-signed" in out.stdout, out.stderr
    verify_cosignature(ctx.cosigned_checkpoint(5), witness.verifier_key)
    assert open_checkpoint(ctx.cosigned_checkpoint(5), ctx.log.verifier_key).size == 5


def test_signing_keys_are_created_owner_only_and_shared_when_created_concurrently(tmp_path):
    """The log and witness keys are 0600 from creation; a key file another process made first is used."""
    import stat

    from inkwitness.evidence.checkpoint import load_or_create_key

    path = tmp_path / "keys" / "log.key"
    first = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_key(path)
    assert again.public_key().public_bytes_raw() == first.public_key().public_bytes_raw()
    assert not [p for p in path.parent.iterdir() if p.name != "log.key"]  # no temporary file left behind
