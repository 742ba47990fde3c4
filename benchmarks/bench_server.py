"""Loopback load benchmark: ``chroma-frame run`` against chromadb's own ``chroma run``, in one run.

For each server: several concurrent client processes send batched adds (base64 little-endian f32
embeddings, as chromadb's client does after pre-flight), then single-vector queries. Bounded by
request count and by time per phase; loopback only. Writes a Markdown table to
``benchmarks/results/server.md``.

    .venv/bin/python benchmarks/bench_server.py [--clients 4] [--batches 200] [--queries 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing as mp
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import httpx
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "server.md"
C = "/api/v2/tenants/default_tenant/databases/default_database/collections"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/api/v2/heartbeat", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


def start_chroma_frame(workdir: Path, workers: int = 1) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "chroma_frame", "run", "--path", str(workdir / f"frame-{workers}"),
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"


def start_chroma(workdir: Path) -> Optional[tuple[subprocess.Popen, str]]:
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if exe is None:
        return None
    port = free_port()
    config = workdir / "chroma.yaml"
    config.write_text(f'port: {port}\nlisten_address: "127.0.0.1"\npersist_path: "{workdir / "chroma"}"\n'
                      "allow_reset: false\n")
    proc = subprocess.Popen([exe, "run", str(config)], cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- client workers (separate processes, so the client side does not share one GIL) -------------


def _add_worker(url: str, cid: str, worker: int, batches: int, batch: int, dim: int, deadline: float,
                out: "mp.Queue") -> None:
    rng = np.random.default_rng(worker)
    latencies = []
    with httpx.Client(base_url=url, timeout=120, headers={"content-type": "application/json"}) as http:
        for b in range(batches):
            if time.time() > deadline:
                break
            emb = rng.random((batch, dim), dtype=np.float32)
            body = orjson.dumps({
                "ids": [f"w{worker}-{b}-{i}" for i in range(batch)],
                "embeddings": [base64.b64encode(row.astype("<f4").tobytes()).decode() for row in emb],
                "metadatas": [{"worker": worker, "batch": b, "i": i} for i in range(batch)],
                "documents": [f"document {worker} {b} {i}" for i in range(batch)],
            })
            t0 = time.perf_counter()
            r = http.post(f"{C}/{cid}/add", content=body)
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 201:
                raise RuntimeError(f"add failed: {r.status_code} {r.text[:200]}")
    out.put(latencies)


def _query_worker(url: str, cid: str, worker: int, queries: int, dim: int, deadline: float,
                  out: "mp.Queue") -> None:
    rng = np.random.default_rng(1000 + worker)
    latencies = []
    with httpx.Client(base_url=url, timeout=120, headers={"content-type": "application/json"}) as http:
        for _ in range(queries):
            if time.time() > deadline:
                break
            body = orjson.dumps({"query_embeddings": [rng.random(dim, dtype=np.float32).tolist()], "n_results": 10,
                                 "include": ["metadatas", "documents", "distances"]})
            t0 = time.perf_counter()
            r = http.post(f"{C}/{cid}/query", content=body)
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise RuntimeError(f"query failed: {r.status_code} {r.text[:200]}")
    out.put(latencies)


@dataclass
class Phase:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _run(target, args_for, clients: int) -> Phase:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_for(w), out)) for w in range(clients)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    latencies: list[float] = []
    for _ in procs:
        latencies.extend(out.get(timeout=600))
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError("a client process failed")
    ms = np.asarray(latencies) * 1000
    return Phase(len(latencies), elapsed, float(np.percentile(ms, 50)), float(np.percentile(ms, 99)))


def bench(url: str, args: argparse.Namespace) -> tuple[Phase, Phase]:
    with httpx.Client(base_url=url, timeout=60) as http:
        r = http.post(C, json={"name": f"bench-{int(time.time() * 1000)}", "get_or_create": False})
        r.raise_for_status()
        cid = r.json()["id"]
    per_client = max(1, args.batches // args.clients)
    adds = _run(_add_worker, lambda w: (url, cid, w, per_client, args.batch, args.dim,
                                        time.time() + args.max_seconds), args.clients)
    per_client_q = max(1, args.queries // args.clients)
    queries = _run(_query_worker, lambda w: (url, cid, w, per_client_q, args.dim, time.time() + args.max_seconds),
                   args.clients)
    return adds, queries


def _median(phases: list[Phase], field: str) -> float:
    return float(np.median([getattr(p, field) for p in phases]))


def report(results: dict[str, list[tuple[Phase, Phase, str]]], args: argparse.Namespace) -> str:
    import chromadb

    lines = [
        "# Server load benchmark (loopback)",
        "",
        f"`{' '.join(['python', 'benchmarks/bench_server.py', *sys.argv[1:]])}` on {platform.platform()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, chromadb {chromadb.__version__}.",
        f"{args.clients} concurrent client processes; adds of {args.batch} records x {args.dim}-d "
        f"(base64 f32, with metadata and documents), {args.batches} batches in all; then {args.queries} "
        "single-vector queries (n_results=10). Each phase is capped at "
        f"{args.max_seconds:.0f} s. Latency is per request, seen by the client. "
        f"{args.rounds} round(s), the servers in a rotated order each round, every round on fresh storage; "
        "the table gives the median of the rounds.",
        "",
        "| server | adds/s (records/s) | add p50 ms | add p99 ms | queries/s | query p50 ms | query p99 ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, runs in results.items():
        adds, queries = [r[0] for r in runs], [r[1] for r in runs]
        rate = _median(adds, "per_second")
        lines.append(
            f"| {name} | {rate:.1f} ({rate * args.batch:,.0f}) | {_median(adds, 'p50_ms'):.1f} | "
            f"{_median(adds, 'p99_ms'):.1f} | {_median(queries, 'per_second'):.1f} | "
            f"{_median(queries, 'p50_ms'):.2f} | {_median(queries, 'p99_ms'):.2f} |"
        )
    lines += ["", "Each round (queries/s, query p50 ms; load average over 1 minute before and after the server's run):", ""]
    for name, runs in results.items():
        rounds = "; ".join(f"{q.per_second:.1f} q/s, {q.p50_ms:.2f} ms (load {load})" for _, q, load in runs)
        lines.append(f"- {name}: {rounds}")
    return "\n".join(lines) + "\n"


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batches", type=int, default=200, help="add requests in all")
    parser.add_argument("--batch", type=int, default=100, help="records per add")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=2000, help="query requests in all")
    parser.add_argument("--frame-workers", type=int, default=os.cpu_count() or 1,
                        help="also run chroma-frame with this many worker processes (1: skip)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time cap per phase")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every server, in a rotated order")
    args = parser.parse_args()

    servers = [("chroma-frame run", start_chroma_frame)]
    if args.frame_workers > 1:
        servers.append((f"chroma-frame run --workers {args.frame_workers}",
                         lambda w: start_chroma_frame(w, args.frame_workers)))
    servers.append(("chroma run (chromadb 1.5.9)", start_chroma))
    results: dict[str, list[tuple[Phase, Phase, str]]] = {name: [] for name, _ in servers}
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        for round_no in range(args.rounds):
            shift = round_no % len(servers)
            for name, starter in servers[shift:] + servers[:shift]:
                work = Path(tmp) / f"round-{round_no}"
                work.mkdir(exist_ok=True)
                before = _load()
                started = starter(work)
                if started is None:
                    print(f"skipping {name}: the chroma CLI is not installed", file=sys.stderr)
                    continue
                proc, url = started
                try:
                    wait_ready(url, proc)
                    adds, queries = bench(url, args)
                finally:
                    stop(proc)
                results[name].append((adds, queries, f"{before} -> {_load()}"))
                print(f"round {round_no + 1} {name}: {adds.per_second:.1f} adds/s p50 {adds.p50_ms:.1f} ms "
                      f"p99 {adds.p99_ms:.1f} ms; {queries.per_second:.1f} queries/s p50 {queries.p50_ms:.2f} ms "
                      f"p99 {queries.p99_ms:.2f} ms", file=sys.stderr)
    text = report({name: runs for name, runs in results.items() if runs}, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
