"""Binding at capture through the service: server nonces for the API and the ceremony, refusals, CLI checks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from inkwitness.evidence.binding import NonceStore, nonce_sha256
from inkwitness.evidence.envelope import generate_escrow_key, private_pem, public_pem
from inkwitness.evidence.pki import create_pki
from inkwitness.evidence.tsa import TsaServer
from inkwitness.service.app import create_app
from inkwitness.service.messages import ZH
from inkwitness.service.settings import CEREMONY_REQUIRE_BINDING_ENV, Settings

from .conftest import synthetic_signature
from .test_cli import run
from .test_pdf_evidence import blank_pdf


@dataclass
class Service:
    client: TestClient
    auth: dict[str, str]
    other: dict[str, str]
    data: Path

    @property
    def ops(self):  # noqa: ANN201
        return self.client.app.state.ops


@pytest.fixture(scope="module")
def svc(tmp_path_factory) -> Iterator[Service]:
    data = tmp_path_factory.mktemp("binding")
    pki = create_pki(data / "pki")
    escrow = generate_escrow_key()
    (data / "escrow.pub.pem").write_bytes(public_pem(escrow.public_key()))
    (data / "escrow.key.pem").write_bytes(private_pem(escrow))
    with TsaServer(pki.tsa_cert, pki.tsa_key) as tsa:
        app = create_app(Settings(data_dir=data, tsa_url=tsa.url, escrow_public_key=data / "escrow.pub.pem"))
        repo = app.state.ops.repo
        key = repo.create_api_key(repo.ensure_tenant("t"), "clerk", ["operator"])
        other = repo.create_api_key(repo.ensure_tenant("u"), "clerk", ["operator"])
        with TestClient(app) as client:
            yield Service(client, {"Authorization": f"Bearer {key}"}, {"Authorization": f"Bearer {other}"}, data)


def _bound(seed: int, binding: dict | None) -> dict:
    sig = synthetic_signature(seed).to_dict()
    if binding is not None:
        sig.setdefault("capture", {}).setdefault("extra", {})["binding"] = dict(binding)
    return sig


def _sign(svc: Service, pdf: bytes, sig: dict, headers: dict | None = None, **fields: str):  # noqa: ANN202
    return svc.client.post("/v1/documents/sign", headers=headers or svc.auth,
                           files={"file": ("doc.pdf", pdf, "application/pdf")},
                           data={"signature": json.dumps(sig), "page": "1", "box": "100,100,300,160", **fields})


def _binding(svc: Service, pdf: bytes, headers: dict | None = None) -> dict:
    r = svc.client.post("/v1/documents/bindings", headers=headers or svc.auth,
                        json={"document_sha256": hashlib.sha256(pdf).hexdigest()})
    assert r.status_code == 201, r.text
    return r.json()["binding"]


def test_api_flow_with_a_server_nonce_seals_once_and_logs_the_nonce_hash(svc):
    doc = blank_pdf("Loan agreement 1.")
    binding = _binding(svc, doc)
    assert binding["document_sha256"] == hashlib.sha256(doc).hexdigest()
    assert binding["nonce"].startswith("iwn1.") and len(binding["nonce"]) >= 5 + 43  # 256 random bits
    ok = _sign(svc, doc, _bound(40, binding))  # the nonce need not be repeated as a form field
    assert ok.status_code == 200, ok.text
    event = svc.ops.evidence.log.find(type="signing")[-1][1]
    assert event["binding"] == {"document_sha256": binding["document_sha256"],
                                "nonce_sha256": nonce_sha256(binding["nonce"]), "issued_by": "server"}
    assert binding["nonce"] not in json.dumps(event)
    # Replay: the same nonce cannot seal again, even another packet into the same document.
    again = _sign(svc, doc, _bound(41, binding))
    assert again.status_code == 409 and again.json()["type"] == "NonceUsed", again.text
    assert again.json()["code"] == "nonce_used" and "already used" in again.json()["error"]


def test_a_packet_bound_to_another_document_is_refused(svc):
    doc, other = blank_pdf("Lease 1."), blank_pdf("Lease 2.")
    binding = _binding(svc, doc)
    wrong = _sign(svc, other, _bound(42, binding))
    assert wrong.status_code == 409 and wrong.json()["type"] == "BindingMismatch", wrong.text
    assert wrong.json()["code"] == "binding_mismatch"
    assert "captured for document" in wrong.json()["error"]
    # A nonce issued for one document, claimed in a packet for another: refused by the nonce's record.
    forged = _sign(svc, other, _bound(43, {**binding, "document_sha256": hashlib.sha256(other).hexdigest()}))
    assert forged.status_code == 409 and forged.json()["type"] == "BindingMismatch", forged.text
    assert "issued for document" in forged.json()["error"]
    # Neither refusal used the nonce up.
    assert _sign(svc, doc, _bound(44, binding)).status_code == 200


def test_unknown_foreign_and_expired_nonces_are_refused(svc):
    doc = blank_pdf("Deed 7.")
    sha = hashlib.sha256(doc).hexdigest()
    unknown = _sign(svc, doc, _bound(45, {"document_sha256": sha, "nonce": "iwn1." + "A" * 43}))
    assert unknown.status_code == 409 and unknown.json()["type"] == "NonceUnknown", unknown.text
    # Another tenant's nonce is unknown here.
    foreign = _binding(svc, doc, svc.other)
    assert _sign(svc, doc, _bound(46, foreign)).json()["type"] == "NonceUnknown"
    tenant = svc.ops.repo.ensure_tenant("t")
    expired = NonceStore(svc.ops.evidence.sessions).issue(sha, dt.timedelta(seconds=-1), tenant)
    late = _sign(svc, doc, _bound(47, expired.binding()))
    assert late.status_code == 409 and late.json()["type"] == "NonceExpired", late.text
    assert late.json()["code"] == "nonce_expired" and unknown.json()["code"] == "nonce_unknown"
    # A nonce form field that differs from the packet's nonce is a mismatch.
    fresh = _binding(svc, doc)
    assert _sign(svc, doc, _bound(48, fresh), nonce="iwn1.other").json()["type"] == "BindingMismatch"


def test_require_binding_refuses_unbound_and_caller_nonces_on_the_api(svc):
    settings = svc.ops.settings
    doc = blank_pdf("Guarantee 3.")
    sha = hashlib.sha256(doc).hexdigest()
    settings.require_binding = True
    try:
        unbound = _sign(svc, doc, _bound(49, None))
        assert unbound.status_code == 409 and unbound.json()["type"] == "BindingMissing", unbound.text
        assert unbound.json()["code"] == "binding_missing"
        own = _sign(svc, doc, _bound(49, {"document_sha256": sha, "nonce": "mine-1"}), nonce="mine-1")
        assert own.status_code == 409 and own.json()["type"] == "NonceUnknown", own.text
        assert _sign(svc, doc, _bound(49, _binding(svc, doc))).status_code == 200
    finally:
        settings.require_binding = None
    # Off (the default): unbound packets and the caller's own nonces still seal, as before.
    assert _sign(svc, blank_pdf("Guarantee 4."), _bound(50, None)).status_code == 200
    doc5 = blank_pdf("Guarantee 5.")
    own = _bound(51, {"document_sha256": hashlib.sha256(doc5).hexdigest(), "nonce": "mine-2"})
    assert _sign(svc, doc5, own, nonce="mine-2").status_code == 200
    assert svc.ops.evidence.log.find(type="signing")[-1][1]["binding"]["issued_by"] == "caller"


def test_bad_binding_requests_are_4xx_json(svc):
    for body in ({"document_sha256": "xyz"}, {"document_sha256": "ab" * 32, "ttl_seconds": 1}, {}):
        r = svc.client.post("/v1/documents/bindings", headers=svc.auth, json=body)
        assert r.status_code == 422 and r.json()["error"], r.text
    assert svc.client.post("/v1/documents/bindings", json={"document_sha256": "ab" * 32}).status_code == 401
    doc = blank_pdf("X.")
    bad_nonce = _sign(svc, doc, _bound(52, {"document_sha256": hashlib.sha256(doc).hexdigest(), "nonce": 7}))
    assert bad_nonce.status_code == 409 and bad_nonce.json()["code"] == "binding_mismatch", bad_nonce.text
    not_an_object = _bound(52, None)
    not_an_object.setdefault("capture", {}).setdefault("extra", {})["binding"] = "anything"
    malformed = _sign(svc, doc, not_an_object)
    assert malformed.status_code == 409 and malformed.json()["code"] == "binding_error", malformed.text


def _request(svc: Service, pdf: bytes) -> tuple[dict, str]:
    sid = svc.client.post("/v1/subjects", json={"display_name": "Li Wei"}, headers=svc.auth).json()["id"]
    r = svc.client.post("/v1/documents/requests", headers=svc.auth,
                        data={"subject_id": sid, "requester": "Bank", "reason": "Loan"},
                        files={"file": ("loan.pdf", pdf, "application/pdf")})
    assert r.status_code == 201, r.text
    return r.json(), r.json()["url"].rsplit("/", 1)[1]


def test_ceremony_request_binds_and_refuses_unbound_wrong_and_replayed_packets(svc, monkeypatch):
    monkeypatch.delenv(CEREMONY_REQUIRE_BINDING_ENV, raising=False)
    doc = blank_pdf("Account opening 9.")
    req, token = _request(svc, doc)  # strict by default: the signer's page always binds
    assert req["binding_required"] is True and "nonce" not in json.dumps(req)
    info = svc.client.get(f"/v1/capture/{token}/request").json()
    binding = info["binding"]
    assert binding["document_sha256"] == hashlib.sha256(doc).hexdigest() and binding["nonce"].startswith("iwn1.")
    consent = {"accepted": True}
    sign = lambda sig: svc.client.post(f"/v1/capture/{token}/sign", json={"signature": sig, "consent": consent})  # noqa: E731
    unbound = svc.client.post(f"/v1/capture/{token}/sign", json={"signature": _bound(53, None), "consent": consent},
                              headers={"Accept-Language": "zh-CN"})
    assert unbound.status_code == 409 and unbound.json()["type"] == "BindingMissing", unbound.text
    assert unbound.json()["code"] == "binding_missing" and unbound.json()["message"] == ZH["binding_missing"]
    # The document named in the binding must be this one.
    other = {**binding, "document_sha256": hashlib.sha256(b"another").hexdigest()}
    assert sign(_bound(53, other)).json()["code"] == "binding_mismatch"
    # A nonce issued on the API for the same document is not this request's.
    api_nonce = _binding(svc, doc)
    assert sign(_bound(54, api_nonce)).json()["code"] == "nonce_unknown"
    # Refusals leave the link usable; the request's own binding seals.
    ok = sign(_bound(55, binding))
    assert ok.status_code == 201, ok.text
    event = [e for _, e in svc.ops.evidence.log.find(type="signing") if e.get("agreement", {}).get("request") == req["id"]]
    assert event and event[0]["binding"]["nonce_sha256"] == nonce_sha256(binding["nonce"])
    # The request's nonce cannot seal again through the API (replay).
    replay = _sign(svc, doc, _bound(56, binding))
    assert replay.status_code == 409 and replay.json()["type"] == "NonceUnknown", replay.text
    # Once signed the page is given no binding any more.
    assert svc.client.get(f"/v1/capture/{token}/request").json()["binding"] is None


def test_ceremony_binding_can_be_turned_off_and_expires_with_its_request(svc, monkeypatch):
    from inkwitness.store.models import BindingNonce

    monkeypatch.setenv(CEREMONY_REQUIRE_BINDING_ENV, "0")
    lax, lax_token = _request(svc, blank_pdf("Account opening 10."))
    assert lax["binding_required"] is False
    ok = svc.client.post(f"/v1/capture/{lax_token}/sign", json={"signature": _bound(58, None),
                                                                "consent": {"accepted": True}})
    assert ok.status_code == 201, ok.text
    monkeypatch.delenv(CEREMONY_REQUIRE_BINDING_ENV)
    req, token = _request(svc, blank_pdf("Account opening 11."))
    binding = svc.client.get(f"/v1/capture/{token}/request").json()["binding"]
    with svc.ops.evidence.sessions.begin() as session:
        row = session.get(BindingNonce, nonce_sha256(binding["nonce"]))
        row.expires_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    late = svc.client.post(f"/v1/capture/{token}/sign", json={"signature": _bound(59, binding),
                                                              "consent": {"accepted": True}})
    assert late.status_code == 409 and late.json()["code"] == "nonce_expired", late.text


def test_cli_sign_pdf_refuses_a_mismatching_bound_packet_and_verify_pdf_reports_bindings(svc, tmp_path):
    doc, other = blank_pdf("Bill of sale 1."), blank_pdf("Bill of sale 2.")
    binding = _binding(svc, doc)
    packet = tmp_path / "bound.json"
    packet.write_text(json.dumps(_bound(57, binding)))
    (tmp_path / "other.pdf").write_bytes(other)
    out = run("sign-pdf", str(tmp_path / "other.pdf"), "--signature", str(packet), "--page", "1", "--box",
              "1,1,90,40", "-o", str(tmp_path / "o.pdf"), "--tsa-url", "http://127.0.0.1:9/tsa", "--escrow-pub",
              str(svc.data / "escrow.pub.pem"), "--data-dir", str(tmp_path / "d"), "--pki", str(svc.data / "pki"))
    assert out.returncode != 0 and "captured for document" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert not (tmp_path / "o.pdf").exists()
    # Sealed through the service: verify-pdf with the escrow key reads the packet and its binding.
    sealed = _sign(svc, doc, _bound(57, binding))
    assert sealed.status_code == 200, sealed.text
    (tmp_path / "sealed.pdf").write_bytes(sealed.content)
    text = run("verify-pdf", str(tmp_path / "sealed.pdf"), "--data-dir", str(svc.data), "--escrow-key",
               str(svc.data / "escrow.key.pem"))
    assert text.returncode == 0, text.stdout + text.stderr
    assert (f"capture binding: document sha256 matches ({binding['document_sha256']}); server nonce sha256 "
            f"{nonce_sha256(binding['nonce'])[:16]}...") in text.stdout, text.stdout
    # The JSON form, from the same function verify-pdf runs.
    from inkwitness.cli_evidence import _capture_bindings

    found = _capture_bindings(sealed.content, [svc.data / "escrow.key.pem"], None)
    assert list(found.values()) == [{"present": True, "document_sha256": binding["document_sha256"],
                                     "matches": True, "nonce_sha256": nonce_sha256(binding["nonce"])}]


def test_the_service_answers_its_pki_crl_and_ocsp_routes(svc):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    from inkwitness.evidence.ocsp import check_response, encoded_get_request, status_of

    pki = svc.data / "pki"
    crl = svc.client.get("/pki/ca.crl")
    assert crl.status_code == 200 and crl.content == (pki / "ca.crl").read_bytes()
    cert = x509.load_pem_x509_certificate((pki / "signer.cert.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((pki / "ca.cert.pem").read_bytes())
    der = ocsp.OCSPRequestBuilder().add_certificate(cert, ca, hashes.SHA256()).build().public_bytes(
        serialization.Encoding.DER)
    for r in (svc.client.post("/pki/ocsp", content=der, headers={"Content-Type": "application/ocsp-request"}),
              svc.client.get("/pki/ocsp/" + encoded_get_request(der))):
        assert r.status_code == 200 and r.headers["content-type"] == "application/ocsp-response"
        check_response(r.content, cert, ca)
        assert status_of(r.content)[0] == "GOOD"
    bad = svc.client.post("/pki/ocsp", content=b"not DER")
    assert bad.status_code == 200 and ocsp.load_der_ocsp_response(bad.content).response_status.name == \
        "MALFORMED_REQUEST"
    assert svc.client.get("/pki/ocsp/%%%").status_code in (200, 400)
    assert svc.client.post("/pki/ocsp", content=b"x" * 20_000).status_code == 413


def test_a_single_process_install_seals_with_its_own_ocsp_answers(tmp_path):
    """PKI URLs under the service's own /pki: its seals carry OCSP answers it gave itself."""
    import httpx

    from inkwitness.evidence.pdf import verify_pdf

    from .service_fixtures import free_port, serving

    port = free_port()
    base = f"http://127.0.0.1:{port}/pki"
    data = tmp_path / "data"
    pki = create_pki(data / "pki", crl_url=f"{base}/ca.crl", ocsp_url=f"{base}/ocsp")
    (data / "escrow.pub.pem").write_bytes(public_pem(generate_escrow_key().public_key()))
    with TsaServer(pki.tsa_cert, pki.tsa_key) as tsa:
        app = create_app(Settings(data_dir=data, tsa_url=tsa.url, escrow_public_key=data / "escrow.pub.pem"))
        repo = app.state.ops.repo
        key = repo.create_api_key(repo.ensure_tenant("t"), "clerk", ["operator"])
        with serving(app, port):
            doc = blank_pdf("Single process.")
            r = httpx.post(f"http://127.0.0.1:{port}/v1/documents/sign", headers={"Authorization": f"Bearer {key}"},
                           files={"file": ("doc.pdf", doc, "application/pdf")},
                           data={"signature": json.dumps(_bound(60, None)), "page": "1", "box": "100,100,300,160"},
                           timeout=60)
            assert r.status_code == 200, r.text
    check = verify_pdf(r.content, [pki.ca_cert])[0]
    assert check.ok, check.problems
    assert check.ltv["level"] == "B-LTA" and check.ltv["dss_ocsps"] >= 1, check.ltv
