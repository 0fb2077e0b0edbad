"""Sustained verifications per second, p50/p99 latency and memory over a soak, on loopback.

Starts ``inkwitness serve`` (SQLite, or a fresh database, dropped afterwards, on the PostgreSQL
server of ``--database-url``; ``--nodes`` processes sharing it, each loaded by its own wrk; ``--workers``
processes), enrols ``--subjects`` subjects, then drives it with wrk (C, Debian package
``wrk``) so that the load generator takes little of the two cores. Consecutive requests go
to different subjects, as at a busy counter.

With the public SVC2004 Task2 data present, subjects are its writers enrolled with S1-S5 (a
writer serves several subjects when ``--subjects`` exceeds 40) and every request is a
sigma-lognormal genuine-like duplicate of one of that writer's S6-S20 or of a skilled forgery
of it (S21-S40): human-like, and **one duplicate per source**. Several duplicates of one
source stay near-identical (the synthesis keeps the source's trajectory residual), so the
service rightly answered the later ones as replays; one per source keeps the bodies of a
subject distinct to the replay check. Otherwise generated pseudo-signatures are used. The
service's decisions are counted from the responses and printed (genuine / forgery / replay,
and the replay fraction), so a run whose requests were mostly answered as replays shows it. Server RSS (all
processes) is sampled every 10 s to show whether memory stays flat.
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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from bench_verify import main as verify_bench  # noqa: E402
from bench_verify import pseudo_signature  # noqa: E402

LUA = """
local bodies, subjects, key = {}, {}, ""
-- "id" must stay a global: thread:set writes globals, and a local of that name would shadow it
-- (every thread then started at 0 and sent the same bodies, so half the requests were replays).
local counter, stride, next_id = 0, 1, 0
local threads = {}
function setup(thread) thread:set("id", next_id); next_id = next_id + 1; table.insert(threads, thread) end
function init(args)
  for line in io.lines("@DIR@/bodies.txt") do bodies[#bodies + 1] = line end
  for line in io.lines("@DIR@/subjects.txt") do subjects[#subjects + 1] = line end
  for line in io.lines("@DIR@/key.txt") do key = line end
  -- args: the stride over all threads of all wrk processes, and this process's first thread's number.
  stride = tonumber(args[1]); counter = id + tonumber(args[2] or "0")
end
function request()
  local k = counter
  counter = counter + stride
  local subject = subjects[(k % #bodies) + 1]
  local body = bodies[(k % #bodies) + 1]
  return wrk.format("POST", "/v1/subjects/" .. subject .. "/verifications",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end
decisions = {genuine = 0, forgery = 0, replay = 0, other = 0}
function response(status, headers, body)
  local d = body and string.match(body, '"decision"%s*:%s*"(%a+)"') or "other"
  if decisions[d] == nil then d = "other" end
  decisions[d] = decisions[d] + 1
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %.3f %d\\n", summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
  local total = {genuine = 0, forgery = 0, replay = 0, other = 0}
  for _, t in ipairs(threads) do
    local d = t:get("decisions")
    for k, v in pairs(d) do total[k] = total[k] + v end
  end
  io.write(string.format("DECISIONS %d %d %d %d\\n", total.genuine, total.forgery, total.replay, total.other))
end
"""


def _serve(data: Path, workers: int, database_url: str | None, node: int = 0) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "inkwitness"
    extra = ["--database-url", database_url] if database_url else []
    # The bootstrap keys go to a file only when asked for (the default prints them once); only
    # the first node bootstraps, the others find the keys in the shared database.
    keys = data.parent / ("bootstrap-keys.txt" if node == 0 else f"bootstrap-keys-node{node}.txt")
    server = subprocess.Popen([str(exe), "serve", "--data-dir", str(data), "--port", str(port), "--workers",
                               str(workers), "--bootstrap-key-file", str(keys), *extra],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("the server did not start")


def _fresh_database(url: str) -> tuple[str, Any]:
    """A new, empty database on the server of ``url`` for this run, and a function that drops it."""
    import uuid

    import psycopg

    admin = url.replace("postgresql+psycopg://", "postgresql://")
    name = f"inkwitness_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url.rsplit("/", 1)[0] + f"/{name}", drop


def _rss(proc: psutil.Process) -> tuple[float, float]:
    """Resident and anonymous (heap) MiB of the server and its workers.

    Anonymous memory is what a leak would grow; the rest is file-backed pages (shared
    libraries, numba's cache) that the kernel maps in as code paths are first used.
    """
    infos = [p.memory_info() for p in [proc, *proc.children(recursive=True)]]
    return sum(i.rss for i in infos) / 2**20, sum(i.rss - i.shared for i in infos) / 2**20


def _extract(path: Path) -> Any:
    """The sigma-lognormal model of one signature file (run in a worker process)."""
    from inkwitness.formats import read_signature
    from inkwitness.synthesis import extract

    return extract(read_signature(path))


def _workload(subjects: int, bodies: int) -> tuple[list[list[dict]], list[list[dict]], str]:
    """Per subject: references and distinct request bodies; and what they are."""
    from inkwitness.datasets import default_data_root
    from inkwitness.formats import read_signature
    from inkwitness.synthesis import duplicate

    root = default_data_root() / "svc2004" / "Task2"
    if not root.is_dir():
        refs = [[pseudo_signature(50 * c + s).to_dict() for s in range(5)] for c in range(subjects)]
        reqs = [[pseudo_signature(100_000 + c * bodies + i).to_dict() for i in range(max(1, bodies // subjects))]
                for c in range(subjects)]
        return refs, reqs, "generated pseudo-signatures"
    # Past 40 subjects a writer returns; replays are checked per subject, so its bodies stay new.
    writer = [1 + c % 40 for c in range(subjects)]
    # One extraction per source however many subjects use the writer, on both cores before the server starts.
    sources = sorted({(u, s) for u in writer for s in range(6, 41)})
    with ProcessPoolExecutor(2) as pool:
        models = dict(zip(sources, pool.map(_extract, [root / f"U{u}S{s}.TXT" for u, s in sources], chunksize=8)))
    refs, reqs = [], []
    for c, u in enumerate(writer):
        refs.append([read_signature(root / f"U{u}S{s}.TXT").to_dict() for s in range(1, 6)])
        # One duplicate per source, each with its own seed (see the module docstring).
        reqs.append([duplicate(models[u, s], "genuine", 100_000 * c + s).to_dict() for s in range(6, 41)])
    return refs, reqs, ("SVC2004 Task2 writers enrolled with S1-S5; requests are one sigma-lognormal genuine-like "
                        "duplicate of each of S6-S20 (genuine) and S21-S40 (skilled forgeries)")


def main() -> None:
    """Run the load test and print throughput, latency percentiles and memory samples."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--subjects", type=int, default=64,
                    help="subjects taken in turn; with SVC2004 each has 35 distinct bodies, so a run of N requests "
                         "without repeated bodies needs N / 35 subjects")
    ap.add_argument("--bodies", type=int, default=3000, help="distinct bodies of generated pseudo-signatures")
    ap.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite in the data directory)")
    ap.add_argument("--nodes", type=int, default=1,
                    help="serve processes on one PostgreSQL and one data directory, each loaded by its own wrk")
    args = ap.parse_args()
    if args.nodes > 1 and not args.database_url:
        raise SystemExit("--nodes needs --database-url (several nodes share one PostgreSQL)")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("this benchmark needs wrk (apt-get install -y wrk)")
    # The same machine's single-core scoring time makes figures from different machines comparable.
    verify_ms = verify_bench()["verify_ms"]
    work = Path(tempfile.mkdtemp(prefix="inkwitness-bench-"))
    references, requests, kind = _workload(args.subjects, args.bodies)
    print(f"workload: {kind}")
    # A database of its own, dropped at the end: the server named may hold other data.
    database_url, drop_database = _fresh_database(args.database_url) if args.database_url else (None, None)
    server, base = _serve(work / "data", args.workers, database_url)
    servers, bases = [server], [base]
    try:
        for node in range(1, args.nodes):
            more, url = _serve(work / "data", args.workers, database_url, node)
            servers.append(more)
            bases.append(url)
        key = (work / "bootstrap-keys.txt").read_text().strip().splitlines()[-1].split()[-1]  # the admin key
        auth = {"Authorization": f"Bearer {key}"}
        subjects, kept = [], []
        for refs, reqs in zip(references, requests):
            sid = httpx.post(f"{base}/v1/subjects", json={}, headers=auth).json()["id"]
            r = httpx.post(f"{base}/v1/subjects/{sid}/enrolments", json={"references": refs}, headers=auth,
                           timeout=60)
            if r.status_code == 201:
                subjects.append(sid)
                kept.append(reqs)
            else:  # a real writer whose five references the consistency check refuses
                print(f"enrolment refused, writer left out: {r.json().get('error')}")
        requests = kept
        # Warm every worker (numba compilation, template caches) before measuring.
        for url in bases:
            for sid in subjects * 3:
                httpx.post(f"{url}/v1/subjects/{sid}/verifications",
                           json={"signature": pseudo_signature(9).to_dict()}, headers=auth, timeout=60)
        # One line per (subject, body): the Lua script walks subjects in turn, each with its own bodies.
        lines, order = [], []
        for k in range(max(len(r) for r in requests)):
            for c, sid in enumerate(subjects):
                body = requests[c][k % len(requests[c])]
                lines.append(json.dumps({"signature": body}))
                order.append(sid)
        (work / "bodies.txt").write_text("\n".join(lines) + "\n")
        distinct = len(lines)
        (work / "subjects.txt").write_text("\n".join(order) + "\n")
        (work / "key.txt").write_text(key + "\n")
        (work / "post.lua").write_text(LUA.replace("@DIR@", str(work)))
        threads = 2
        procs = [psutil.Process(s.pid) for s in servers]
        # One wrk per node, each with its share of the connections and its own bodies (thread offsets).
        per_node = max(threads, args.connections // args.nodes)
        loads = [subprocess.Popen([wrk, f"-t{threads}", f"-c{per_node}", f"-d{args.seconds}s", "--timeout", "10s",
                                   "-s", str(work / "post.lua"), url, "--", str(threads * args.nodes),
                                   str(threads * node)], stdout=subprocess.PIPE, text=True)
                 for node, url in enumerate(bases)]
        start = time.perf_counter()
        memory = []
        while any(load.poll() is None for load in loads):
            now = time.perf_counter() - start
            if now >= 10 * len(memory) and now < args.seconds:
                samples = [_rss(p) for p in procs]
                memory.append((round(now), (sum(m for m, _ in samples), sum(a for _, a in samples))))
            time.sleep(0.2)
        outs = [load.stdout.read() if load.stdout else "" for load in loads]
    finally:
        for s in servers:
            s.terminate()
        for s in servers:
            s.wait()
        shutil.rmtree(work, ignore_errors=True)
        if drop_database:
            drop_database()
    results = [re.search(r"RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", out) for out in outs]
    if not all(results):
        raise SystemExit("wrk printed no result:\n" + "\n".join(outs))
    n = sum(int(found[1]) for found in results)
    micros = max(int(found[2]) for found in results)
    errors = sum(int(found[7]) for found in results)
    # Percentiles of separate runs cannot be merged exactly: the worst node's is reported.
    p50, p90, p99, worst = (max(float(found[i]) for found in results) for i in range(3, 7))
    print(f"{n} verifications in {micros / 1e6:.1f} s, {args.nodes} node(s), {args.connections} connections, "
          f"{args.workers} workers each: {n / (micros / 1e6):.1f}/s, p50 {p50:.1f} ms, p90 {p90:.1f} ms, "
          f"p99 {p99:.1f} ms, max {worst:.1f} ms (worst node), errors {errors}")
    if args.nodes > 1:
        print("per node: " + ", ".join(f"{int(f[1]) / (int(f[2]) / 1e6):.1f}/s p99 {float(f[5]):.1f} ms"
                                       for f in results))
    out = "\n".join(outs)
    if n > distinct:
        print(f"warning: {n} requests exceed the {distinct} distinct (subject, body) pairs; "
              "the rest were identical replays (raise --subjects; --bodies for generated signatures)")
    mixes = re.findall(r"DECISIONS (\d+) (\d+) (\d+) (\d+)", out)
    if mixes:
        mix = [0] + [sum(int(m[i]) for m in mixes) for i in range(4)]
        print("decisions: " + ", ".join(f"{name} {int(mix[i])}" for i, name in
                                          enumerate(("genuine", "forgery", "replay", "other"), start=1)))
        decided = sum(int(mix[i]) for i in range(1, 5))
        print(f"replay fraction: {int(mix[3]) / max(1, decided):.1%} of {decided} decisions "
              "(a replay is answered early and cheaply, so a high fraction inflates throughput)")
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
