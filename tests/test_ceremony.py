"""The signing ceremony's API: a clerk's request for a PDF, the signer's link, sealing, decline, typed name."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient

from inkwitness.evidence.envelope import generate_escrow_key, public_pem
from inkwitness.evidence.pki import create_pki
from inkwitness.evidence.tsa import TsaServer
from inkwitness.service.app import create_app
from inkwitness.service.settings import Settings

from .conftest import synthetic_signature
from .test_pdf_evidence import blank_pdf

REFS = [synthetic_signature(seed).to_dict() for seed in range(5)]


@pytest.fixture(scope="module")
def ceremony(tmp_path_factory):
    data = tmp_path_factory.mktemp("ceremony")
    pki = create_pki(data / "pki")
    (data / "escrow.pub.pem").write_bytes(public_pem(generate_escrow_key().public_key()))
    with TsaServer(pki.tsa_cert, pki.tsa_key) as tsa:
        app = create_app(Settings(data_dir=data, tsa_url=tsa.url, escrow_public_key=data / "escrow.pub.pem"))
        repo = app.state.ops.repo
        tenant = repo.ensure_tenant("t")
        key = repo.create_api_key(tenant, "clerk", ["operator"])
        other = repo.create_api_key(repo.ensure_tenant("u"), "other", ["operator"])
        with TestClient(app) as client:
            yield client, {"Authorization": f"Bearer {key}"}, {"Authorization": f"Bearer {other}"}, data


def _request(client, auth, enrolled: bool = True, **form) -> dict:
    sid = client.post("/v1/subjects", json={"display_name": "Li Wei"}, headers=auth).json()["id"]
    if enrolled:
        assert client.post(f"/v1/subjects/{sid}/enrolments", json={"references": REFS}, headers=auth).status_code == 201
    fields = {"subject_id": sid, "requester": "Bank of Example, branch 12", "reason": "Account opening",
              "signer_name": "Li Wei", **form}
    r = client.post("/v1/documents/requests", headers=auth, data=fields,
                    files={"file": ("contract.pdf", blank_pdf(), "application/pdf")})
    assert r.status_code == 201, r.text
    return r.json()


def _token(req: dict) -> str:
    return req["url"].rsplit("/", 1)[1]


def _bound(client, token: str, seed: int) -> dict:
    """A packet carrying the request's capture binding where capture.js puts it (capture.extra.binding)."""
    binding = client.get(f"/v1/capture/{token}/request").json()["binding"]
    assert binding and binding["nonce"].startswith("iwn1."), binding
    sig = synthetic_signature(seed).to_dict()
    sig.setdefault("capture", {}).setdefault("extra", {})["binding"] = binding
    return sig


def test_request_link_shows_who_why_document_and_consent(ceremony):
    client, auth, _, _ = ceremony
    req = _request(client, auth)
    assert req["qr_svg"].startswith("<?xml") or "<svg" in req["qr_svg"]
    assert req["page"] == 1 and req["box"][2] > req["box"][0]
    page = client.get(f"/s/{_token(req)}")
    assert page.status_code == 200 and 'src="/static/sign.js"' in page.text
    assert "user-scalable=no" not in page.text and "<script>" not in page.text
    info = client.get(f"/v1/capture/{_token(req)}/request").json()
    doc = info["document"]
    assert doc["requester"] == "Bank of Example, branch 12" and doc["reason"] == "Account opening"
    assert doc["document_name"] == "contract.pdf" and len(doc["pages"]) == 1
    assert set(info["consent"]) == {"en", "zh"} and "escrow" in info["consent"]["en"]
    assert "subject_id" not in json.dumps(info) and "tenant" not in json.dumps(info)
    png = client.get(f"/v1/capture/{_token(req)}/pages/1.png?w=400")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    status = client.get(f"/v1/documents/requests/{req['id']}", headers=auth).json()
    assert status["state"] == "viewed"


def test_signing_seals_the_document_and_the_signer_sees_no_score(ceremony):
    client, auth, other, data = ceremony
    req = _request(client, auth)
    token = _token(req)
    sig = _bound(client, token, 9)
    r = client.post(f"/v1/capture/{token}/sign", json={"signature": sig, "consent": {"accepted": True, "lang": "zh"}})
    assert r.status_code == 201, r.text
    assert r.json() == {"state": "signed", "copy": f"/v1/capture/{token}/copy.pdf"}
    copy = client.get(f"/v1/capture/{token}/copy.pdf")
    assert copy.status_code == 200 and copy.content.startswith(b"%PDF")
    again = client.post(f"/v1/capture/{token}/sign", json={"signature": sig, "consent": {"accepted": True}})
    assert again.status_code == 410
    info = client.get(f"/v1/capture/{token}/request").json()
    assert info["signed_at"] and info["copy"] is True and "score" not in json.dumps(info)
    clerk = client.get(f"/v1/documents/requests/{req['id']}", headers=auth).json()
    assert clerk["state"] == "signed" and clerk["outcome"]["verification"]["decision"] in ("genuine", "forgery", "replay")
    assert clerk["outcome"]["consent"]["lang"] == "zh"
    sealed = client.get(f"/v1/documents/requests/{req['id']}/sealed.pdf", headers=auth)
    assert sealed.content == copy.content
    assert client.get(f"/v1/documents/requests/{req['id']}/evidence.zip", headers=auth).content[:2] == b"PK"
    report = client.get(f"/v1/documents/requests/{req['id']}/report.pdf?lang=zh", headers=auth)
    assert report.status_code == 200 and report.content.startswith(b"%PDF")
    assert client.get(f"/v1/documents/requests/{req['id']}", headers=other).status_code == 404
    # The document and the sealed copy are stored encrypted.
    stored = b"".join(p.read_bytes() for p in (data / "ceremony").rglob("*.bin"))
    assert b"%PDF" not in stored


def test_consent_is_required_and_a_bad_signature_keeps_the_link_open(ceremony):
    client, auth, _, _ = ceremony
    token = _token(_request(client, auth))
    sig = _bound(client, token, 3)
    assert client.post(f"/v1/capture/{token}/sign", json={"signature": sig}).status_code == 422
    assert client.post(f"/v1/capture/{token}/sign",
                       json={"signature": sig, "consent": {"accepted": False}}).status_code == 422
    bad = {**sig, "strokes": []}
    assert client.post(f"/v1/capture/{token}/sign", json={"signature": bad, "consent": {"accepted": True}}).status_code == 422
    ok = client.post(f"/v1/capture/{token}/sign", json={"signature": sig, "consent": {"accepted": True}})
    assert ok.status_code == 201, ok.text


def test_unenrolled_signer_decline_and_typed_name(ceremony):
    client, auth, _, _ = ceremony
    req = _request(client, auth, enrolled=False, page="1", box="300,80,500,140")
    assert req["box"] == [300, 80, 500, 140]
    r = client.post(f"/v1/capture/{_token(req)}/sign",
                    json={"signature": _bound(client, _token(req), 4), "consent": {"accepted": True}})
    assert r.status_code == 201
    clerk = client.get(f"/v1/documents/requests/{req['id']}", headers=auth).json()
    assert clerk["outcome"]["verification"] == {"decision": "not-enrolled"}

    declined = _request(client, auth)
    r = client.post(f"/v1/capture/{_token(declined)}/decline", json={"reason": "wrong amount"})
    assert r.status_code == 201
    clerk = client.get(f"/v1/documents/requests/{declined['id']}", headers=auth).json()
    assert clerk["state"] == "declined" and clerk["outcome"]["declined_reason"] == "wrong amount"
    again = client.get(f"/v1/capture/{_token(declined)}/request")
    assert again.status_code == 200 and again.json()["document"]["state"] == "declined"
    assert client.get(f"/v1/capture/{_token(declined)}/pages/1.png").status_code == 410

    typed = _request(client, auth)
    r = client.post(f"/v1/capture/{_token(typed)}/typed", json={"name": "李伟", "lang": "zh"})
    assert r.status_code == 201
    clerk = client.get(f"/v1/documents/requests/{typed['id']}", headers=auth).json()
    assert clerk["state"] == "typed" and clerk["outcome"]["evidential_value"].startswith("reduced")


def test_live_status_is_a_server_sent_event_stream(ceremony):
    client, auth, _, _ = ceremony
    req = _request(client, auth)
    client.post(f"/v1/capture/{_token(req)}/decline", json={})
    with client.stream("GET", f"/v1/documents/requests/{req['id']}/events", headers=auth) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    assert body.startswith("event: status\ndata: ") and '"state": "declined"' in body


def test_requests_need_an_operator_key_and_a_pdf(ceremony):
    client, auth, _, _ = ceremony
    assert client.get("/v1/documents/requests").status_code == 401
    sid = client.post("/v1/subjects", json={}, headers=auth).json()["id"]
    r = client.post("/v1/documents/requests", headers=auth, data={"subject_id": sid, "requester": "x", "reason": "y"},
                    files={"file": ("a.pdf", b"not a pdf", "application/pdf")})
    assert r.status_code == 422 and "PDF" in r.json()["error"]
    listed = client.get("/v1/documents/requests", headers=auth).json()["requests"]
    assert listed and all("tenant_id" in r for r in listed)


def test_preview_shows_pages_to_choose_the_field(ceremony):
    client, auth, _, _ = ceremony
    r = client.post("/v1/documents/preview", headers=auth, files={"file": ("a.pdf", blank_pdf(), "application/pdf")})
    assert r.status_code == 201 or r.status_code == 200, r.text
    body = r.json()
    assert len(body["pages"]) == 1 and body["images"][0].startswith("data:image/png;base64,")
    assert body["default_box"][2] == pytest.approx(body["pages"][0][0] - 36)
    assert client.post("/v1/documents/preview", files={"file": ("a.pdf", blank_pdf(), "application/pdf")}).status_code == 401


def test_a_failed_sealing_leaves_the_link_open_and_the_retry_is_no_replay(ceremony, monkeypatch):
    from inkwitness.errors import StorageError

    client, auth, _, _ = ceremony
    req = _request(client, auth)
    ops = client.app.state.ops
    real, calls = ops.sign_document, []

    def once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise StorageError("time-stamping authority unreachable")
        return real(*args, **kwargs)

    monkeypatch.setattr(ops, "sign_document", once)
    body = {"signature": _bound(client, _token(req), 12), "consent": {"accepted": True}}
    assert client.post(f"/v1/capture/{_token(req)}/sign", json=body).status_code == 503
    assert client.post(f"/v1/capture/{_token(req)}/sign", json=body).status_code == 201
    clerk = client.get(f"/v1/documents/requests/{req['id']}", headers=auth).json()
    assert clerk["outcome"]["verification"]["decision"] in ("genuine", "forgery")


def test_an_expired_link_shows_no_pages(ceremony):
    client, auth, _, _ = ceremony
    req = _request(client, auth)
    store = client.app.state.ceremony_store
    stored = store.get(req["id"])
    stored.expires_at = "2020-01-01T00:00:00+00:00"
    store.save(stored)
    assert client.get(f"/v1/capture/{_token(req)}/pages/1.png").status_code == 410


def test_what_the_signer_agreed_to_is_in_the_log(ceremony):
    from inkwitness.service.ceremony.consent import CONSENT_VERSION, consent_sha256

    client, auth, _, _ = ceremony
    log = client.app.state.ops.evidence.log
    req = _request(client, auth)
    body = {"signature": _bound(client, _token(req), 21), "consent": {"accepted": True, "lang": "zh"}}
    assert client.post(f"/v1/capture/{_token(req)}/sign", json=body).status_code == 201
    outcome = client.get(f"/v1/documents/requests/{req['id']}", headers=auth).json()["outcome"]
    entry = json.loads(log.entry(outcome["agreement_log_index"])[0])
    assert entry["type"] == "agreement" and "purpose" not in entry
    assert entry["kind"] == "handwritten" and entry["request"] == req["id"]
    assert entry["consent"] == outcome["consent"] and entry["signing_log_index"] == outcome["log_index"]
    assert entry["consent"]["version"] == CONSENT_VERSION and entry["consent"]["text_sha256"] == consent_sha256("zh")
    assert entry["signed_document_sha256"] == outcome["sealed_sha256"] and entry["consent"]["time"]
    signing = json.loads(log.entry(outcome["log_index"])[0])
    assert signing["signature_sha256"] == entry["signature_sha256"] == outcome["signature_sha256"]

    typed = _request(client, auth)
    assert client.post(f"/v1/capture/{_token(typed)}/typed", json={"name": " 李伟 ", "lang": "en"}).status_code == 201
    outcome = client.get(f"/v1/documents/requests/{typed['id']}", headers=auth).json()["outcome"]
    entry = json.loads(log.entry(outcome["agreement_log_index"])[0])
    assert entry["kind"] == "typed-name" and entry["notice"]["lang"] == "en"
    assert entry["notice"]["version"] == CONSENT_VERSION and entry["document_sha256"] == typed["document_sha256"]
    assert log.verify().ok


def test_ended_requests_are_purged_after_the_retention_but_the_evidence_stays(ceremony, monkeypatch):
    client, auth, _, data = ceremony
    req = _request(client, auth)
    body = {"signature": _bound(client, _token(req), 23), "consent": {"accepted": True}}
    assert client.post(f"/v1/capture/{_token(req)}/sign", json=body).status_code == 201
    ops, store = client.app.state.ops, client.app.state.ceremony_store
    index = client.get(f"/v1/documents/requests/{req['id']}", headers=auth).json()["outcome"]["log_index"]
    stored = store.get(req["id"])
    stored.events[-1]["time"] = "2020-01-01T00:00:00+00:00"
    store.save(stored)
    monkeypatch.setattr(ops.settings, "request_retention_days", 30)
    monkeypatch.setattr(store, "_purged", float("-inf"))
    listed = client.get("/v1/documents/requests", headers=auth).json()["requests"]
    assert req["id"] not in [r["id"] for r in listed]
    assert not (data / "ceremony" / "requests" / req["id"]).exists()
    assert client.get(f"/v1/documents/requests/{req['id']}", headers=auth).status_code == 404
    assert client.get(f"/v1/capture/{_token(req)}/copy.pdf").status_code in (404, 410)
    assert json.loads(ops.evidence.log.entry(index)[0])["type"] == "signing"
    assert ops.bundle(stored.tenant_id, index)[:2] == b"PK"


def test_a_bad_retention_setting_does_not_refuse_the_clerks_listing(ceremony, monkeypatch):
    from inkwitness.service.settings import REQUEST_RETENTION_ENV

    client, auth, _, _ = ceremony
    _request(client, auth)
    monkeypatch.setattr(client.app.state.ops.settings, "request_retention_days", None)
    monkeypatch.setattr(client.app.state.ceremony_store, "_purged", float("-inf"))
    monkeypatch.setenv(REQUEST_RETENTION_ENV, "soon")  # a server fault, not the clerk's: listed, not purged
    r = client.get("/v1/documents/requests", headers=auth)
    assert r.status_code == 200 and r.json()["requests"], r.text


# --- names in the log, agreements' event type -------------------------------------------------------
def test_names_go_into_the_log_only_as_keyed_hashes_the_purge_makes_unlinkable(ceremony, monkeypatch):
    from inkwitness.service.ceremony.agreement import agreements_of, name_hmac, request_salt

    client, auth, _, data = ceremony
    log, store = client.app.state.ops.evidence.log, client.app.state.ceremony_store
    typed = _request(client, auth, signer_name="王小明")
    assert client.post(f"/v1/capture/{_token(typed)}/typed", json={"name": " 李伟 ", "lang": "zh"}).status_code == 201
    outcome = client.get(f"/v1/documents/requests/{typed['id']}", headers=auth).json()["outcome"]
    assert outcome["typed_name"] == "李伟"  # the clerk reads it while the request is kept
    index, entry = agreements_of(log, typed["id"])[-1]
    assert index == outcome["agreement_log_index"] and entry["type"] == "agreement"
    raw = log.entry(index)[0].decode()
    assert "李伟" not in raw and "王小明" not in raw and "typed_name\"" not in raw
    salt = request_salt(store, store.get(typed["id"]))
    assert len(salt) == 32 and salt not in b"".join(p.read_bytes() for p in (data / "ceremony").rglob("*.bin"))
    assert entry["typed_name_hmac"] == name_hmac(salt, "李伟") and entry["signer_name_hmac"] == name_hmac(salt, "王小明")
    # Another request's salt gives another hash: the same name is not linkable across requests.
    other = _request(client, auth, signer_name="王小明")
    assert client.post(f"/v1/capture/{_token(other)}/typed", json={"name": "李伟"}).status_code == 201
    assert agreements_of(log, other["id"])[-1][1]["typed_name_hmac"] != entry["typed_name_hmac"]
    # Purged with the request: the salt goes, the log entry stays.
    stored = store.get(typed["id"])
    stored.events[-1]["time"] = "2020-01-01T00:00:00+00:00"
    store.save(stored)
    from inkwitness.service.ceremony.store import purge_requests

    assert typed["id"] in purge_requests(data / "ceremony", dt.timedelta(days=30))
    assert not (data / "ceremony" / "requests" / typed["id"]).exists()
    assert agreements_of(log, typed["id"])[-1][0] == index and log.verify().ok


def test_older_agreement_entries_are_still_read():
    from inkwitness.service.ceremony.agreement import is_agreement

    assert is_agreement({"type": "capture", "purpose": "agreement", "request": "r"})
    assert is_agreement({"type": "agreement", "request": "r"})
    assert not is_agreement({"type": "capture", "purpose": "verify"}) and not is_agreement({"type": "signing"})


# --- a failure after the sealing never seals twice --------------------------------------------------
def test_a_failure_after_the_sealing_is_recorded_and_never_seals_twice(ceremony, monkeypatch):
    from inkwitness.errors import StorageError
    from inkwitness.service.ceremony import routes

    client, auth, _, _ = ceremony
    log = client.app.state.ops.evidence.log
    req = _request(client, auth)
    token = _token(req)

    def broken(*args, **kwargs):
        raise StorageError("log database unreachable")

    monkeypatch.setattr(routes, "log_agreement", broken)
    body = {"signature": _bound(client, token, 41), "consent": {"accepted": True}}
    r = client.post(f"/v1/capture/{token}/sign", json=body)
    assert r.status_code == 201 and r.json()["state"] == "signed", r.text
    clerk = client.get(f"/v1/documents/requests/{req['id']}", headers=auth).json()
    assert clerk["state"] == "signed" and clerk["outcome"]["log_index"] is not None
    assert clerk["outcome"]["agreement_log_index"] is None
    assert clerk["outcome"]["errors"] == ["logging the agreement failed: StorageError"]
    assert client.get(f"/v1/capture/{token}/copy.pdf").status_code == 200
    # The link is spent: no second sealing, no second log entry.
    monkeypatch.undo()
    again = client.post(f"/v1/capture/{token}/sign", json=body)
    assert again.status_code == 410
    sealed = [i for i, e in log.find(type="signing") if e.get("agreement", {}).get("request") == req["id"]]
    assert len(sealed) == 1


def test_a_lost_copy_is_said_and_the_sealing_stands(ceremony, monkeypatch):
    client, auth, _, _ = ceremony
    req = _request(client, auth)
    token = _token(req)
    store = client.app.state.ceremony_store
    real = store.put_blob

    def no_copy(r, name, data):
        if name == "sealed":
            raise OSError(28, "No space left on device")
        return real(r, name, data)

    monkeypatch.setattr(store, "put_blob", no_copy)
    r = client.post(f"/v1/capture/{token}/sign", json={"signature": _bound(client, token, 43),
                                                       "consent": {"accepted": True}})
    assert r.status_code == 201 and r.json() == {"state": "signed", "copy": None}, r.text
    outcome = client.get(f"/v1/documents/requests/{req['id']}", headers=auth).json()["outcome"]
    assert outcome["errors"] == ["keeping the signer's copy failed: OSError"] and outcome["agreement_log_index"]
    info = client.get(f"/v1/capture/{token}/request").json()
    assert info["signed_at"] and info["copy"] is False


def test_a_typed_name_not_logged_leaves_the_link_usable(ceremony, monkeypatch):
    from inkwitness.errors import StorageError
    from inkwitness.service.ceremony import routes

    client, auth, _, _ = ceremony
    req = _request(client, auth)
    real = routes.log_agreement

    def once(*args, **kwargs):
        monkeypatch.setattr(routes, "log_agreement", real)
        raise StorageError("log database unreachable")

    monkeypatch.setattr(routes, "log_agreement", once)
    assert client.post(f"/v1/capture/{_token(req)}/typed", json={"name": "Li Wei"}).status_code == 503
    assert client.get(f"/v1/documents/requests/{req['id']}", headers=auth).json()["state"] == "open"
    assert client.post(f"/v1/capture/{_token(req)}/typed", json={"name": "Li Wei"}).status_code == 201


# --- invisible format characters ----------------------------------------------------------------
BIDI = ["\u202e", "\u202a", "\u2066", "\u2069", "\u200b", "\u200d", "\ufeff", "\u200f"]


@pytest.mark.parametrize("char", BIDI)
def test_bidi_and_zero_width_characters_are_refused(ceremony, char):
    client, auth, _, _ = ceremony
    sid = client.post("/v1/subjects", json={"display_name": "Li Wei"}, headers=auth).json()["id"]
    for field in ("requester", "reason", "signer_name"):
        fields = {"subject_id": sid, "requester": "Bank", "reason": "Loan", field: f"Bank {char}gpj.exe"}
        r = client.post("/v1/documents/requests", headers=auth, data=fields,
                        files={"file": ("contract.pdf", blank_pdf(), "application/pdf")})
        assert r.status_code == 422 and r.json()["code"] == "invalid_request", (field, r.text)
    link = client.post("/v1/signing-sessions", json={"subject_id": sid, "requester": f"Bank{char}"}, headers=auth)
    assert link.status_code == 422, link.text
    token = _token(_request(client, auth))
    assert client.post(f"/v1/capture/{token}/typed", json={"name": f"Li{char}Wei"}).status_code == 422
    assert client.post(f"/v1/capture/{token}/decline", json={"reason": f"no{char}"}).status_code == 422
    # Plain Chinese, line breaks in the reason and ordinary punctuation are fine.
    assert client.post(f"/v1/capture/{token}/typed", json={"name": "李伟 (Li Wei)"}).status_code == 201


def test_format_characters_stored_before_are_stripped_from_the_seal_reason():
    from inkwitness.service.ceremony.agreement import seal_reason
    from inkwitness.service.ceremony.store import SigningRequest

    req = SigningRequest(id="r", tenant_id="t", subject_id="s", document_name="a.pdf", document_sha256="0" * 64,
                         pages=[(595.0, 842.0)], page=1, box=(1.0, 2.0, 3.0, 4.0), requester="Bank\u202eknaB",
                         reason="Loan\u200b", signer_name="Li\u2066 Wei", expires_at="2030-01-01T00:00:00+00:00")
    accepted = {"version": "v", "lang": "en", "time": "2026-12-05T00:00:00+00:00"}
    reason = seal_reason(accepted, req)
    assert "requested by: BankknaB" in reason and "purpose: Loan;" not in reason and reason.endswith("purpose: Loan")
    assert "signer: Li Wei" in reason and not any(c in reason for c in "\u202e\u200b\u2066")
