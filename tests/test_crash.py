"""Kill the server with SIGKILL during a burst of writes: every acknowledged write survives intact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from .conftest import synthetic_signature
from .service_fixtures import free_port, start_server

pytestmark = pytest.mark.slow


def test_acknowledged_writes_survive_sigkill(tmp_path, monkeypatch):
    data, port = tmp_path / "data", free_port()
    monkeypatch.setenv("INKWITNESS_BOOTSTRAP_KEY_FILE", str(data / "bootstrap-admin-key.txt"))
    base = f"http://127.0.0.1:{port}"
    proc = start_server(data, port)
    try:
        key = (data / "bootstrap-admin-key.txt").read_text().strip().splitlines()[-1].split()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        sid = httpx.post(f"{base}/v1/subjects", json={}, headers=auth).json()["id"]
        refs = [synthetic_signature(s).to_dict() for s in range(5)]
        assert httpx.post(f"{base}/v1/subjects/{sid}/enrolments", json={"references": refs}, headers=auth,
                          timeout=60).status_code == 201
        acknowledged: list[str] = []
        stop = threading.Event()

        def burst(offset: int) -> None:
            with httpx.Client(timeout=30) as client:
                for i in range(offset, offset + 10_000, 2):
                    if stop.is_set():
                        return
                    try:
                        r = client.post(f"{base}/v1/subjects/{sid}/verifications",
                                        json={"signature": synthetic_signature(100 + i).to_dict()}, headers=auth)
                    except httpx.HTTPError:
                        return
                    if r.status_code == 201:
                        acknowledged.append(r.json()["id"])

        threads = [threading.Thread(target=burst, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        while len(acknowledged) < 25:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        stop.set()
        for t in threads:
            t.join()
    finally:
        if proc.poll() is None:
            proc.kill()
    db = sqlite3.connect(data / "inkwitness.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    proc = start_server(data, port)
    try:
        history = httpx.get(f"{base}/v1/subjects/{sid}/history", headers=auth).json()
        stored = {v["id"] for v in history["verifications"]}
        assert set(acknowledged) <= stored, f"lost {len(set(acknowledged) - stored)} acknowledged writes"
        r = httpx.post(f"{base}/v1/subjects/{sid}/verifications",
                       json={"signature": synthetic_signature(99_999).to_dict()}, headers=auth, timeout=30)
        assert r.status_code == 201
    finally:
        proc.kill()
        proc.wait()
    out = subprocess.run([str(Path(sys.executable).parent / "inkwitness"), "log", "verify", "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
