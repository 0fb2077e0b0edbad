"""Evidence binding through the service: reuse and capture binding, handwriting checked before sealing,
log proofs, B-LTA seals and the report's submitted packet -- on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from fastapi.testclient import TestClient

from inkwitness.evidence import merkle
from inkwitness.evidence.checkpoint import open_checkpoint
from inkwitness.evidence.envelope import generate_escrow_key, public_pem
from inkwitness.evidence.pki import create_pki
from inkwitness.evidence.tsa import TsaServer
from inkwitness.service.app import create_app
from inkwitness.service.settings import Settings
from inkwitness.signature import make_signature

from .conftest import synthetic_signature
from .service_fixtures import postgres_server, postgres_url  # noqa: F401
from .test_pdf_evidence import blank_pdf

REFS = [synthetic_signature(seed).to_dict() for seed in range(5)]


@dataclass
class Sealing:
    """A service that seals, with keys of two tenants."""

    client: TestClient
    operator: dict[str, str]
    capture: dict[str, str]
    other: dict[str, str]
    platform: dict[str, str]
    ca_cert: object
    escrow: object = None


@pytest.fixture(scope="module")
def tsa_pki(tmp_path_factory) -> Iterator[tuple[object, str]]:
    """One PKI (with its CRL) and one running TSA for the module."""
    pki = create_pki(tmp_path_factory.mktemp("pki") / "pki")
    with TsaServer(pki.tsa_cert, pki.tsa_key) as tsa:
        yield pki, tsa.url


@pytest.fixture(params=["sqlite", "postgresql"])
def sealing(request, tmp_path, tsa_pki) -> Iterator[Sealing]:
    """A sealing service on each backend; its data directory holds the PKI (so it seals B-LTA)."""
    import shutil

    pki, tsa_url = tsa_pki
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    data = tmp_path / "data"
    data.mkdir()
    shutil.copytree(pki.folder, data / "pki")
    escrow = generate_escrow_key()
    (data / "escrow.pub.pem").write_bytes(public_pem(escrow.public_key()))
    settings = Settings(data_dir=data, database_url=url, tsa_url=tsa_url, escrow_public_key=data / "escrow.pub.pem")
    app = create_app(settings)
    repo = app.state.ops.repo
    a, b = repo.ensure_tenant("bank-a"), repo.ensure_tenant("bank-b")
    auth = lambda key: {"Authorization": f"Bearer {key}"}  # noqa: E731
    with TestClient(app) as client:
        yield Sealing(client, auth(repo.create_api_key(a, "clerk", ["operator"])),
                      auth(repo.create_api_key(a, "pad", ["capture"])),
                      auth(repo.create_api_key(b, "clerk", ["operator"])),
                      auth(repo.create_api_key(None, "platform", ["platform"])), data / "pki" / "ca.cert.pem",
                      escrow)


def _sign(svc: Sealing, pdf: bytes, sig: dict, **fields: str):  # noqa: ANN202
    data = {"signature": json.dumps(sig), "page": "1", "box": "100,100,300,160", **fields}
    return svc.client.post("/v1/documents/sign", headers=fields.pop("_headers", svc.operator),
                           files={"file": ("doc.pdf", pdf, "application/pdf")}, data=data)


def _enrolled(svc: Sealing) -> str:
    sid = svc.client.post("/v1/subjects", json={}, headers=svc.operator).json()["id"]
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": REFS}, headers=svc.operator)
    assert r.status_code == 201, r.text
    return sid


def _forgery() -> dict:
    """A signature of quite another shape than the synthetic references."""
    n = 200
    phase = np.linspace(0, 2 * np.pi, n)
    starts = np.zeros(n, dtype=bool)
    return make_signature(x=np.round(2000 + 3000 * phase), y=np.round(2000 + 1500 * np.sign(np.sin(8 * phase))),
                          t=np.arange(n) * 10.0, pressure=np.full(n, 0.9), stroke_start=starts).to_dict()


def _bound(sig: dict, document: bytes | None = None, nonce: str | None = None) -> dict:
    binding = {}
    if document is not None:
        binding["document_sha256"] = hashlib.sha256(document).hexdigest()
    if nonce is not None:
        binding["nonce"] = nonce
    out = json.loads(json.dumps(sig))
    out.setdefault("capture", {}).setdefault("extra", {})["binding"] = binding
    return out


def test_a_packet_sealed_into_one_document_is_refused_for_another_and_verify_names_reuse(sealing):
    svc = sealing
    sig = synthetic_signature(11).to_dict()
    doc_a, doc_b = blank_pdf("Contract A."), blank_pdf("Contract B.")
    first = _sign(svc, doc_a, sig)
    assert first.status_code == 200, first.text
    second = _sign(svc, doc_b, sig)
    assert second.status_code == 409, second.text
    assert "already sealed into another document" in second.json()["error"]
    assert second.json()["type"] == "BindingError"
    # The refused sealing changed nothing: the first document still verifies cleanly.
    v = svc.client.post("/v1/documents/verify", headers=svc.operator,
                        files={"file": ("a.pdf", first.content, "application/pdf")})
    assert v.status_code == 200 and v.json()["ok"], v.json()
    # A packet smuggled into the log for another document (as by a second installation sharing
    # the log) is named by verify.
    ops = svc.client.app.state.ops
    ops.evidence.log.append({"type": "signing", "tenant": "elsewhere", "signature_sha256": json.loads(
        json.dumps(ops.evidence.log.find(type="signing")[-1][1]))["signature_sha256"],
        "document_sha256": "0" * 64})
    v = svc.client.post("/v1/documents/verify", headers=svc.operator,
                        files={"file": ("a.pdf", first.content, "application/pdf")}).json()
    assert not v["ok"] and any("reused" in p for p in v["signatures"][0]["problems"]), v


def test_capture_binding_and_nonce_are_enforced(sealing):
    svc = sealing
    doc, other = blank_pdf("Loan 1."), blank_pdf("Loan 2.")
    wrong_doc = _sign(svc, doc, _bound(synthetic_signature(21).to_dict(), other))
    assert wrong_doc.status_code == 409 and "captured for document" in wrong_doc.json()["error"]
    with_nonce = _bound(synthetic_signature(22).to_dict(), doc, "n-123")
    missing = _sign(svc, doc, with_nonce)
    assert missing.status_code == 409 and "nonce" in missing.json()["error"]
    wrong = _sign(svc, doc, with_nonce, nonce="n-999")
    assert wrong.status_code == 409 and "nonce mismatch" in wrong.json()["error"]
    ok = _sign(svc, doc, with_nonce, nonce="n-123")
    assert ok.status_code == 200, ok.text


def test_handwriting_is_verified_before_sealing_with_refuse_and_record(sealing):
    svc = sealing
    sid = _enrolled(svc)
    ops = svc.client.app.state.ops
    size = ops.evidence.log.size()
    forged = _sign(svc, blank_pdf("Deed 1."), _forgery(), subject_id=sid)
    assert forged.status_code == 422, forged.text
    assert forged.json()["type"] == "HandwritingRefused" and "does not match the enrolment" in forged.json()["error"]
    # Nothing was sealed; the refused attempt is logged as a verification.
    assert not ops.evidence.log.find(type="signing")
    assert ops.evidence.log.size() == size + 1
    # A replay of an enrolment reference is refused as a conflict.
    replay = _sign(svc, blank_pdf("Deed 2."), REFS[0], subject_id=sid)
    assert replay.status_code == 409 and replay.json()["type"] == "ReplayRefused", replay.text
    assert "replays a stored signature" in replay.json()["error"]
    # The same forgery, sealed with the verdict recorded: the log entry carries it.
    recorded = _sign(svc, blank_pdf("Deed 3."), _forgery() | {"device": {"kind": "pen"}}, subject_id=sid,
                     on_mismatch="record")
    assert recorded.status_code == 200, recorded.text
    assert recorded.headers["X-Inkwitness-Handwriting"] in ("forgery", "replay")
    event = ops.evidence.log.find(type="signing")[-1][1]
    assert event["handwriting"]["decision"] == recorded.headers["X-Inkwitness-Handwriting"]
    # A genuine signature is sealed, and its verification is stored only after sealing.
    genuine = _sign(svc, blank_pdf("Deed 4."), synthetic_signature(7).to_dict(), subject_id=sid)
    assert genuine.status_code == 200, genuine.text
    assert genuine.headers["X-Inkwitness-Handwriting"] == "genuine"
    hist = svc.client.get(f"/v1/subjects/{sid}/history", headers=svc.operator).json()
    assert len(hist["verifications"]) == 4
    # A subject without an enrolment cannot be checked: refused unless the verdict is just recorded.
    bare = svc.client.post("/v1/subjects", json={}, headers=svc.operator).json()["id"]
    r = _sign(svc, blank_pdf("Deed 5."), synthetic_signature(8).to_dict(), subject_id=bare)
    assert r.status_code == 409 and "no enrolment" in r.json()["error"]
    r = _sign(svc, blank_pdf("Deed 5."), synthetic_signature(8).to_dict(), subject_id=bare, on_mismatch="record")
    assert r.status_code == 200 and r.headers["X-Inkwitness-Handwriting"] == "not-enrolled"
    # Policy values outside the two are a 422 before any work.
    assert _sign(svc, blank_pdf("Deed 6."), synthetic_signature(9).to_dict(), on_mismatch="ignore").status_code == 422


def test_the_service_seals_b_lta_with_the_pki_crl(sealing):
    svc = sealing
    r = _sign(svc, blank_pdf("B-LTA."), synthetic_signature(31).to_dict())
    assert r.status_code == 200, r.text
    v = svc.client.post("/v1/documents/verify", headers=svc.operator,
                        files={"file": ("s.pdf", r.content, "application/pdf")}).json()
    assert v["ok"], v
    assert v["signatures"][0]["ltv"]["level"] == "B-LTA", v["signatures"][0]["ltv"]


def test_inclusion_and_consistency_proofs_verify_and_bad_ranges_are_4xx(sealing):
    svc = sealing
    for seed in (41, 42):
        assert _sign(svc, blank_pdf(f"Doc {seed}."), synthetic_signature(seed).to_dict()).status_code == 200
    ops = svc.client.app.state.ops
    size = ops.evidence.log.size()
    index = ops.evidence.log.find(type="signing")[0][0]
    proof = svc.client.get(f"/v1/log/proof/{index}", headers=svc.operator)
    assert proof.status_code == 200, proof.text
    body = proof.json()
    key = svc.client.get("/v1/log/checkpoint", headers=svc.operator).json()["verifier_key"]
    head = open_checkpoint(body["checkpoint"], key)
    assert head.size == body["tree_size"] == size
    assert merkle.verify_inclusion(index, size, bytes.fromhex(body["leaf_hash"]),
                                   [bytes.fromhex(h) for h in body["audit_path"]], head.root)
    assert body["event"]["type"] == "signing"
    # Another tenant's entry is as absent as one beyond the end.
    assert svc.client.get(f"/v1/log/proof/{index}", headers=svc.other).status_code == 404
    assert svc.client.get(f"/v1/log/proof/{size}", headers=svc.operator).status_code == 404
    assert svc.client.get("/v1/log/proof/-1", headers=svc.operator).status_code == 422
    c = svc.client.get("/v1/log/consistency", params={"from": 1, "to": size}, headers=svc.operator)
    assert c.status_code == 200, c.text
    old_head, new_head = open_checkpoint(c.json()["old_checkpoint"], key), open_checkpoint(c.json()["checkpoint"], key)
    assert merkle.verify_consistency(1, size, old_head.root, new_head.root,
                                     [bytes.fromhex(h) for h in c.json()["proof"]])
    assert svc.client.get("/v1/log/consistency", params={"from": 1}, headers=svc.platform).status_code == 200
    assert svc.client.get("/v1/log/consistency", params={"from": size + 1}, headers=svc.operator).status_code == 404
    assert svc.client.get("/v1/log/consistency", params={"from": 2, "to": 1}, headers=svc.operator).status_code == 422
    assert svc.client.get("/v1/log/consistency", params={"from": 0}, headers=svc.operator).status_code == 422
    assert svc.client.get("/v1/log/consistency", headers=svc.operator).status_code == 422


def test_the_report_lists_the_submitted_packet_hash(sealing):
    svc = sealing
    sid = _enrolled(svc)
    q = synthetic_signature(51)
    data = svc.client.post(f"/v1/subjects/{sid}/reports", json={"signature": q.to_dict(), "format": "json"},
                           headers=svc.operator)
    assert data.status_code == 200, data.text
    questioned = [i for i in data.json()["inputs"] if i["role"] == "questioned"][0]
    assert questioned["file_sha256"] == q.sha256
    assert questioned["file_name"]
