"""Finger-press through the service: enrolment with separate consent and quality refusal, and the press at
signing compared, sealed as the red mark and escrowed -- on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inkwitness.datasets import DATA_ENV, default_data_root
from inkwitness.evidence.envelope import Container, open_fingerprint
from inkwitness.fingerprint import png_bytes, read_fingerprint

from .conftest import synthetic_signature
from .service_fixtures import postgres_server, postgres_url  # noqa: F401
from .test_pdf_evidence import blank_pdf
from .test_service_evidence import REFS, Sealing, _enrolled, sealing, tsa_pki  # noqa: F401

CONSENT = {"agreed": True, "notice": "finger-press notice v1 (zh)", "lang": "zh"}


@pytest.fixture(scope="module")
def fvc() -> Path:
    folder = default_data_root() / "fvc2002_db1b"
    if not folder.is_dir():
        pytest.skip(f"fvc2002_db1b not found under {default_data_root()} (set {DATA_ENV})")
    return folder


def _png(fvc: Path, name: str) -> dict:
    """An FVC impression as a capture agent posts it: a PNG carrying its 500 ppi."""
    return {"format": "png", "data": base64.b64encode(png_bytes(read_fingerprint(fvc / f"{name}.tif", ppi=500,
                                                                                  finger=2))).decode()}


def _blank() -> dict:
    buf = io.BytesIO()
    Image.fromarray(np.full((374, 388), 250, dtype=np.uint8)).save(buf, "PNG", dpi=(500, 500))
    return {"format": "png", "data": base64.b64encode(buf.getvalue()).decode()}


def _enrol_finger(svc: Sealing, sid: str, impressions: list[dict], **extra):  # noqa: ANN202
    body = {"finger": 2, "impressions": impressions, "fingerprint_consent": CONSENT, **extra}
    return svc.client.post(f"/v1/subjects/{sid}/fingers", json=body, headers=extra.pop("_h", svc.operator))


def test_finger_enrolment_needs_separate_consent_and_refuses_poor_or_mixed_impressions(sealing, fvc):
    svc = sealing
    sid = svc.client.post("/v1/subjects", json={}, headers=svc.operator).json()["id"]
    good = [_png(fvc, f"101_{i}") for i in (1, 2, 3)]
    no_consent = svc.client.post(f"/v1/subjects/{sid}/fingers", json={"finger": 2, "impressions": good},
                                 headers=svc.operator)
    assert no_consent.status_code == 422 and "fingerprint_consent" in json.dumps(no_consent.json())
    refused = svc.client.post(f"/v1/subjects/{sid}/fingers", headers=svc.operator, json={
        "finger": 2, "impressions": good, "fingerprint_consent": {**CONSENT, "agreed": False}})
    assert refused.status_code == 422
    poor = _enrol_finger(svc, sid, [good[0], _blank(), good[2]])
    assert poor.status_code == 422, poor.text
    assert poor.json()["type"] == "LowQualityCapture" and poor.json()["error"].startswith("impression 2:")
    assert "NFIQ 2" in poor.json()["error"] or "minutiae" in poor.json()["error"]
    mixed = _enrol_finger(svc, sid, [good[0], good[1], _png(fvc, "102_1")])
    assert mixed.status_code == 422 and "impression 3 matches none" in mixed.json()["error"], mixed.text
    assert _enrol_finger(svc, sid, good[:2] + [{"format": "wsq", "data": good[2]["data"]}]).status_code == 422
    capture_key = _enrol_finger(svc, sid, good, _h=svc.capture)
    assert capture_key.status_code == 403
    ok = _enrol_finger(svc, sid, good)
    assert ok.status_code == 201, ok.text
    assert ok.json()["impressions"] == 3 and all(q["minutiae"] >= 12 for q in ok.json()["quality"])
    assert _enrol_finger(svc, sid, good).status_code == 409
    assert _enrol_finger(svc, sid, good, replace=True).status_code == 201
    # Only hashes and the consent's digest reach the log; the templates are stored encrypted.
    event = svc.client.app.state.ops.evidence.log.find(type="enrolment", modality="finger")[-1][1]
    assert event["consent_sha256"] and len(event["captures"]) == 3 and "minutiae" not in json.dumps(event)


def test_finger_press_at_signing_is_compared_sealed_and_escrowed(sealing, fvc):
    svc = sealing
    sid = _enrolled(svc)
    assert _enrol_finger(svc, sid, [_png(fvc, f"101_{i}") for i in (1, 2, 3)]).status_code == 201

    def sign(doc: str, seed: int, press: dict | None, consent: dict | None = CONSENT, **fields: str):  # noqa: ANN202
        data = {"signature": json.dumps(synthetic_signature(seed).to_dict()), "page": "1",
                "box": "100,100,300,180", "subject_id": sid, **fields}
        if press is not None:
            data["finger"] = json.dumps({**press, "finger": 2})
        if consent is not None:
            data["fingerprint_consent"] = json.dumps(consent)
        return svc.client.post("/v1/documents/sign", headers=svc.operator, data=data,
                               files={"file": ("d.pdf", blank_pdf(doc), "application/pdf")})

    assert sign("No consent.", 7, _png(fvc, "101_4"), None).status_code == 422
    other = sign("Other finger.", 7, _png(fvc, "102_2"))
    assert other.status_code == 422 and other.json()["type"] == "FingerprintRefused", other.text
    poor = sign("Poor press.", 7, _blank())
    assert poor.status_code == 422 and poor.json()["type"] == "LowQualityCapture"
    r = sign("Pressed.", 7, _png(fvc, "101_4"))
    assert r.status_code == 200, r.text
    assert r.headers["X-Inkwitness-Fingerprint"] == "match" and r.headers["X-Inkwitness-Handwriting"] == "genuine"
    ops = svc.client.app.state.ops
    index = int(r.headers["X-Inkwitness-Log-Index"])
    event = json.loads(ops.evidence.log.entry(index)[0])
    assert event["fingerprint"]["decision"] == "match" and event["fingerprint_consent_sha256"]
    container = Container.from_bytes(ops.evidence.artifacts_for(index)["finger-container"])
    assert container.sha256 == event["fingerprint_container_sha256"]
    fp, template = open_fingerprint(container, svc.escrow, event["document_sha256"])
    assert fp.sha256 == event["fingerprint_sha256"] and template
    v = svc.client.post("/v1/documents/verify", headers=svc.operator,
                        files={"file": ("s.pdf", r.content, "application/pdf")}).json()
    assert v["ok"], v
    # The same press for another document is reuse; an enrolment impression sent as a press is a replay.
    reused = sign("Another deed.", 9, _png(fvc, "101_4"))
    assert reused.status_code == 409 and "finger-press" in reused.json()["error"], reused.text
    replayed = sign("Replayed.", 9, _png(fvc, "101_2"))
    assert replayed.status_code == 409 and replayed.json()["type"] == "ReplayRefused", replayed.text
    # Recorded instead of refused: another finger is sealed with its verdict.
    rec = sign("Recorded.", 8, _png(fvc, "102_2"), on_mismatch="record")
    assert rec.status_code == 200 and rec.headers["X-Inkwitness-Fingerprint"] == "no-match", rec.text
