"""Storage backends side by side: a local folder and S3 (moto's server on loopback), same data, same run.

    python benchmarks/bench_storage.py [--rows 50000] [--dim 384] [--backends local,s3] [--out FILE.md]

For each backend: ``ingest()`` of the clustered data (benchmarks/scale_data.py) and the wait for
its graphs; a query's p50 warm (same process), then cold (a new process: open + first query) with
an empty cache and with a warm cache (S3); commit latency (single-row ``add``); commits per second
with 1, 2 and 4 processes writing one collection at once (each loses races and re-plans);
``fork()`` time; ``vacuum()``. moto keeps objects in memory and answers on loopback: S3's network
latency (a few ms per request) is not in these figures, its request count is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale_data import ClusteredData  # noqa: E402

import chroma_frame  # noqa: E402

COLD = r"""
import json, sys, time
t0 = time.perf_counter()
import chroma_frame
url, settings, query = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
col = chroma_frame.PersistentClient(path=url, settings=chroma_frame.Settings(**settings)).get_collection("bench")
col.query(query_embeddings=[query], n_results=10)
t1 = time.perf_counter()
col.query(query_embeddings=[query], n_results=10)
print(json.dumps({"cold": t1 - t0, "second": time.perf_counter() - t1}))
"""

WRITER = r"""
import json, sys, time
import chroma_frame
url, settings, tag, n = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
col = chroma_frame.PersistentClient(path=url, settings=chroma_frame.Settings(**settings)).get_collection("commits")
start = float(sys.argv[5])
while time.time() < start:
    time.sleep(0.001)
t0 = time.perf_counter()
for i in range(n):
    col.upsert(ids=[f"{tag}{i}"], embeddings=[[float(i), 1.0, 2.0, 3.0]])
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def backend(kind: str, endpoint, work: Path, tag: str) -> tuple[str, dict]:
    """(path, settings) of a fresh root on ``kind``."""
    if kind == "local":
        return str(work / f"{kind}-{tag}"), {}
    return endpoint.url(f"bench-{tag}-{os.getpid()}"), {
        "s3_endpoint_url": endpoint.endpoint_url, "s3_access_key_id": "testing", "s3_secret_access_key": "testing",
        "s3_cache_dir": str(work / f"cache-{tag}")}


def query_p50_ms(col, queries: np.ndarray) -> float:
    """Median time of one query at a time, ten results each."""
    times = []
    for q in queries:
        t = time.perf_counter()
        col.query(query_embeddings=[q.tolist()], n_results=10)
        times.append(time.perf_counter() - t)
    return ms(statistics.median(times))


def client(path: str, settings: dict, **extra) -> chroma_frame.ClientAPI:
    return chroma_frame.PersistentClient(path=path, settings=chroma_frame.Settings(**settings, **extra))


def run_backend(kind: str, endpoint, work: Path, data: ClusteredData, queries: np.ndarray) -> dict:
    out: dict = {}
    path, settings = backend(kind, endpoint, work, "main")
    col = client(path, settings).create_collection("bench", configuration={"hnsw": {"space": "cosine"}})
    t = time.perf_counter()
    col.ingest(pa.Table.from_batches(list(data.batches())), progress=False)
    out["ingest_s"] = round(time.perf_counter() - t, 2)
    out["ingest_rows_s"] = round(data.rows / out["ingest_s"])
    t = time.perf_counter()
    col.wait_for_index(timeout=3600)
    out["index_s"] = round(time.perf_counter() - t, 2)
    log(f"{kind}: ingest {out['ingest_s']} s, index {out['index_s']} s")

    out["query_p50_ms"] = query_p50_ms(col, queries)
    chroma_frame.Client.clear_system_cache()
    relaxed = client(path, settings, refresh_interval=1.0).get_collection("bench")
    relaxed.query(query_embeddings=[queries[0].tolist()], n_results=10)
    out["query_relaxed_p50_ms"] = query_p50_ms(relaxed, queries)

    chroma_frame.Client.clear_system_cache()
    colds = {}
    for label in (["cold cache", "warm cache"] if kind == "s3" else ["local"]):
        if label == "cold cache":
            shutil.rmtree(settings["s3_cache_dir"], ignore_errors=True)
        res = subprocess.run([sys.executable, "-c", COLD, path, json.dumps(settings), json.dumps(queries[0].tolist())],
                             capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if res.returncode:
            raise RuntimeError(res.stderr)
        got = json.loads(res.stdout)
        colds[label] = {"open_and_first_query_s": round(got["cold"], 3), "second_query_ms": ms(got["second"])}
    out["cold"] = colds
    log(f"{kind}: query p50 {out['query_p50_ms']} ms, cold {colds}")

    col = client(path, settings).get_collection("bench")
    t = time.perf_counter()
    fork = col.fork("bench-fork")
    out["fork_s"] = round(time.perf_counter() - t, 3)
    assert fork.count() == col.count()

    # commits: latency alone, then throughput with several writers
    cpath, csettings = backend(kind, endpoint, work, "commits")
    ccol = client(cpath, csettings).create_collection("commits", embedding_function=None)
    lat = []
    for i in range(200):
        t = time.perf_counter()
        ccol.add(ids=[f"solo{i}"], embeddings=[[float(i), 1.0, 2.0, 3.0]])
        lat.append(time.perf_counter() - t)
    out["commit_p50_ms"] = ms(statistics.median(lat))
    out["commit_p95_ms"] = ms(float(np.percentile(lat, 95)))
    rates = {}
    for writers in (1, 2, 4):
        n = 100
        start = time.time() + 3.0  # every writer imported and opened before the first commit
        procs = [subprocess.Popen([sys.executable, "-c", WRITER, cpath, json.dumps(csettings), f"w{writers}-{j}-",
                                   str(n), str(start)], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)}) for j in range(writers)]
        spans = [json.loads(p.communicate(timeout=600)[0])["seconds"] for p in procs]
        rates[writers] = round(writers * n / max(spans))
    out["commits_per_s"] = rates
    log(f"{kind}: commit p50 {out['commit_p50_ms']} ms, commits/s {rates}, fork {out['fork_s']} s")

    main = client(path, settings)
    t = time.perf_counter()
    freed = main.vacuum(older_than=0)
    out["vacuum_s"] = round(time.perf_counter() - t, 3)
    out["vacuum_freed_mb"] = round(freed["bytes"] / 2**20, 1)
    return out


def markdown(report: dict) -> str:
    lines = [f"# bench_storage: {report['rows']:,} rows x {report['dim']} (clustered), {report['date']}", "",
             f"`{report['command']}`; load before {report['load']}", "",
             "| figure | " + " | ".join(report["results"]) + " |",
             "| --- | " + " | ".join("---" for _ in report["results"]) + " |"]
    rows = [("ingest (s)", lambda r: r["ingest_s"]), ("ingest rows/s", lambda r: f"{r['ingest_rows_s']:,}"),
            ("graphs built (s)", lambda r: r["index_s"]), ("query p50, warm (ms)", lambda r: r["query_p50_ms"]),
            ("query p50, warm, refresh_interval=1 s (ms)", lambda r: r["query_relaxed_p50_ms"]),
            ("new process: open + first query (s)",
             lambda r: "; ".join(f"{k} {v['open_and_first_query_s']}" for k, v in r["cold"].items())),
            ("commit p50 / p95 (ms)", lambda r: f"{r['commit_p50_ms']} / {r['commit_p95_ms']}"),
            ("commits/s with 1 / 2 / 4 writers", lambda r: " / ".join(str(v) for v in r["commits_per_s"].values())),
            ("fork (s)", lambda r: r["fork_s"]),
            ("vacuum(older_than=0): s, MB freed", lambda r: f"{r['vacuum_s']}, {r['vacuum_freed_mb']}")]
    for label, get in rows:
        lines.append(f"| {label} | " + " | ".join(str(get(r)) for r in report["results"].values()) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--backends", default="local,s3")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed after)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-storage-"))
    data = ClusteredData(args.rows, args.dim)
    queries = data.queries(args.queries)
    report = {"rows": args.rows, "dim": args.dim, "date": time.strftime("%Y-%m-%d %H:%M"),
              "command": "python " + " ".join(sys.argv), "load": os.getloadavg()[:3], "results": {}}
    from tests.storage.s3_server import moto_s3

    try:
        with moto_s3() as endpoint:
            for kind in args.backends.split(","):
                report["results"][kind] = run_backend(kind, endpoint, work, data, queries)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    text = markdown(report)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n```json\n" + json.dumps(report, indent=1) + "\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
