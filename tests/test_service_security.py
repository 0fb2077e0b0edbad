"""Security properties of the service on SQLite and PostgreSQL: roles, least privilege, bounded work,
honest faults, key custody and lifecycle, headers and rate limits."""

from __future__ import annotations

from .conftest import synthetic_signature
from .service_fixtures import Service, postgres_server, postgres_url, service  # noqa: F401

REFS = [synthetic_signature(seed).to_dict() for seed in range(5)]


def _subject(svc: Service, headers=None) -> str:
    r = svc.client.post("/v1/subjects", json={}, headers=headers or svc.operator)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _enrolled(svc: Service) -> str:
    sid = _subject(svc)
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": REFS}, headers=svc.operator)
    assert r.status_code == 201, r.text
    return sid


# --- 1. roles: tenant isolation for administration ----------------------------------------------
def test_a_tenant_admin_cannot_create_tenants_or_learn_their_ids(service):
    svc = service
    for headers in (svc.admin, svc.other_admin, svc.operator):
        r = svc.client.post("/v1/tenants", json={"name": "bank-a"}, headers=headers)
        assert r.status_code == 403, r.text
        assert svc.tenant_a not in r.text
    r = svc.client.post("/v1/tenants", json={"name": "bank-a"}, headers=svc.platform)
    assert r.status_code == 409 and svc.tenant_a not in r.text
    r = svc.client.post("/v1/tenants", json={"name": "bank-c"}, headers=svc.platform)
    assert r.status_code == 201 and r.json()["id"] not in (svc.tenant_a, svc.tenant_b)
    from sqlalchemy import select

    from inkwitness.store.models import AuditEvent

    with svc.client.app.state.ops.repo.sessions() as s:
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "tenant.create")).all()
    assert [a.target for a in audit] == [r.json()["id"]] and audit[0].actor.startswith("key:")


def test_a_tenant_admin_cannot_mint_keys_for_another_tenant(service):
    svc = service
    sid = _enrolled(svc)
    r = svc.client.post("/v1/api-keys", json={"name": "x", "scopes": ["admin"], "tenant_id": svc.tenant_a},
                        headers=svc.other_admin)
    assert r.status_code == 403, r.text
    # Its own tenant, named or implied, is fine; the minted key still sees nothing of tenant A.
    for body in ({"name": "x", "scopes": ["operator"], "tenant_id": svc.tenant_b},
                 {"name": "x", "scopes": ["operator"]}):
        r = svc.client.post("/v1/api-keys", json=body, headers=svc.other_admin)
        assert r.status_code == 201 and r.json()["tenant_id"] == svc.tenant_b
        minted = {"Authorization": f"Bearer {r.json()['key']}"}
        assert svc.client.get(f"/v1/subjects/{sid}/history", headers=minted).status_code == 404


def test_the_platform_key_onboards_tenants_but_reads_no_tenant_data(service):
    svc = service
    sid = _enrolled(svc)
    tenant = svc.client.post("/v1/tenants", json={"name": "bank-d"}, headers=svc.platform).json()["id"]
    r = svc.client.post("/v1/api-keys", json={"name": "first admin", "scopes": ["admin"], "tenant_id": tenant},
                        headers=svc.platform)
    assert r.status_code == 201 and r.json()["tenant_id"] == tenant
    assert svc.client.post("/v1/api-keys", json={"name": "x", "scopes": ["admin"]},
                           headers=svc.platform).status_code == 403
    assert svc.client.post("/v1/api-keys", json={"name": "x", "scopes": ["admin"], "tenant_id": "nope"},
                           headers=svc.platform).status_code == 404
    assert svc.client.get(f"/v1/subjects/{sid}/history", headers=svc.platform).status_code == 403
    assert svc.client.post("/v1/subjects", json={}, headers=svc.platform).status_code == 403
    # Operators and capture keys mint nothing.
    for headers in (svc.operator, svc.capture):
        r = svc.client.post("/v1/api-keys", json={"name": "x", "scopes": ["capture"]}, headers=headers)
        assert r.status_code == 403


# --- 2. least privilege: enrolment, re-enrolment, what capture keys learn -----------------------
def test_a_capture_key_cannot_enrol_or_re_enrol(service):
    svc = service
    sid = _subject(svc)
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": REFS}, headers=svc.capture)
    assert r.status_code == 403
    sid = _enrolled(svc)
    impostor = [synthetic_signature(seed).to_dict() for seed in range(100, 105)]
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": impostor, "replace": True},
                        headers=svc.capture)
    assert r.status_code == 403
    assert len(svc.client.get(f"/v1/subjects/{sid}/history", headers=svc.operator).json()["enrolments"]) == 1


def test_re_enrolment_must_be_explicit_and_is_audited(service):
    svc = service
    sid = _enrolled(svc)
    newer = [synthetic_signature(seed).to_dict() for seed in range(200, 205)]
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": newer}, headers=svc.operator)
    assert r.status_code == 409 and "replace" in r.json()["error"]
    first = svc.client.get(f"/v1/subjects/{sid}/history", headers=svc.operator).json()["enrolments"][0]["id"]
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": newer, "replace": True},
                        headers=svc.operator)
    assert r.status_code == 201 and r.json()["replaced"] == first
    # The same writer's new references verify against the current template: no second approver needed
    # (another writer's wait for one: tests/test_service_reenrol.py).
    check = r.json()["check"]
    assert check["verified"] and 2 * check["accepted"] > check["of"] == 5 and check["rule"] == "majority"
    audit = svc.client.get(f"/v1/subjects/{sid}/history", headers=svc.operator).json()["audit"]
    assert [a["action"] for a in audit] == ["enrolment.create", "enrolment.replace"]
    assert audit[1]["check"]["accepted"] == check["accepted"]
    assert audit[1]["replaces"] == first and audit[1]["actor"].startswith("key:") and audit[1]["created"]
    log = svc.client.app.state.ops.evidence.log
    import json

    last = json.loads(log.entry(log.size() - 1)[0])
    assert last["type"] == "enrolment" and last["replaces"] == first and last["by"] == audit[1]["actor"]
    assert last["verified"] == {"accepted": check["accepted"], "of": 5}
    # An enrol link for an enrolled subject needs the same explicit consent.
    r = svc.client.post("/v1/signing-sessions", json={"subject_id": sid, "purpose": "enrol"}, headers=svc.operator)
    assert r.status_code == 409
    r = svc.client.post("/v1/signing-sessions", json={"subject_id": sid, "purpose": "enrol", "replace": True},
                        headers=svc.operator)
    assert r.status_code == 201


def test_capture_keys_learn_only_the_decision(service):
    svc = service
    sid = _enrolled(svc)
    for packet in (synthetic_signature(11).to_dict(), REFS[2]):  # a fresh sample, then a replay
        r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": packet}, headers=svc.capture)
        assert r.status_code == 201, r.text
        body = r.json()
        assert set(body) == {"id", "decision", "request_id"} and body["decision"] in ("genuine", "forgery")
        assert body["request_id"] == r.headers["x-request-id"]
    assert body["decision"] == "forgery"
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": REFS[3]}, headers=svc.operator)
    assert {"score", "components", "reasons"} <= set(r.json())


# --- 3. bad input is a 4xx on both backends; faults are JSON with a request id -------------------
def test_huge_integers_in_a_packet_are_a_422(service):
    svc = service
    sid = _enrolled(svc)
    import json

    body = json.dumps({"signature": REFS[0]}).replace('"x": [', '"x": [1' + "0" * 400 + ", ", 1)
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", content=body,
                        headers={**svc.operator, "content-type": "application/json"})
    assert r.status_code == 422 and "too large" in r.json()["error"]


def test_nul_bytes_and_control_characters_in_names_are_a_422(service):
    svc = service
    cases = [("/v1/subjects", {"external_ref": "a\x00b"}, svc.operator),
             ("/v1/subjects", {"display_name": "x\x00"}, svc.operator),
             ("/v1/subjects", {"display_name": "line\nbreak"}, svc.operator),
             ("/v1/api-keys", {"name": "k\x00", "scopes": ["capture"]}, svc.admin),
             ("/v1/api-keys", {"name": "k", "scopes": ["capture"], "tenant_id": "a\x00"}, svc.platform),
             ("/v1/tenants", {"name": "t\x00"}, svc.platform),
             ("/v1/signing-sessions", {"subject_id": "a\x00b"}, svc.operator)]
    for path, body, headers in cases:
        r = svc.client.post(path, json=body, headers=headers)
        assert r.status_code == 422, (path, body, r.status_code, r.text)
        assert "error" in r.json()


def test_report_fields_with_markup_are_a_422(service):
    svc = service
    sid = _enrolled(svc)
    for field in ("case_id", "examiner"):
        r = svc.client.post(f"/v1/subjects/{sid}/reports", headers=svc.operator,
                            json={"signature": synthetic_signature(9).to_dict(), field: "<b>x</i>&", "format": "pdf"})
        assert r.status_code == 422, r.text
    r = svc.client.post(f"/v1/subjects/{sid}/reports", headers=svc.operator,
                        json={"signature": synthetic_signature(9).to_dict(), "case_id": "CASE-2026/17",
                              "format": "json"})
    assert r.status_code == 200


def test_unexpected_errors_are_json_with_a_request_id(service, monkeypatch):
    svc = service
    sid = _enrolled(svc)

    def broken(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(svc.client.app.state.ops, "verify", broken)
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": REFS[0]}, headers=svc.operator)
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert r.json()["request_id"] == r.headers["x-request-id"] and "boom" not in r.text


def test_infrastructure_faults_are_503_with_retry_after(service, monkeypatch):
    import sqlite3

    from sqlalchemy.exc import OperationalError

    svc = service
    sid = _enrolled(svc)
    for exc in (OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked")),
                OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full")),
                OSError(28, "No space left on device")):
        def broken(*_a, exc=exc, **_k):
            raise exc

        monkeypatch.setattr(svc.client.app.state.ops, "verify", broken)
        r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": REFS[0]}, headers=svc.operator)
        assert r.status_code == 503 and int(r.headers["retry-after"]) > 0
        assert r.json()["request_id"] == r.headers["x-request-id"]


def test_healthz_reports_an_unreachable_database(service, monkeypatch):
    from sqlalchemy.exc import OperationalError

    svc = service
    assert svc.client.get("/healthz").json() == {"status": "ok",
                                                 "checks": {"database": "ok", "key": "ok", "disk": "ok"}}

    def down():
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    monkeypatch.setattr(svc.client.app.state.ops.repo, "ping", down)
    r = svc.client.get("/healthz")
    assert r.status_code == 503 and "retry-after" in r.headers
    body = r.json()
    assert body["status"] == "unavailable" and body["failing"] == ["database"] and "database" in body["error"]
    assert body["checks"]["disk"] == "ok" and body["checks"]["database"] != "ok"


def test_healthz_names_a_missing_key_version(service, monkeypatch):
    from inkwitness.service.storage import Undecryptable

    svc = service

    def lacking():
        raise Undecryptable("rows are sealed under storage key version(s) 0123456789abcdef, which this service "
                            "does not hold; restore them to the keyring")

    monkeypatch.setattr(svc.client.app.state.ops.repo, "ping", lacking)
    r = svc.client.get("/healthz")
    assert r.status_code == 503 and r.json()["failing"] == ["key"] and "0123456789abcdef" in r.json()["error"]
    assert r.json()["checks"]["database"] == "ok" and r.json()["checks"]["disk"] == "ok"


def test_healthz_reports_a_full_disk(service, monkeypatch):
    import shutil
    from collections import namedtuple

    svc = service
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(10**9, 10**9 - 10**6, 10**6))
    r = svc.client.get("/healthz")
    assert r.status_code == 503 and "free" in r.json()["error"] and "retry-after" in r.headers
    assert r.json()["failing"] == ["disk"] and r.json()["checks"]["database"] == "ok"


# --- 4. bounded work -------------------------------------------------------------------------------
def test_long_or_huge_packets_are_refused_before_any_comparison(service, monkeypatch):
    from inkwitness.service import operations
    from inkwitness.service.validation import MAX_SERVICE_DURATION_MS, MAX_SERVICE_POINTS

    svc = service
    sid = _enrolled(svc)
    calls = []
    monkeypatch.setattr(operations, "prepare", lambda *a, **k: calls.append(1))
    slow = {"format": "inkwitness.signature/1",
            "strokes": [{"t": [i * 599_000 / 9 for i in range(10)], "x": [i * 300 for i in range(10)],
                         "y": [(i % 3) * 200 for i in range(10)]}]}
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": slow}, headers=svc.operator)
    assert r.status_code == 422 and f"at most {MAX_SERVICE_DURATION_MS / 1000:.0f} s" in r.json()["error"]
    n = MAX_SERVICE_POINTS + 1
    many = {"format": "inkwitness.signature/1",
            "strokes": [{"t": [i * 2.0 for i in range(n)], "x": [i % 500 for i in range(n)],
                         "y": [i % 300 for i in range(n)]}]}
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": many}, headers=svc.operator)
    assert r.status_code == 422 and f"at most {MAX_SERVICE_POINTS}" in r.json()["error"]
    r = svc.client.post(f"/v1/subjects/{sid}/enrolments", json={"references": [slow] * 5, "replace": True},
                        headers=svc.operator)
    assert r.status_code == 422 and not calls


# --- 5. storage key custody --------------------------------------------------------------------
def _start(settings):
    from inkwitness.service.app import create_app

    return create_app(settings)


def _sqlite_with_data(tmp_path):
    from inkwitness.service.settings import Settings

    settings = Settings(data_dir=tmp_path / "data")
    app = _start(settings)
    repo = app.state.ops.repo
    tenant = repo.ensure_tenant("t")
    subject = repo.create_subject(tenant, None, None)
    app.state.ops.enrol(tenant, subject.id, [synthetic_signature(s) for s in range(5)])
    app.state.ops.repo.sessions.kw["bind"].dispose()
    return settings


def test_a_missing_storage_key_is_never_silently_replaced(tmp_path, monkeypatch):
    import pytest

    from inkwitness.errors import StorageError

    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    settings = _sqlite_with_data(tmp_path)
    key = settings.data_dir / "storage.key"
    key.unlink()
    with pytest.raises(StorageError, match="missing but the database holds data"):
        _start(settings)
    assert not key.exists()


def test_a_different_or_corrupt_storage_key_refuses_to_start(tmp_path, monkeypatch):
    import base64
    import os

    import pytest

    from inkwitness.errors import StorageError

    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    settings = _sqlite_with_data(tmp_path)
    key = settings.data_dir / "storage.key"
    original = key.read_bytes()
    key.write_bytes(base64.b64encode(os.urandom(32)) + b"\n")
    with pytest.raises(StorageError, match="not the one the database"):
        _start(settings)
    for corrupt in (b"%%% not base64 %%%\n", base64.b64encode(b"short") + b"\n"):
        key.write_bytes(corrupt)
        with pytest.raises(StorageError, match="corrupt"):
            _start(settings)
    key.write_bytes(original)
    _start(settings)


def test_the_key_and_database_files_are_private(tmp_path, monkeypatch):
    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    settings = _sqlite_with_data(tmp_path)
    for name in ("storage.key", "inkwitness.db"):
        assert (settings.data_dir / name).stat().st_mode & 0o777 == 0o600, name


def test_serve_reports_a_missing_key_in_one_line(tmp_path, monkeypatch):
    import subprocess
    import sys
    from pathlib import Path

    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    settings = _sqlite_with_data(tmp_path)
    (settings.data_dir / "storage.key").unlink()
    out = subprocess.run([str(Path(sys.executable).parent / "inkwitness"), "serve", "--data-dir",
                          str(settings.data_dir), "--port", "1"], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "Traceback" not in out.stderr and "missing" in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 3, out.stderr


def test_bootstrap_keys_are_printed_once_and_kept_in_no_file_unless_asked(tmp_path, monkeypatch, capsys):
    import re
    import sys

    import pytest

    from inkwitness.cli_common import CliError
    from inkwitness.cli_service import _bootstrap, _warn_legacy_key_files
    from inkwitness.service.app import create_app
    from inkwitness.service.settings import Settings

    monkeypatch.delenv("INKWITNESS_STORAGE_KEY", raising=False)
    settings = Settings(data_dir=tmp_path / "data")
    repo = create_app(settings).state.ops.repo
    # Standard output that is not a terminal (journald, docker logs) would keep the keys: refused, none made.
    with pytest.raises(CliError, match="--bootstrap-key-file"):
        _bootstrap(repo, None)
    assert not repo.any_api_key()
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    _bootstrap(repo, None)
    printed = re.findall(r"iwk_\S+", capsys.readouterr().out)
    assert len(printed) == 2 and all(repo.authenticate(k) for k in printed)
    # Nowhere in the data directory (the database keeps only their hashes).
    for path in (p for p in settings.data_dir.rglob("*") if p.is_file()):
        assert not any(k.encode() in path.read_bytes() for k in printed), path

    # Asked for: a new 0600 file whose last word is the admin key; an existing file is refused before any key.
    other = Settings(data_dir=tmp_path / "other")
    repo = create_app(other).state.ops.repo
    key_file = tmp_path / "bootstrap-keys.txt"
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    _bootstrap(repo, key_file)
    assert "iwk_" not in capsys.readouterr().out  # not a terminal: in the file only
    assert key_file.stat().st_mode & 0o777 == 0o600
    admin = key_file.read_text().strip().splitlines()[-1].split()[-1]
    assert repo.authenticate(admin)[2] == frozenset({"admin"})
    keys = len(repo.list_keys(None))
    with pytest.raises(CliError, match="must be a new file"):
        _bootstrap(repo, key_file)
    assert len(repo.list_keys(None)) == keys
    # Files an earlier version left behind are named at every start.
    (other.data_dir / "bootstrap-admin-key.txt").write_text(admin)
    _warn_legacy_key_files(other.data_dir)
    assert "bootstrap-admin-key.txt" in capsys.readouterr().err


# --- 6. headers, auth parsing, CORS, chunked bodies -----------------------------------------------
def inline_script_hashes_of(html: str) -> int:
    import tempfile
    from pathlib import Path

    from inkwitness.service.middleware import inline_script_hashes

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "p.html").write_text(html)
        return len(inline_script_hashes(Path(d) / "p.html"))


def test_the_bearer_scheme_is_case_insensitive(service):
    svc = service
    key = svc.operator["Authorization"].split(" ", 1)[1]
    for scheme in ("bearer", "BEARER", "Bearer", "bEaReR"):
        r = svc.client.post("/v1/subjects", json={}, headers={"Authorization": f"{scheme} {key}"})
        assert r.status_code == 201, (scheme, r.text)
    assert svc.client.post("/v1/subjects", json={}, headers={"Authorization": f"Basic {key}"}).status_code == 401


def test_every_response_carries_security_headers(service):
    svc = service
    responses = [svc.client.get("/"), svc.client.get("/healthz"), svc.client.get("/static/capture.js"),
                 svc.client.post("/v1/subjects", json={}), svc.client.get("/v1/capture/" + "x" * 32),
                 svc.client.post("/v1/subjects", json={}, headers=svc.operator),
                 svc.client.post("/v1/subjects", content=b"x" * 600_000, headers=svc.operator)]
    for r in responses:
        csp = r.headers.get("content-security-policy", "")
        assert "frame-ancestors" in csp, (r.request.url, r.status_code)
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers.get("referrer-policy")
        assert r.headers.get("x-request-id")
    from inkwitness.service.app import STATIC
    from inkwitness.service.middleware import inline_script_hashes

    page = svc.client.get("/").headers["content-security-policy"]
    assert "'unsafe-inline'" not in page and "frame-ancestors 'none'" in page
    # Inline scripts of the page (if any) are allowed by hash, nothing else inline.
    assert all(h in page for h in inline_script_hashes(STATIC / "index.html"))
    assert inline_script_hashes_of('<script>a()</script><script src="/x.js"></script>') == 1


def test_cors_allow_list_lets_a_configured_origin_embed_the_pad(tmp_path):
    from fastapi.testclient import TestClient

    from inkwitness.service.app import create_app
    from inkwitness.service.settings import Settings

    app = create_app(Settings(data_dir=tmp_path / "d", cors_origins=["https://shop.example"]))
    with TestClient(app) as client:
        pre = client.options("/v1/subjects", headers={"Origin": "https://shop.example",
                                                      "Access-Control-Request-Method": "POST",
                                                      "Access-Control-Request-Headers": "authorization"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "https://shop.example"
        other = client.options("/v1/subjects", headers={"Origin": "https://evil.example",
                                                        "Access-Control-Request-Method": "POST"})
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"
        assert "https://shop.example" in client.get("/").headers["content-security-policy"]


def test_a_chunked_body_over_the_limit_is_a_413(service):
    svc = service

    def chunks():
        for _ in range(40):
            yield b" " * 32_768

    r = svc.client.post("/v1/subjects", content=chunks(), headers={**svc.operator, "content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["error"]


def test_bodies_are_not_parsed_before_authentication(service):
    svc = service
    for headers in ({}, {"Authorization": "Bearer iwk_unknown_key_0000000000000000"}):
        r = svc.client.post("/v1/subjects", content=b"{not json",
                            headers={**headers, "content-type": "application/json"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


# --- 7. key lifecycle ---------------------------------------------------------------------------
def _new_key(svc: Service, scopes=("operator",), headers=None, **extra) -> tuple[str, dict[str, str]]:
    r = svc.client.post("/v1/api-keys", json={"name": "temp", "scopes": list(scopes), **extra},
                        headers=headers or svc.admin)
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    return key.split("_")[1], {"Authorization": f"Bearer {key}"}


def test_keys_are_listed_without_secrets_and_revoked_at_once_in_every_worker(service):
    from fastapi.testclient import TestClient

    from inkwitness.service.app import create_app

    svc = service
    prefix, auth = _new_key(svc)
    # A second worker process: its own app, repository and caches over the same database.
    with TestClient(create_app(svc.settings)) as worker:
        assert svc.client.post("/v1/subjects", json={}, headers=auth).status_code == 201
        assert worker.post("/v1/subjects", json={}, headers=auth).status_code == 201
        listing = svc.client.get("/v1/api-keys", headers=svc.admin).json()["keys"]
        mine = next(k for k in listing if k["prefix"] == prefix)
        assert mine["last_used_at"] and not mine["revoked"] and auth["Authorization"][7:] not in str(listing)
        assert all(k["tenant_id"] == svc.tenant_a for k in listing)
        # Tenant B's admin can neither see nor revoke tenant A's keys.
        assert prefix not in str(svc.client.get("/v1/api-keys", headers=svc.other_admin).json())
        assert svc.client.get(f"/v1/api-keys?tenant_id={svc.tenant_a}", headers=svc.other_admin).status_code == 403
        assert svc.client.delete(f"/v1/api-keys/{prefix}", headers=svc.other_admin).status_code == 404
        assert svc.client.delete(f"/v1/api-keys/{prefix}", headers=svc.operator).status_code == 403
        r = svc.client.delete(f"/v1/api-keys/{prefix}", headers=svc.admin)
        assert r.status_code == 200 and r.json()["revoked"] and r.json()["revoked_at"]
        assert svc.client.post("/v1/subjects", json={}, headers=auth).status_code == 401
        assert worker.post("/v1/subjects", json={}, headers=auth).status_code == 401


def test_rolling_a_key_replaces_its_secret(service):
    svc = service
    prefix, auth = _new_key(svc, scopes=("capture",))
    assert svc.client.post(f"/v1/api-keys/{prefix}/roll", headers=svc.other_admin).status_code == 404
    r = svc.client.post(f"/v1/api-keys/{prefix}/roll", headers=svc.admin)
    assert r.status_code == 201 and r.json()["scopes"] == ["capture"] and r.json()["replaces"] == prefix
    new = {"Authorization": f"Bearer {r.json()['key']}"}
    sid = _enrolled(svc)
    body = {"signature": synthetic_signature(60).to_dict()}
    assert svc.client.post(f"/v1/subjects/{sid}/verifications", json=body, headers=auth).status_code == 401
    assert svc.client.post(f"/v1/subjects/{sid}/verifications", json=body, headers=new).status_code == 201


def test_keys_expire(service):
    import datetime as dt

    from sqlalchemy import update

    from inkwitness.store.models import ApiKey

    svc = service
    soon = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    prefix, auth = _new_key(svc, expires_at=soon)
    assert svc.client.post("/v1/subjects", json={}, headers=auth).status_code == 201
    with svc.client.app.state.ops.repo.sessions.begin() as s:
        s.execute(update(ApiKey).where(ApiKey.prefix == prefix)
                  .values(expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    assert svc.client.post("/v1/subjects", json={}, headers=auth).status_code == 401
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).isoformat()
    r = svc.client.post("/v1/api-keys", json={"name": "x", "scopes": ["capture"], "expires_at": past},
                        headers=svc.admin)
    assert r.status_code == 409
    r = svc.client.post("/v1/api-keys", json={"name": "x", "scopes": ["capture"], "expires_at": "2099-01-01T00:00"},
                        headers=svc.admin)
    assert r.status_code == 422  # no time zone


def test_keys_command_line_create_list_revoke(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).parent / "inkwitness")
    data = ["--data-dir", str(tmp_path / "data")]

    def cli(*args):
        out = subprocess.run([exe, "keys", *args, *data], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    key = cli("create", "--tenant", "shop", "--scopes", "capture", "--name", "pad 1", "--expires", "30d").strip()
    prefix = key.split("_")[1]
    listing = cli("list", "--tenant", "shop")
    assert prefix in listing and "pad 1" in listing and key not in listing
    rolled = cli("roll", prefix).strip()
    assert rolled.startswith("iwk_") and rolled != key
    prefix = rolled.split("_")[1]
    assert prefix in cli("revoke", prefix)
    assert "yes" in cli("list", "--tenant", "shop") or "20" in cli("list", "--tenant", "shop").split(prefix)[1]
    assert cli("create", "--platform").startswith("iwk_")


# --- 8. rate limits ---------------------------------------------------------------------------------
def test_capture_keys_are_rate_limited_per_key(service):
    svc = service
    sid = _enrolled(svc)
    burst = svc.settings.capture_burst
    statuses = []
    for _ in range(burst + 5):
        r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": {}}, headers=svc.capture)
        statuses.append(r.status_code)
    assert 429 in statuses and statuses.index(429) >= burst - 1
    limited = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": {}}, headers=svc.capture)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "error" in limited.json()
    # Another key is not affected.
    assert svc.client.post("/v1/subjects", json={}, headers=svc.operator).status_code == 201


def test_token_bucket_refills_at_its_rate():
    from inkwitness.service.ratelimit import Rate, TokenBuckets

    now = [0.0]
    buckets = TokenBuckets(clock=lambda: now[0])
    rate = Rate(per_second=2.0, burst=3)
    assert [buckets.take("k", rate) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k", rate) == 0.5
    now[0] += 0.5
    assert buckets.take("k", rate) == 0.0 and buckets.take("other", rate) == 0.0


# --- 9. signing links survive failed processing ---------------------------------------------------
def test_a_signing_link_is_not_used_up_when_processing_fails(service, monkeypatch):
    import numpy as np
    from sqlalchemy.exc import OperationalError

    from inkwitness.signature import make_signature

    svc = service
    sid = _subject(svc)
    token = svc.client.post("/v1/signing-sessions", json={"subject_id": sid, "purpose": "enrol"},
                            headers=svc.operator).json()["token"]
    odd = make_signature(x=np.linspace(0, 5000, 200), y=1000 * np.sin(np.linspace(0, 30, 200)),
                         t=np.arange(200) * 10.0, pressure=np.full(200, 0.5)).to_dict()
    r = svc.client.post(f"/v1/capture/{token}", json={"signatures": REFS[:4] + [odd]})
    assert r.status_code == 422
    assert svc.client.get(f"/v1/capture/{token}").status_code == 200
    r = svc.client.post(f"/v1/capture/{token}", json={"signatures": REFS})
    assert r.status_code == 201 and r.json()["enrolled"]
    assert svc.client.post(f"/v1/capture/{token}", json={"signatures": REFS}).status_code == 410

    token = svc.client.post("/v1/signing-sessions", json={"subject_id": sid, "purpose": "verify"},
                            headers=svc.operator).json()["token"]
    real_verify = svc.client.app.state.ops.verify

    def locked(*_a, **_k):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(svc.client.app.state.ops, "verify", locked)
    r = svc.client.post(f"/v1/capture/{token}", json={"signatures": [synthetic_signature(77).to_dict()]})
    assert r.status_code == 503
    monkeypatch.setattr(svc.client.app.state.ops, "verify", real_verify)
    r = svc.client.post(f"/v1/capture/{token}", json={"signatures": [synthetic_signature(77).to_dict()]})
    assert r.status_code == 201 and set(r.json()) == {"decision"}


# --- replay detection: time scaling and history depth ----------------------------------------------
def _replayed(base, scale: float = 1.0, dx: float = 0.0):
    import numpy as np

    from inkwitness.signature import make_signature

    return make_signature(x=base.x + dx, y=base.y, t=base.t * scale, pressure=base.pressure,
                          stroke_start=np.diff(base.stroke, prepend=0) > 0, channels=base.channels,
                          device=base.device).to_dict()


def test_a_replay_with_scaled_timestamps_is_still_a_replay(service):
    svc = service
    sid = _enrolled(svc)
    for i, scale in enumerate((1.04, 1.07, 1.10, 0.90, 0.93, 0.96)):
        base = synthetic_signature(i % 5)
        r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": _replayed(base, scale, 7 + i)},
                            headers=svc.operator)
        assert r.status_code == 201 and r.json()["replay"], (scale, r.json()["reasons"][:1])
    fresh = svc.client.post(f"/v1/subjects/{sid}/verifications",
                            json={"signature": synthetic_signature(41).to_dict()}, headers=svc.operator)
    assert not fresh.json()["replay"]


def test_filler_submissions_do_not_push_a_sample_out_of_the_replay_check(service):
    import numpy as np

    from inkwitness.signature import make_signature

    svc = service
    sid = _enrolled(svc)
    rng = np.random.default_rng(5)
    for k in range(55):
        n = 120
        scribble = make_signature(x=np.cumsum(rng.normal(0, 40, n)) + 3000, y=np.cumsum(rng.normal(0, 40, n)) + 2000,
                                  t=np.arange(n) * (2000.0 / n) * (0.97 + 0.0005 * k), pressure=np.full(n, 0.5))
        r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": scribble.to_dict()},
                            headers=svc.operator)
        assert r.status_code == 201
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": _replayed(synthetic_signature(2),
                                                                                         1.0, 9)},
                        headers=svc.operator)
    assert r.json()["replay"], r.json()["reasons"][:1]


# --- derived biometrics are not stored in clear ------------------------------------------------------
def test_stored_outcomes_keep_no_reference_statistics(service):
    from sqlalchemy import select

    from inkwitness.store.models import SigningSession, VerificationRecord

    svc = service
    sid = _enrolled(svc)
    import numpy as np

    from inkwitness.signature import make_signature

    odd = make_signature(x=np.linspace(0, 5000, 200), y=1000 * np.sin(np.linspace(0, 30, 200)),
                         t=np.arange(200) * 10.0, pressure=np.full(200, 0.9)).to_dict()
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": odd}, headers=svc.operator)
    assert any("vs reference" in reason for reason in r.json()["reasons"])  # shown to the caller once
    token = svc.client.post("/v1/signing-sessions", json={"subject_id": sid}, headers=svc.operator).json()["token"]
    svc.client.post(f"/v1/capture/{token}", json={"signatures": [odd]})
    with svc.client.app.state.ops.repo.sessions() as s:
        stored = [v.result for v in s.scalars(select(VerificationRecord))]
        stored += [v.outcome for v in s.scalars(select(SigningSession))]
    assert stored and all("reasons" not in v and "vs reference" not in str(v) for v in stored)


def test_undecryptable_stored_data_is_a_server_fault_not_a_4xx(service):
    from sqlalchemy import update

    from inkwitness.store.models import StoredSignature

    svc = service
    sid = _enrolled(svc)
    ops = svc.client.app.state.ops
    with ops.repo.sessions.begin() as s:
        s.execute(update(StoredSignature).values(packet_encrypted=b"\0" * 64, replay_fingerprint=None))
    for cache in (ops._templates, ops._prepared, ops.repo._packets, ops.repo._fingerprints):
        cache.clear()
    r = svc.client.post(f"/v1/subjects/{sid}/verifications", json={"signature": synthetic_signature(12).to_dict()},
                        headers=svc.operator)
    assert r.status_code == 503 and "decrypt" in r.json()["error"] and r.headers["retry-after"]
