"""Reports, sealed documents and evidence bundles through the service; numbers equal the API's."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from fastapi.testclient import TestClient

from inkwitness.evidence.bundle import verify_bundle
from inkwitness.evidence.envelope import generate_escrow_key, public_pem
from inkwitness.evidence.pki import create_pki
from inkwitness.evidence.tsa import TsaServer
from inkwitness.service.app import create_app
from inkwitness.service.settings import Settings

from .conftest import synthetic_signature
from .test_pdf_evidence import blank_pdf


@pytest.fixture(scope="module")
def sealing_app(tmp_path_factory):
    data = tmp_path_factory.mktemp("svc")
    pki = create_pki(data / "pki")
    escrow = generate_escrow_key()
    (data / "escrow.pub.pem").write_bytes(public_pem(escrow.public_key()))
    with TsaServer(pki.tsa_cert, pki.tsa_key) as tsa:
        settings = Settings(data_dir=data, tsa_url=tsa.url, escrow_public_key=data / "escrow.pub.pem")
        app = create_app(settings)
        repo = app.state.ops.repo
        key = repo.create_api_key(repo.ensure_tenant("t"), "clerk", ["operator"])
        with TestClient(app) as client:
            yield client, {"Authorization": f"Bearer {key}"}, pki


def test_sign_verify_and_bundle_through_the_api(sealing_app):
    client, auth, pki = sealing_app
    sig = synthetic_signature(9)
    r = client.post("/v1/documents/sign", headers=auth, files={"file": ("doc.pdf", blank_pdf(), "application/pdf")},
                    data={"signature": sig.canonical_bytes().decode(), "page": "1", "box": "100,100,300,160",
                          "signer_name": "Zhang San"})
    assert r.status_code == 200, r.text
    sealed, index = r.content, int(r.headers["X-Inkwitness-Log-Index"])
    v = client.post("/v1/documents/verify", headers=auth, files={"file": ("s.pdf", sealed, "application/pdf")})
    assert v.status_code == 200 and v.json()["ok"], v.json()
    bundle = client.get(f"/v1/evidence/{index}", headers=auth)
    assert bundle.status_code == 200
    key = client.get("/v1/log/checkpoint", headers=auth).json()["verifier_key"]
    assert verify_bundle(bundle.content, [pki.ca_cert], key).ok
    # Another packet: this one is now sealed, so any other document is refused as reuse (409).
    fresh = synthetic_signature(10)
    bad = client.post("/v1/documents/sign", headers=auth, files={"file": ("d.pdf", b"not a pdf", "application/pdf")},
                      data={"signature": fresh.canonical_bytes().decode(), "page": "1", "box": "1,1,2,2"})
    assert bad.status_code == 422 and "PDF" in bad.json()["error"]
    assert client.get("/v1/evidence/999999", headers=auth).status_code == 404


@pytest.mark.data
def test_report_numbers_equal_the_api(sealing_app, data_root, tmp_path):
    from inkwitness.formats import read_signature

    client, auth, _ = sealing_app
    sid = client.post("/v1/subjects", json={}, headers=auth).json()["id"]
    refs = [read_signature(data_root / f"svc2004/Task2/U3S{i}.TXT").to_dict() for i in range(1, 6)]
    assert client.post(f"/v1/subjects/{sid}/enrolments", json={"references": refs}, headers=auth).status_code == 201
    q = read_signature(data_root / "svc2004/Task2/U3S25.TXT").to_dict()
    numbers = client.post(f"/v1/subjects/{sid}/reports", json={"signature": q, "format": "json"}, headers=auth).json()
    pdf = client.post(f"/v1/subjects/{sid}/reports", json={"signature": q, "case_id": "K-1"}, headers=auth)
    assert pdf.headers["content-type"] == "application/pdf", pdf.text[:300]
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    (tmp_path / "r.pdf").write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "r.pdf"), "-"], capture_output=True,
                          text=True).stdout
    assert f"{numbers['lr']:.3g}" in text and f"{numbers['score']:+.3f}" in text and numbers["log10_lr"] < 0


@pytest.mark.parametrize("box", ["-1e308,-1e308,1e308,1e308", "0,0,1e308,50", "10,10,10,10"])
def test_absurd_signature_boxes_are_a_422(sealing_app, box):
    client, auth, _ = sealing_app
    r = client.post("/v1/documents/sign", headers=auth, files={"file": ("doc.pdf", blank_pdf(), "application/pdf")},
                    data={"signature": json.dumps(synthetic_signature(9).to_dict()), "page": "1", "box": box})
    assert r.status_code == 422 and "box" in r.json()["error"]
