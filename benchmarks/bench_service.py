"""Sustained verifications per second, p50/p99 latency and memory over a soak, on loopback.

Starts ``inkwitness serve`` (SQLite, ``--workers`` processes), enrols ``--subjects``
subjects, then drives it with wrk (C, Debian package ``wrk``) so that the load generator
takes little of the two cores. Every request is a distinct 300-point signature for one
of the subjects. Consecutive requests go to different subjects, as at a busy counter; the
(subject, body) pairs repeat only after subjects x bodies requests, so no request is an
identical replay that the service could answer cheaply. Server RSS (all processes) is
sampled every 10 s to show whether memory stays flat.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from bench_verify import main as verify_bench  # noqa: E402
from bench_verify import pseudo_signature  # noqa: E402

LUA = """
local bodies, subjects, key = {}, {}, ""
local counter, stride, id = 0, 1, 0
function setup(thread) thread:set("id", id); id = id + 1 end
function init(args)
  for line in io.lines("@DIR@/bodies.txt") do bodies[#bodies + 1] = line end
  for line in io.lines("@DIR@/subjects.txt") do subjects[#subjects + 1] = line end
  for line in io.lines("@DIR@/key.txt") do key = line end
  stride = tonumber(args[1]); counter = id
end
function request()
  local k = counter
  counter = counter + stride
  local subject = subjects[(k % #subjects) + 1]
  local body = bodies[(math.floor(k / #subjects) % #bodies) + 1]
  return wrk.format("POST", "/v1/subjects/" .. subject .. "/verifications",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %.3f %d\\n", summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
end
"""


def _serve(data: Path, workers: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "inkwitness"
    server = subprocess.Popen([str(exe), "serve", "--data-dir", str(data), "--port", str(port), "--workers",
                               str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("the server did not start")


def _rss(proc: psutil.Process) -> tuple[float, float]:
    """Resident and anonymous (heap) MiB of the server and its workers.

    Anonymous memory is what a leak would grow; the rest is file-backed pages (shared
    libraries, numba's cache) that the kernel maps in as code paths are first used.
    """
    infos = [p.memory_info() for p in [proc, *proc.children(recursive=True)]]
    return sum(i.rss for i in infos) / 2**20, sum(i.rss - i.shared for i in infos) / 2**20


def main() -> None:
    """Run the load test and print throughput, latency percentiles and memory samples."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--subjects", type=int, default=64)
    ap.add_argument("--bodies", type=int, default=3000)
    args = ap.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("this benchmark needs wrk (apt-get install -y wrk)")
    # The same machine's single-core scoring time makes figures from different machines comparable.
    verify_ms = verify_bench()["verify_ms"]
    work = Path(tempfile.mkdtemp(prefix="inkwitness-bench-"))
    server, base = _serve(work / "data", args.workers)
    try:
        key = (work / "data" / "bootstrap-admin-key.txt").read_text().strip()
        auth = {"Authorization": f"Bearer {key}"}
        subjects = []
        for c in range(args.subjects):
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
        (work / "bodies.txt").write_text("\n".join(
            json.dumps({"signature": pseudo_signature(100_000 + i).to_dict()}) for i in range(args.bodies)) + "\n")
        (work / "subjects.txt").write_text("\n".join(subjects) + "\n")
        (work / "key.txt").write_text(key + "\n")
        (work / "post.lua").write_text(LUA.replace("@DIR@", str(work)))
        threads = 2
        proc = psutil.Process(server.pid)
        load = subprocess.Popen([wrk, f"-t{threads}", f"-c{args.connections}", f"-d{args.seconds}s", "--timeout",
                                 "10s", "-s", str(work / "post.lua"), base, "--", str(threads)],
                                stdout=subprocess.PIPE, text=True)
        start = time.perf_counter()
        memory = []
        while load.poll() is None:
            now = time.perf_counter() - start
            if now >= 10 * len(memory) and now < args.seconds:
                memory.append((round(now), _rss(proc)))
            time.sleep(0.2)
        out = load.stdout.read() if load.stdout else ""
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    found = re.search(r"RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", out)
    if not found:
        raise SystemExit(f"wrk printed no result:\n{out}")
    n, micros = int(found[1]), int(found[2])
    p50, p90, p99, worst = (float(found[i]) for i in range(3, 7))
    print(f"{n} verifications in {micros / 1e6:.1f} s, {args.connections} connections, {args.workers} workers: "
          f"{n / (micros / 1e6):.1f}/s, p50 {p50:.1f} ms, p90 {p90:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms, "
          f"errors {found[7]}")
    if n > args.subjects * args.bodies:
        print(f"warning: {n} requests exceed {args.subjects} x {args.bodies} distinct (subject, body) pairs; "
              "the rest were identical replays (raise --bodies)")
    rate = n / (micros / 1e6)
    capacity = 2 * 1000 / verify_ms
    print(f"machine-relative: {rate:.1f}/s is {100 * rate / capacity:.0f} % of the {capacity:.0f}/s that two cores "
          f"would reach doing nothing but scoring ({verify_ms:.2f} ms per verification on this machine)")
    print("server RSS (MiB) over time: " + ", ".join(f"{t}s {m:.0f}" for t, (m, _) in memory))
    print("  of which anonymous: " + ", ".join(f"{t}s {a:.0f}" for t, (_, a) in memory))
    if len(memory) > 3:
        for i, label in ((0, "RSS"), (1, "anonymous")):
            early = statistics.median(m[i] for _, m in memory[1:len(memory) // 3 + 1])
            late = statistics.median(m[i] for _, m in memory[-(len(memory) // 3):])
            print(f"{label} drift: {late - early:+.1f} MiB from the first to the last third")


if __name__ == "__main__":
    main()
