"""Several ``chroma-frame run`` processes over one collection, queried through a round-robin "load balancer".

    python benchmarks/bench_serving.py [--rows 50000] [--dim 384] [--servers 1,2] [--clients 4]
        [--refresh-intervals 0,1] [--backends s3,local] [--seconds 10] [--write-fraction 0.1] [--rounds 2]

The clustered data (benchmarks/scale_data.py) is ingested once per backend (S3: moto's server on
loopback; local: a folder) and its graphs built. Then for each refresh interval and each server
count N: N server processes are started over that root (each with its own S3 cache folder, as on
separate machines), and ``--clients`` client processes send requests for ``--seconds``, each client
alternating between the servers request by request (what a load balancer without sticky sessions
does). Phase "read": single-vector queries (n_results=10, metadatas, documents and distances).
Phase "mixed": the same, with a ``--write-fraction`` of the requests replaced by upserts of
``--write-batch`` existing records (new vectors), committed through whichever server gets them.
Each measurement runs on its own fork of the loaded collection (copy-on-write), so none starts
with the writes of the one before.
The table gives requests per second and client-side p50/p99 latency, the CPU the servers, the
clients and this process (which runs moto) used during the read phase, and the servers' CPU time
per query (the figure that does not depend on what else runs on the machine): the median of
``--rounds`` rounds, the server counts in a rotated order each round.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import httpx
import numpy as np
import orjson
import psutil
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_server import C, Phase, free_port, stop, wait_ready  # noqa: E402
from scale_data import ClusteredData  # noqa: E402

NAME = "serving"
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


@dataclass
class Root:
    """A loaded storage root: its path, the settings a library client needs, the server env."""

    kind: str
    path: str
    settings: dict
    env: dict[str, str] = field(default_factory=dict)
    collection: Any = None  # the loaded collection (a library handle)
    forks: int = 0

    def fork(self) -> str:
        """A fresh copy of the loaded collection (copy-on-write), so that every measurement starts
        from the same state, not from the writes of the mixed phases before it."""
        self.forks += 1
        name = f"{NAME}-{self.forks}"
        self.collection.fork(name)
        return name


def load(kind: str, endpoint, work: Path, data: ClusteredData) -> Root:
    if kind == "local":
        root = Root(kind, str(work / "local"), {})
    else:
        root = Root(kind, endpoint.url(f"serving-{os.getpid()}"),
                    {"s3_endpoint_url": endpoint.endpoint_url, "s3_access_key_id": "testing",
                     "s3_secret_access_key": "testing", "s3_cache_dir": str(work / "cache-loader")},
                    {"AWS_ENDPOINT_URL": endpoint.endpoint_url, **S3_ENV})
    import chroma_frame

    client = chroma_frame.PersistentClient(path=root.path, settings=chroma_frame.Settings(**root.settings))
    col = client.create_collection(NAME, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None)
    t = time.perf_counter()
    col.ingest(pa.Table.from_batches(list(data.batches())), progress=False)
    col.wait_for_index(timeout=3600)
    print(f"{kind}: {data.rows:,} rows ingested and indexed in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    root.collection = col
    return root


def start_servers(root: Root, n: int, refresh: float, work: Path) -> list[tuple[subprocess.Popen, str]]:
    started = []
    for i in range(n):
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), **root.env, "S3_CACHE_DIR": str(work / f"cache-server{i}")}
        cmd = [sys.executable, "-m", "chroma_frame", "run", "--path", root.path, "--host", "127.0.0.1",
               "--port", str(port), "--refresh-interval", str(refresh)]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append((proc, f"http://127.0.0.1:{port}"))
    for proc, url in started:
        wait_ready(url, proc)
    return started


# -- client processes ------------------------------------------------------------------------------


def _client(urls: list[str], cid: str, worker: int, rows: int, dim: int, write_fraction: float,
            write_batch: int, start: float, deadline: float, out: "mp.Queue") -> None:
    """Queries (and, with ``write_fraction``, upserts), alternating over ``urls`` request by request."""
    rng = np.random.default_rng(1000 + worker)
    reads: list[float] = []
    writes: list[float] = []
    https = [httpx.Client(base_url=u, timeout=120, headers={"content-type": "application/json"}) for u in urls]
    request = worker  # clients start on different servers
    while time.time() < start:
        time.sleep(0.001)
    try:
        while time.time() < deadline:
            http = https[request % len(https)]
            request += 1
            if write_fraction and rng.random() < write_fraction:
                ids = [f"r{i}" for i in rng.integers(0, rows, write_batch)]
                body = orjson.dumps({"ids": list(dict.fromkeys(ids)),
                                     "embeddings": _unit(rng, len(set(ids)), dim).tolist()})
                t0 = time.perf_counter()
                r = http.post(f"{C}/{cid}/upsert", content=body)
                writes.append(time.perf_counter() - t0)
            else:
                body = orjson.dumps({"query_embeddings": _unit(rng, 1, dim).tolist(), "n_results": 10,
                                     "include": ["metadatas", "documents", "distances"]})
                t0 = time.perf_counter()
                r = http.post(f"{C}/{cid}/query", content=body)
                reads.append(time.perf_counter() - t0)
            if r.status_code >= 300:
                raise RuntimeError(f"{r.request.url}: {r.status_code} {r.text[:200]}")
    finally:
        for http in https:
            http.close()
    out.put((reads, writes))


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    m = rng.standard_normal((n, dim), dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def _phase(latencies: list[float], seconds: float) -> Phase:
    ms = np.asarray(latencies or [0.0]) * 1000
    return Phase(len(latencies), seconds, float(np.percentile(ms, 50)), float(np.percentile(ms, 99)))


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


@dataclass
class Run:
    reads: Phase
    writes: Optional[Phase]
    cpu: dict[str, float]  # CPU seconds per second of the phase: servers, clients, driver (moto)
    load: float = 0.0  # the machine's 1-minute load average when the phase started

    @property
    def server_ms_per_request(self) -> float:
        done = self.reads.requests + (self.writes.requests if self.writes else 0)
        return self.cpu["servers"] * self.reads.seconds / done * 1000 if done else 0.0


def drive(urls: list[str], servers: list[subprocess.Popen], cid: str, args: argparse.Namespace,
          write_fraction: float) -> Run:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start = time.time() + 2.0  # every client process imported and connected before the clock starts
    deadline = start + args.seconds
    clients = [ctx.Process(target=_client, args=(urls, cid, w, args.rows, args.dim, write_fraction,
                                                   args.write_batch, start, deadline, out))
               for w in range(args.clients)]
    for p in clients:
        p.start()
    server_ps = [psutil.Process(p.pid) for p in servers]
    client_ps = [psutil.Process(p.pid) for p in clients]
    me = psutil.Process()
    load = os.getloadavg()[0]
    while time.time() < start:
        time.sleep(0.001)
    before = (_cpu(server_ps), _cpu(client_ps), _cpu([me]))
    time.sleep(max(0.0, deadline - time.time()))
    after = (_cpu(server_ps), _cpu(client_ps), _cpu([me]))
    reads: list[float] = []
    writes: list[float] = []
    for _ in clients:
        r, w = out.get(timeout=600)
        reads += r
        writes += w
    for p in clients:
        p.join()
        if p.exitcode:
            raise RuntimeError("a client process failed")
    cpu = {k: (a - b) / args.seconds for k, a, b in zip(("servers", "clients", "driver"), after, before)}
    return Run(_phase(reads, args.seconds), _phase(writes, args.seconds) if write_fraction else None, cpu, load)


def collection_id(url: str, name: str) -> str:
    r = httpx.get(f"{url}{C}/{name}", timeout=60)
    r.raise_for_status()
    return r.json()["id"]


def warm(urls: list[str], cid: str, dim: int, n: int = 50) -> None:
    """Each server's first queries load the graphs (and fill its S3 cache): not measured."""
    rng = np.random.default_rng(7)
    for url in urls:
        with httpx.Client(base_url=url, timeout=120, headers={"content-type": "application/json"}) as http:
            for _ in range(n):
                http.post(f"{C}/{cid}/query", content=orjson.dumps(
                    {"query_embeddings": _unit(rng, 1, dim).tolist(), "n_results": 10})).raise_for_status()


def _median(runs: list[Run], figure: Callable[[Run], float]) -> float:
    return float(np.median([figure(r) for r in runs]))


FIGURES: list[tuple[str, Callable[[Run], float], str]] = [  # (heading, figure of a read or mixed run, format)
    ("read q/s", lambda r: r.reads.per_second, ".0f"),
    ("read p50 ms", lambda r: r.reads.p50_ms, ".1f"),
    ("read p99 ms", lambda r: r.reads.p99_ms, ".1f"),
    ("server CPU ms/query", lambda r: r.server_ms_per_request, ".2f"),
    ("mixed q/s", lambda r: r.reads.per_second, ".0f"),
    ("mixed q p50 ms", lambda r: r.reads.p50_ms, ".1f"),
    ("writes/s", lambda r: r.writes.per_second if r.writes else 0.0, ".1f"),
    ("write p50 ms", lambda r: r.writes.p50_ms if r.writes else 0.0, ".1f"),
    ("write p99 ms", lambda r: r.writes.p99_ms if r.writes else 0.0, ".1f"),
]
_READ_FIGURES = 4  # the first four are of the read phase, the rest of the mixed phase


def report(results: dict[tuple[str, float, int], list[tuple[Run, Run]]], args: argparse.Namespace) -> str:
    lines = [
        f"# Serving: 1 and 2 `chroma-frame run` processes over one collection ({args.rows:,} x {args.dim})",
        "",
        f"`python benchmarks/bench_serving.py {' '.join(sys.argv[1:])}` on {platform.platform()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        f"{args.clients} client processes, each alternating between the servers request by request, "
        f"{args.seconds:.0f} s per phase. *read*: single-vector queries (n_results=10, with metadatas, "
        f"documents, distances). *mixed*: {args.write_fraction:.0%} of the requests are upserts of "
        f"{args.write_batch} existing records instead. Latency is seen by the client. *server CPU "
        "ms/query*: CPU time of all server processes during the read phase per query answered. "
        f"Median of {args.rounds} round(s).",
        "",
        "| backend | refresh_interval | servers | " + " | ".join(h for h, _, _ in FIGURES) + " |",
        "| --- " * (3 + len(FIGURES)) + "|",
    ]
    for (kind, refresh, n), runs in results.items():
        cells = [format(_median([r[0] if i < _READ_FIGURES else r[1] for r in runs], f), fmt)
                 for i, (_, f, fmt) in enumerate(FIGURES)]
        lines.append(f"| {kind} | {refresh:g} s | {n} | " + " | ".join(cells) + " |")
    lines += ["", "Each round, read phase: queries/s; cores busy in servers / client processes / driver "
              "(moto, for s3); the machine's 1-minute load average at the start:", ""]
    for (kind, refresh, n), runs in results.items():
        rounds = "; ".join(f"{r.reads.per_second:.0f} q/s, cores "
                           + "/".join(f"{r.cpu[k]:.2f}" for k in ("servers", "clients", "driver"))
                           + f", load {r.load:.1f}" for r, _ in runs)
        lines.append(f"- {kind}, refresh {refresh:g} s, {n} server(s): {rounds}")
    return "\n".join(lines) + "\n"


def measure(root: Root, n: int, refresh: float, work: Path, args: argparse.Namespace) -> tuple[Run, Run]:
    """A read phase and a mixed phase against ``n`` fresh servers over ``root``."""
    name = root.fork()
    started = start_servers(root, n, refresh, work)
    try:
        urls = [url for _, url in started]
        cid = collection_id(urls[0], name)
        warm(urls, cid, args.dim)
        procs = [p for p, _ in started]
        read = drive(urls, procs, cid, args, 0.0)
        mixed = drive(urls, procs, cid, args, args.write_fraction)
    finally:
        for proc, _ in started:
            stop(proc)
    assert mixed.writes is not None
    print(f"{root.kind} refresh {refresh:g} s, {n} server(s): {read.reads.per_second:.0f} q/s "
          f"(p50 {read.reads.p50_ms:.1f} ms, {read.server_ms_per_request:.2f} server CPU ms/query); mixed "
          f"{mixed.reads.per_second:.0f} q/s + {mixed.writes.per_second:.1f} writes/s; load {read.load:.1f}",
          file=sys.stderr)
    return read, mixed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="records in the collection")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--servers", default="1,2", help="server process counts to measure (comma separated)")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--refresh-intervals", default="0,1", help="servers' --refresh-interval values (seconds)")
    parser.add_argument("--backends", default="s3", help="s3 (moto on loopback) and/or local (comma separated)")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    parser.add_argument("--write-fraction", type=float, default=0.1, help="share of upserts in the mixed phase")
    parser.add_argument("--write-batch", type=int, default=10, help="records per upsert")
    parser.add_argument("--rounds", type=int, default=2, help="repeat, the server counts in a rotated order")
    parser.add_argument("--out", default=None, help="Markdown file (default: benchmarks/results/serving-<rows>.md)")
    args = parser.parse_args()
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"serving-{args.rows // 1000}k.md")
    data = ClusteredData(args.rows, args.dim)
    counts = [int(c) for c in args.servers.split(",")]
    results: dict[tuple[str, float, int], list[tuple[Run, Run]]] = {}
    from tests.storage.s3_server import moto_s3

    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    try:
        with moto_s3() as endpoint:
            for kind in args.backends.split(","):
                root = load(kind, endpoint, work, data)
                for refresh in (float(r) for r in args.refresh_intervals.split(",")):
                    for round_no in range(args.rounds):
                        shift = round_no % len(counts)
                        for n in counts[shift:] + counts[:shift]:
                            results.setdefault((kind, refresh, n), []).append(measure(root, n, refresh, work, args))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = report({k: results[k] for k in sorted(results)}, args)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
