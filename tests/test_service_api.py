"""The HTTP service against SQLite and a real PostgreSQL: flows, isolation, replay, bad input, sessions."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from sqlalchemy import func, select, update

from inkwitness.signature import make_signature
from inkwitness.store.models import SigningSession, StoredSignature, VerificationRecord

from .conftest import synthetic_signature
from .service_fixtures import Service, postgres_server, postgres_url, service  # noqa: F401

REFS = [synthetic_signature(seed).to_dict() for seed in range(5)]


def _subject(svc: Service, headers=None) -> str:
    r = svc.client.post("/v1/subjects", json={"external_ref": None}, headers=headers or svc.operator)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _enrolled(svc: Service) -> str:
    sid = _subject(svc)
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": REFS}, headers=svc.operator)
    assert r.status_code == 201, r.text
    return sid


def _counts(svc: Service) -> tuple[int, int]:
    with svc.client.app.state.ops.repo.sessions() as s:
        return (s.scalar(select(func.count()).select_from(StoredSignature)),
                s.scalar(select(func.count()).select_from(VerificationRecord)))


def test_keys_are_required_and_scoped(service):
    svc = service
    assert svc.client.post("/v1/subjects", json={}).status_code == 401
    assert svc.client.post("/v1/subjects", json={}, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert svc.client.post("/v1/subjects", json={}, headers=svc.capture).status_code == 403
    r = svc.client.post("/v1/api-keys", json={"name": "x", "scopes": ["capture"]}, headers=svc.operator)
    assert r.status_code == 403
    r = svc.client.post("/v1/api-keys", json={"name": "x", "scopes": ["capture"]}, headers=svc.admin)
    assert r.status_code == 201 and r.json()["key"].startswith("iwk_")


def test_enrol_verify_and_history(service):
    svc = service
    sid = _enrolled(svc)
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": synthetic_signature(11).to_dict()},
                        headers=svc.operator)
    assert r.status_code == 201, r.text
    body = r.json()
    assert {"score", "decision", "components", "reasons", "threshold", "replay", "log_index"} <= set(body)
    assert body["decision"] in ("genuine", "forgery") and not body["replay"]
    hist = svc.client.get(f"/v1/subjects/{sid}/history", headers=svc.operator).json()
    assert len(hist["enrolments"]) == 1 and len(hist["verifications"]) == 1
    assert "x" not in json.dumps(hist)


def test_inconsistent_enrolment_is_refused_with_a_reason(service):
    svc = service
    sid = _subject(svc)
    odd = make_signature(x=np.linspace(0, 5000, 200), y=1000 * np.sin(np.linspace(0, 30, 200)),
                         t=np.arange(200) * 10.0, pressure=np.full(200, 0.5)).to_dict()
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": REFS[:4] + [odd]}, headers=svc.operator)
    assert r.status_code == 422 and "reference 5" in r.json()["error"]
    assert _counts(svc) == (0, 0)


def test_tenants_cannot_see_each_other(service):
    svc = service
    sid = _enrolled(svc)
    assert svc.client.get(f"/v1/subjects/{sid}", headers=svc.other).status_code == 404
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": REFS[0]}, headers=svc.other)
    assert r.status_code == 404
    assert svc.client.get(f"/v1/subjects/{sid}/history", headers=svc.other).status_code == 404


def test_identical_and_near_identical_replays_are_flagged(service):
    svc = service
    sid = _enrolled(svc)
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": REFS[2]}, headers=svc.operator)
    assert r.status_code == 201 and r.json()["replay"] and r.json()["decision"] == "replay"
    base = synthetic_signature(3)
    shifted = make_signature(x=base.x + 40, y=base.y - 25, t=base.t, pressure=base.pressure,
                             stroke_start=np.diff(base.stroke, prepend=0) > 0, channels=base.channels,
                             device=base.device)
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": shifted.to_dict()},
                        headers=svc.operator)
    assert r.json()["replay"] and "near-identical" in r.json()["reasons"][0]
    fresh = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": synthetic_signature(21).to_dict()},
                            headers=svc.operator)
    assert not fresh.json()["replay"]


@pytest.mark.parametrize("payload, status", [
    ({"signature": {"format": "inkwitness.signature/1", "strokes": [{"x": [1, 2], "y": [1]}]}}, 422),
    ({"signature": {"format": "inkwitness.signature/1", "strokes": [{"x": ["a"] * 20, "y": [1] * 20}]}}, 422),
    ({"signature": {"format": "wrong"}}, 422),
    ({"signature": "not an object"}, 422),
    ({"signature": {"format": "inkwitness.signature/1", "strokes": [{"x": [1e308] * 20, "y": [0] * 20,
                                                                     "t": list(range(20))}]}}, 422),
    ({}, 422),
])
def test_bad_packets_get_4xx_json_and_change_nothing(service, payload, status):
    svc = service
    sid = _enrolled(svc)
    before = _counts(svc)
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json=payload, headers=svc.operator)
    assert r.status_code == status and "error" in r.json()
    assert _counts(svc) == before


def test_malformed_json_oversized_body_and_unknown_ids(service):
    svc = service
    sid = _enrolled(svc)
    before = _counts(svc)
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", content=b"{not json",
                        headers={**svc.operator, "content-type": "application/json"})
    assert r.status_code == 422
    big = {"signature": {"format": "inkwitness.signature/1", "strokes": [{"x": [1.5] * 200_000, "y": [1] * 10}]}}
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json=big, headers=svc.operator)
    assert r.status_code == 413 and "larger than" in r.json()["error"]
    assert svc.client.get("/v1/subjects/00000000-0000-0000-0000-000000000000", headers=svc.operator).status_code == 404
    r = svc.client.post("/v1/subjects/unknown/verifications", json={"signature": REFS[0]}, headers=svc.operator)
    assert r.status_code == 404
    assert _counts(svc) == before


def test_biometric_data_is_encrypted_at_rest(service):
    svc = service
    _enrolled(svc)
    with svc.client.app.state.ops.repo.sessions() as s:
        rows = s.scalars(select(StoredSignature)).all()
    assert len(rows) == 5
    x = str(int(synthetic_signature(0).x[7])).encode()
    for row in rows:
        assert b'"strokes"' not in row.packet_encrypted and x not in row.packet_encrypted
    sig = svc.client.app.state.ops.repo.load_signature(rows[0])
    assert sig.sha256 == rows[0].sha256


def test_signing_session_is_single_use_and_expires(service):
    svc = service
    sid = _enrolled(svc)
    r = svc.client.post("/v1/signing-sessions", json={"subject_id": sid, "purpose": "verify"}, headers=svc.operator)
    assert r.status_code == 201
    session = r.json()
    assert session["url"].endswith(session["token"]) and session["qr_svg"].startswith("<?xml")
    info = svc.client.get(f"/v1/capture/{session['token']}")
    assert info.status_code == 200 and info.json()["purpose"] == "verify"
    assert svc.client.get(f"/s/{session['token']}").status_code == 200
    r = svc.client.post(f"/v1/capture/{session['token']}", json={"signatures": [synthetic_signature(30).to_dict()]})
    assert r.status_code == 201 and set(r.json()) == {"decision"}
    again = svc.client.post(f"/v1/capture/{session['token']}", json={"signatures": [synthetic_signature(31).to_dict()]})
    assert again.status_code == 410
    status = svc.client.get(f"/v1/signing-sessions/{session['id']}", headers=svc.operator).json()
    assert status["state"] == "used" and status["outcome"]["decision"] in ("genuine", "forgery")
    assert svc.client.get(f"/v1/signing-sessions/{session['id']}", headers=svc.other).status_code == 404
    r = svc.client.post("/v1/signing-sessions", json={"subject_id": sid, "purpose": "enrol", "replace": True},
                        headers=svc.operator)
    token = r.json()["token"]
    with svc.client.app.state.ops.repo.sessions.begin() as s:
        s.execute(update(SigningSession).values(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)))
    assert svc.client.post(f"/v1/capture/{token}", json={"signatures": REFS}).status_code == 410
    assert svc.client.get("/v1/capture/" + "x" * 32).status_code == 404


def test_cross_device_enrolment_through_a_session(service):
    svc = service
    sid = _subject(svc)
    token = svc.client.post("/v1/signing-sessions", json={"subject_id": sid, "purpose": "enrol"},
                            headers=svc.operator).json()["token"]
    r = svc.client.post(f"/v1/capture/{token}", json={"signatures": REFS})
    assert r.status_code == 201 and r.json() == {"enrolled": True, "references": 5}


def test_every_operation_is_logged_and_the_log_verifies(service):
    svc = service
    sid = _enrolled(svc)
    svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": synthetic_signature(40).to_dict()},
                    headers=svc.operator)
    log = svc.client.app.state.ops.evidence.log
    assert log.size() == 2 and log.verify().ok
    events = [json.loads(log.entry(i)[0]) for i in range(2)]
    assert [e["type"] for e in events] == ["enrolment", "verification"]
    cp = svc.client.get("/v1/log/checkpoint", headers=svc.operator).json()
    assert cp["checkpoint"].split("\n")[1] == "2"


def test_no_coordinates_reach_the_logs(service, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    svc = service
    sid = _enrolled(svc)
    sig = synthetic_signature(50)
    svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": sig.to_dict()}, headers=svc.operator)
    text = caplog.text
    assert '"strokes"' not in text
    assert all(repr(float(v)) not in text for v in sig.x[5:40:7])


def test_service_caches_stay_bounded(service, monkeypatch):
    from inkwitness.service import operations, storage

    monkeypatch.setattr(operations, "MATRIX_CACHE", 3)
    monkeypatch.setattr(storage, "FINGERPRINT_CACHE_SIZE", 4)
    svc = service
    sid = _enrolled(svc)
    ops = svc.client.app.state.ops
    # Without fingerprints every stored sample of similar duration goes through the full replay matrices.
    for seed in range(60, 70):
        with ops.repo.sessions.begin() as s:
            s.execute(update(StoredSignature).where(StoredSignature.subject_id == sid).values(replay_fingerprint=None))
        ops.repo._fingerprints.clear()
        svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": synthetic_signature(seed).to_dict()},
                        headers=svc.operator)
    assert len(ops._matrices) <= 3 and len(ops.repo._fingerprints) <= 4
    # Stored questioned samples went through the full replay check but never enter the
    # (larger) cache of prepared references.
    references = {r.id for r in ops.repo.active_enrolment(ops.repo.tenant_of_subject(sid), sid)[1]}
    assert set(ops._prepared) == references and set(ops.repo._packets) == references


def test_concurrent_identical_submissions_give_exactly_one_replay(service):
    import threading

    svc = service
    sid = _enrolled(svc)
    ops, repo = svc.client.app.state.ops, svc.client.app.state.ops.repo
    tenant = repo.tenant_of_subject(sid)
    packet = synthetic_signature(33)
    barrier = threading.Barrier(4)
    outcomes = []

    def submit():
        barrier.wait()
        outcomes.append(ops.verify(tenant, sid, make_signature(
            x=packet.x, y=packet.y, t=packet.t, pressure=packet.pressure,
            stroke_start=np.diff(packet.stroke, prepend=0) > 0, channels=packet.channels, device=packet.device)))

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(outcomes) == 4 and len({o["signature_sha256"] for o in outcomes}) == 1
    assert sum(not o["replay"] for o in outcomes) == 1
    assert all(o["decision"] == "replay" for o in outcomes if o["replay"])


def test_near_replay_of_a_sample_stored_without_fingerprint_is_still_caught(service):
    svc = service
    sid = _enrolled(svc)
    with svc.client.app.state.ops.repo.sessions.begin() as s:
        s.execute(update(StoredSignature).where(StoredSignature.subject_id == sid).values(replay_fingerprint=None))
    base = synthetic_signature(1)
    shifted = make_signature(x=base.x - 30, y=base.y + 15, t=base.t, pressure=base.pressure,
                             stroke_start=np.diff(base.stroke, prepend=0) > 0, channels=base.channels,
                             device=base.device)
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": shifted.to_dict()},
                        headers=svc.operator)
    assert r.status_code == 201 and r.json()["replay"] and "near-identical" in r.json()["reasons"][0]


def test_a_key_revoked_in_the_database_stops_working_at_once(service):
    from inkwitness.store.models import ApiKey

    svc = service
    assert svc.client.post("/v1/subjects", json={}, headers=svc.operator).status_code == 201
    with svc.client.app.state.ops.repo.sessions.begin() as s:
        s.execute(update(ApiKey).where(ApiKey.name == "clerk").values(revoked=True))
    r = svc.client.post("/v1/subjects", json={}, headers=svc.operator)
    assert r.status_code == 401 and "revoked" in r.json()["error"]
