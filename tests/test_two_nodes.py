"""Two service nodes on one PostgreSQL: no lost or duplicated writes, one log, replays seen across nodes.

Each node is a separate ``inkwitness serve`` process on its own port, sharing the data
directory (keys, PKI) and the database, as N nodes behind a load balancer would share a
configuration volume and a database. Requests are spread over both nodes from several
threads at once.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .conftest import synthetic_signature
from .service_fixtures import free_port, postgres_server, postgres_url, start_server  # noqa: F401

REFS = [synthetic_signature(seed).to_dict() for seed in range(5)]


@pytest.fixture
def nodes(tmp_path, postgres_url, monkeypatch):  # noqa: F811
    """Two nodes started one after the other (the first creates keys and schema, the second finds them)."""
    data = tmp_path / "data"
    monkeypatch.setenv("INKWITNESS_BOOTSTRAP_KEY_FILE", str(data / "bootstrap-admin-key.txt"))
    first = start_server(data, free_port(), postgres_url)
    second = None
    try:
        key = (data / "bootstrap-admin-key.txt").read_text().strip().splitlines()[-1].split()[-1]
        second = start_server(data, free_port(), postgres_url)
        ports = [int(p.args[p.args.index("--port") + 1]) for p in (first, second)]
        yield [f"http://127.0.0.1:{p}" for p in ports], {"Authorization": f"Bearer {key}"}
    finally:
        for proc in (first, second):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


def test_two_nodes_share_one_database_without_losing_or_duplicating_writes(nodes):
    urls, auth = nodes
    a, b = (httpx.Client(base_url=u, headers=auth, timeout=60) for u in urls)
    sid = a.post("/v1/subjects", json={}).json()["id"]
    assert b.post(f"/v1/subjects/{sid}/enrolments", json={"references": REFS}).status_code == 201
    samples = [synthetic_signature(100 + k).to_dict() for k in range(16)]

    def verify(k: int) -> httpx.Response:
        client = (a, b)[k % 2]
        return client.post(f"/v1/subjects/{sid}/verifications", json={"signature": samples[k]})

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(verify, range(len(samples))))
    assert [r.status_code for r in results] == [201] * len(samples)
    # Every acknowledged verification is stored once, whichever node took it.
    for client in (a, b):
        ids = [h["id"] for h in client.get(f"/v1/subjects/{sid}/history").json()["verifications"]]
        assert len(ids) == len(set(ids)) == len(samples)
        assert {r.json()["id"] for r in results} == set(ids)
    # One log: both nodes serve the same checkpoint, and the log indices handed out are distinct.
    checkpoints = [c.get("/v1/log/checkpoint").json() for c in (a, b)]
    assert checkpoints[0] == checkpoints[1]
    indices = [r.json()["log_index"] for r in results if "log_index" in r.json()]
    assert len(indices) == len(set(indices)) == len(samples)
    # A sample verified on one node is a replay on the other.
    again = b.post(f"/v1/subjects/{sid}/verifications", json={"signature": samples[0]})
    assert again.status_code == 201 and again.json()["replay"]
    again = a.post(f"/v1/subjects/{sid}/verifications", json={"signature": samples[1]})
    assert again.json()["replay"]
