"""Sustained verifications per second, p50/p99 latency and memory over a soak, on loopback.

Starts ``inkwitness serve`` (SQLite, ``--workers`` processes), enrols one subject per
client, then N client processes post 300-point signatures for ``--seconds``. Server RSS
(all processes) is sampled every 10 s to show whether memory stays flat.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from bench_verify import pseudo_signature  # noqa: E402


def _client(base: str, key: str, subject: str, seconds: float, seed: int, out: mp.Queue) -> None:
    packets = [pseudo_signature(1000 * seed + i).to_dict() for i in range(40)]
    lat = []
    errors = 0
    deadline = time.perf_counter() + seconds
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {key}"}) as client:
        i = 0
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            r = client.post(f"{base}/v1/subjects/{subject}/verifications", json={"signature": packets[i % 40]})
            lat.append(time.perf_counter() - start)
            errors += r.status_code != 201
            i += 1
    out.put((lat, errors))


def main() -> None:
    """Run the load test and print throughput, latency percentiles and memory samples."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="inkwitness-bench-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "inkwitness"
    server = subprocess.Popen([str(exe), "serve", "--data-dir", str(data), "--port", str(port), "--workers",
                               str(args.workers)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        key = (data / "bootstrap-admin-key.txt").read_text().strip()
        auth = {"Authorization": f"Bearer {key}"}
        subjects = []
        for c in range(args.clients):
            sid = httpx.post(f"{base}/v1/subjects", json={}, headers=auth).json()["id"]
            refs = [pseudo_signature(50 * c + s).to_dict() for s in range(5)]
            r = httpx.post(f"{base}/v1/subjects/{sid}/enrolments", json={"references": refs}, headers=auth,
                           timeout=60)
            assert r.status_code == 201, r.text
            subjects.append(sid)
        # Warm every worker (numba compilation, template caches) before measuring.
        for sid in subjects * 3:
            httpx.post(f"{base}/v1/subjects/{sid}/verifications", json={"signature": pseudo_signature(9).to_dict()},
                       headers=auth, timeout=60)
        proc = psutil.Process(server.pid)
        queue: mp.Queue = mp.Queue()
        clients = [mp.Process(target=_client, args=(base, key, subjects[c], args.seconds, c, queue))
                   for c in range(args.clients)]
        start = time.perf_counter()
        for c in clients:
            c.start()
        memory = []
        next_sample = 0.0
        while any(c.is_alive() for c in clients) and time.perf_counter() - start < args.seconds + 30:
            now = time.perf_counter() - start
            if now >= next_sample and now < args.seconds:
                rss = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
                memory.append((round(now), rss / 2**20))
                next_sample += 10
            if queue.qsize() == len(clients):
                break
            time.sleep(0.2)
        results = [queue.get() for _ in clients]
        elapsed = args.seconds
        for c in clients:
            c.join()
    finally:
        server.terminate()
        server.wait()
    lat = np.array([x for r, _ in results for x in r])
    errors = sum(e for _, e in results)
    print(f"{len(lat)} verifications in {elapsed:.1f} s with {args.clients} clients, {args.workers} workers: "
          f"{len(lat) / elapsed:.1f}/s, p50 {1000 * np.percentile(lat, 50):.1f} ms, "
          f"p99 {1000 * np.percentile(lat, 99):.1f} ms, errors {errors}")
    print("server RSS (MiB) over time: " + ", ".join(f"{t}s {m:.0f}" for t, m in memory))
    if len(memory) > 3:
        early = statistics.median(m for _, m in memory[1:len(memory) // 3 + 1])
        late = statistics.median(m for _, m in memory[-(len(memory) // 3):])
        print(f"memory drift: {late - early:+.1f} MiB from the first to the last third")


if __name__ == "__main__":
    main()
