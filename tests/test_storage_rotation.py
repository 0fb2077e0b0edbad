"""Storage-key rotation on SQLite and PostgreSQL: every encrypted row is re-sealed under the new key in
batches, an interrupted run resumes, the service keeps reading and writes under the newest key, and
/healthz names a key version rows need that the service does not hold."""

from __future__ import annotations

import base64
import sys

import pytest
from sqlalchemy import select

from inkwitness.service import custody
from inkwitness.service.custody import key_path, rotate
from inkwitness.service.storage import key_version
from inkwitness.store.models import FingerEnrolment, StoredSignature

from .conftest import synthetic_signature
from .service_fixtures import Service, postgres_server, postgres_url, service  # noqa: F401

REFS = [synthetic_signature(seed).to_dict() for seed in range(5)]


def _enrolled(svc: Service) -> str:
    sid = svc.client.post("/v1/subjects", json={}, headers=svc.operator).json()["id"]
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": REFS}, headers=svc.operator)
    assert r.status_code == 201, r.text
    return sid


def _verify(svc: Service, sid: str, seed: int) -> dict:
    body = {"signature": synthetic_signature(seed).to_dict()}
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json=body, headers=svc.operator)
    assert r.status_code == 201, r.text
    assert r.json()["decision"] in ("genuine", "forgery"), r.json()
    return r.json()


def _versions(svc: Service) -> list[str]:
    """Key versions of every encrypted row."""
    with svc.client.app.state.ops.repo.sessions() as s:
        return [*s.scalars(select(StoredSignature.key_version)), *s.scalars(select(FingerEnrolment.key_version))]


def _ring(svc: Service) -> list[str]:
    return [key_version(base64.b64decode(line)) for line in key_path(svc.settings).read_bytes().split()]


def _with_finger(svc: Service, sid: str) -> None:
    repo = svc.client.app.state.ops.repo
    repo.save_finger_enrolment(svc.tenant_a, sid, 1, [b"template-1", b"template-2"], {"agreed": True}, "test", False)


def _with_signing_request(svc: Service, sid: str):  # noqa: ANN202
    """A signing request's document on disk, sealed under today's key (files record no key version)."""
    from inkwitness.service.ceremony.store import RequestStore, SigningRequest

    req = SigningRequest(id="req-1", tenant_id=svc.tenant_a, subject_id=sid, document_name="a.pdf",
                         document_sha256="0" * 64, pages=[(595.0, 842.0)], page=0, box=(10, 10, 100, 40),
                         requester="clerk", reason="test", signer_name=None, expires_at="2099-01-01T00:00:00+00:00")
    RequestStore(svc.settings.data_dir / "ceremony", svc.client.app.state.ops.repo.vault).create(req, "tok", b"%PDF")
    return req


def _rotate(svc: Service, **kwargs):  # noqa: ANN202
    return rotate(svc.settings, svc.client.app.state.ops.repo.sessions, grace_seconds=0, **kwargs)


def test_rotation_re_encrypts_every_row_and_the_service_keeps_working(service, monkeypatch):
    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    svc = service
    sid = _enrolled(svc)
    _verify(svc, sid, 11)
    _with_finger(svc, sid)
    req = _with_signing_request(svc, sid)
    old = _ring(svc)
    assert len(old) == 1 and set(_versions(svc)) == set(old)

    report = _rotate(svc, batch_size=2)
    assert report.finished and report.signatures == 6 and report.finger_enrolments == 1
    assert report.ceremony_files == 1
    assert report.retired == old and report.versions_left == [report.version] == _ring(svc)
    assert set(_versions(svc)) == {report.version}
    assert key_path(svc.settings).stat().st_mode & 0o777 == 0o600
    from inkwitness.service.ceremony.store import RequestStore
    from inkwitness.service.storage import Vault

    newest = Vault(base64.b64decode(key_path(svc.settings).read_bytes().split()[0]))
    assert RequestStore(svc.settings.data_dir / "ceremony", newest).blob(req, "document") == b"%PDF"

    # The running service re-read the keyring: it opens the re-sealed rows and seals under the new key.
    repo = svc.client.app.state.ops.repo
    repo._packets.clear()
    repo._fingerprints.clear()
    _verify(svc, sid, 12)
    assert repo.finger_templates(svc.tenant_a, sid)[2] == [b"template-1", b"template-2"]
    assert set(_versions(svc)) == {report.version}
    assert svc.client.get("/healthz").status_code == 200
    # A second rotation starts afresh from the one key left.
    again = _rotate(svc)
    assert again.version != report.version and again.rows == 8 and again.versions_left == [again.version]


def test_an_interrupted_rotation_resumes_and_ends_consistent(service, monkeypatch):
    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    svc = service
    sids = [_enrolled(svc) for _ in range(2)]
    _with_finger(svc, sids[0])
    old = _ring(svc)

    # Stopped after 4 rows, as an interrupted run would be: both keys kept, every row readable.
    first = _rotate(svc, batch_size=2, max_rows=4)
    assert not first.finished and first.rows == 4 and first.retired == []
    assert _ring(svc) == [first.version, *old]
    assert sorted(set(_versions(svc))) == sorted({first.version, *old})
    _verify(svc, sids[1], 13)  # references under both keys
    assert svc.client.get("/healthz").status_code == 200

    # A failure inside a batch rolls that batch back whole (its signatures stay under the old key).
    def broken(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("simulated crash")

    before = _versions(svc).count(first.version)
    monkeypatch.setattr(custody, "_reseal_fingers", broken)
    with pytest.raises(RuntimeError):
        _rotate(svc, batch_size=100)
    assert _versions(svc).count(first.version) == before
    monkeypatch.undo()
    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)

    # Raising between batches (after a commit) leaves the committed batch in place.
    def stop(report):  # noqa: ANN001, ANN202
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _rotate(svc, batch_size=1, on_batch=stop)
    assert _versions(svc).count(first.version) == before + 1

    # Run again: the same new key (no third one), the rest re-sealed, the old key retired.
    last = _rotate(svc, batch_size=3)
    assert last.finished and last.version == first.version and last.retired == old
    assert set(_versions(svc)) == {last.version} and _ring(svc) == [last.version]
    assert first.rows + 1 + last.rows == len(_versions(svc)) - 1  # the verification above was sealed new
    _verify(svc, sids[0], 14)


def test_healthz_names_a_key_version_rows_need_that_the_service_lacks(service, monkeypatch, tmp_path):
    from inkwitness.service.app import create_app
    from inkwitness.service.settings import Settings
    from inkwitness.store import sqlite_url

    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    svc = service
    _enrolled(svc)
    # A second node on the same database with its own copy of today's keyring.
    other = tmp_path / "other"
    other.mkdir()
    (other / "storage.key").write_bytes(key_path(svc.settings).read_bytes())
    url = svc.settings.database_url or sqlite_url(svc.settings.data_dir)
    node = create_app(Settings(data_dir=other, database_url=url))
    from fastapi.testclient import TestClient

    with TestClient(node) as client:
        assert client.get("/healthz").status_code == 200
        report = _rotate(svc, max_rows=2)  # rotated on the first node only
        r = client.get("/healthz")
        assert r.status_code == 503 and report.version in r.json()["error"], r.text
        assert r.headers["Retry-After"]
    assert svc.client.get("/healthz").status_code == 200


def test_start_up_refuses_a_keyring_without_a_version_rows_need(service, monkeypatch):
    from inkwitness.errors import StorageError
    from inkwitness.service.app import create_app

    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    svc = service
    _enrolled(svc)
    path = key_path(svc.settings)
    original = path.read_bytes()
    _rotate(svc, max_rows=2)
    both = path.read_bytes()
    path.write_bytes(original)  # the old key alone: rows under the new key would be unreadable
    with pytest.raises(StorageError, match="not the one the database"):
        create_app(svc.settings)
    path.write_bytes(both)
    create_app(svc.settings)


def test_the_command_line_rotates_and_refuses_bad_input_in_one_line(tmp_path, monkeypatch, capsys):
    from inkwitness.cli import main
    from inkwitness.service.app import create_app
    from inkwitness.service.settings import Settings

    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    settings = Settings(data_dir=tmp_path / "data")
    ops = create_app(settings).state.ops
    tenant = ops.repo.ensure_tenant("t")
    ops.enrol(tenant, ops.repo.create_subject(tenant, None, None).id, [synthetic_signature(s) for s in range(5)])

    def cli(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["inkwitness", "keys", "rotate-storage", *args])
        try:
            main()
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    assert cli("--data-dir", str(settings.data_dir), "--grace-seconds", "0") == 0
    out = capsys.readouterr().out
    assert "re-encrypted 5 rows" in out and "key versions left: 1" in out
    for bad in (["--data-dir", str(tmp_path / "nope")], ["--data-dir", str(settings.data_dir), "--batch-size", "0"]):
        assert cli(*bad) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    monkeypatch.setenv("INKWITNESS_STORAGE_KEY", base64.b64encode(b"k" * 32).decode())
    assert cli("--data-dir", str(settings.data_dir)) == 2
    assert "INKWITNESS_STORAGE_KEY" in capsys.readouterr().err


def test_a_worker_that_cannot_switch_refuses_writes_and_no_row_ends_under_a_retired_key(service, monkeypatch):
    from inkwitness.service.ceremony.store import RequestStore
    from inkwitness.service.storage import Vault

    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    svc = service
    sid = _enrolled(svc)
    repo = svc.client.app.state.ops.repo
    old_key = base64.b64decode(key_path(svc.settings).read_bytes().split()[0])
    repo.vault._reload = None  # this worker never re-reads the keyring (file unreadable, key from the environment)
    monkeypatch.setattr(custody, "VERSION_CHECK_SECONDS", 3600.0)  # and trusts the version it last read...
    _verify(svc, sid, 20)
    req = _with_signing_request(svc, sid)
    waits = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:  # ...so, during the grace period, it still seals under the old key
            _verify(svc, sid, 21)
            RequestStore(svc.settings.data_dir / "ceremony", Vault(old_key)).put_blob(req, "late", b"late")
            monkeypatch.setattr(custody, "VERSION_CHECK_SECONDS", 0.0)  # until it reads the recorded version
        else:  # from then on its writes are refused instead
            r = svc.client.post(f"/v1/subjects/{sid}/verifications",
                                json={"signature": synthetic_signature(22).to_dict()}, headers=svc.operator)
            assert r.status_code == 503 and "rotation" in r.json()["error"], r.text

    report = rotate(svc.settings, repo.sessions, grace_seconds=0, sleep=sleep)
    assert report.finished and len(waits) == 2 and waits[0] >= custody.MIN_GRACE_SECONDS - 1
    assert report.retired == [key_version(old_key)] and _ring(svc) == [report.version]
    # The late row and file were re-sealed before the old key retired: nothing is under a retired version.
    assert set(_versions(svc)) == {report.version}
    newest = Vault(base64.b64decode(key_path(svc.settings).read_bytes().split()[0]))
    assert RequestStore(svc.settings.data_dir / "ceremony", newest).blob(req, "late") == b"late"
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": synthetic_signature(23).to_dict()},
                        headers=svc.operator)
    assert r.status_code == 503 and r.headers["Retry-After"], r.text
    assert set(_versions(svc)) == {report.version}


def test_the_keyring_keeps_its_mode_and_owner_and_a_reseal_never_revives_a_purged_request(service, monkeypatch):
    import os
    import shutil

    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    svc = service
    sid = _enrolled(svc)
    req = _with_signing_request(svc, sid)
    path = key_path(svc.settings)
    path.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(path, 1234, 1234)
    folder = svc.settings.data_dir / "ceremony" / "requests" / req.id
    original = custody._replace_synced

    def purged_meanwhile(blob, data):  # noqa: ANN001, ANN202
        shutil.rmtree(folder)  # a purge running while the rotation re-seals the request's document
        return original(blob, data)

    monkeypatch.setattr(custody, "_replace_synced", purged_meanwhile)
    report = _rotate(svc)
    assert report.finished and report.ceremony_files == 0 and not folder.exists()
    assert path.stat().st_mode & 0o777 == 0o640
    if os.geteuid() == 0:
        assert (path.stat().st_uid, path.stat().st_gid) == (1234, 1234)
    # A filed request's later documents never recreate its purged folder either.
    from inkwitness.service.ceremony.store import RequestStore
    from inkwitness.service.storage import NotFound

    req.events.append({"state": "viewed", "time": "2026-01-01T00:00:00+00:00"})
    with pytest.raises(NotFound):
        RequestStore(svc.settings.data_dir / "ceremony", svc.client.app.state.ops.repo.vault).put_blob(req, "sealed",
                                                                                                          b"x")
    assert not folder.exists()


def test_a_rotation_resumes_only_its_own_new_key(service, monkeypatch):
    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    svc = service
    _enrolled(svc)
    old = _ring(svc)
    said = []
    first = _rotate(svc, max_rows=2, announce=said.append)
    assert not first.finished and not first.resumed and said == []
    again = _rotate(svc, announce=said.append)  # the same rotation, carried on
    assert again.resumed and again.version == first.version and said == [f"resuming rotation to {first.version}"]
    assert again.finished and _ring(svc) == [first.version] and again.retired == old
    # A keyring that still holds an older key after a finished rotation (kept, or restored by hand):
    # the next rotation (a suspected leak) makes a new key, it does not reuse the newest one.
    path = key_path(svc.settings)
    kept = path.read_bytes().split()[0]
    path.write_bytes(kept + b"\n" + base64.b64encode(b"o" * 32) + b"\n")
    said.clear()
    fresh = _rotate(svc, announce=said.append)
    assert not fresh.resumed and said == [] and fresh.version not in (first.version, key_version(b"o" * 32))
    assert fresh.finished and _ring(svc) == [fresh.version] and set(_versions(svc)) == {fresh.version}


def test_verify_pdf_reverifies_against_references_sealed_under_an_older_key(tmp_path, monkeypatch):
    import json

    from inkwitness.evidence.context import EvidenceContext
    from inkwitness.service.settings import Settings

    from .test_cli_evidence import _enrolled_workspace, _seal, run

    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    data, subject = _enrolled_workspace(tmp_path, [synthetic_signature(s) for s in range(5)])
    report = rotate(Settings(data_dir=data), EvidenceContext.resolve(data).sessions, max_rows=2)
    assert not report.finished and len(key_path(Settings(data_dir=data)).read_bytes().split()) == 2
    (tmp_path / "sig.json").write_bytes(synthetic_signature(8).canonical_bytes())
    assert _seal(tmp_path, data, tmp_path / "sig.json", tmp_path / "s.pdf").returncode == 0
    out = run("verify-pdf", str(tmp_path / "s.pdf"), "--data-dir", str(data), "--subject", subject,
              "--escrow-key", str(tmp_path / "notary.key.pem"), "--json")
    rv = json.loads(out.stdout)[0]["biometric"]["reverification"]
    assert rv.get("decision") in ("genuine", "forgery"), rv
