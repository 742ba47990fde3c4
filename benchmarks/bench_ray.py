"""chroma_frame.ray on a local Ray cluster: bulk write (ingest + graphs) with 1 and 2 workers, and
``knn_join`` of a batch of queries, against the single-process path on the same data.

    python benchmarks/bench_ray.py --parquet /work/scale/clustered_1m.parquet --workers 1,2 \\
        --rows-per-file 250000 --work /work/scale/ray [--queries 100000] [--baseline] [--out FILE.md]

The Parquet file comes from ``benchmarks/scale_data.py`` (clustered 384-d vectors, documents,
metadata). Each configuration runs in its own process with its own Ray cluster
(``ray.init(num_cpus=workers)``), so "1 worker" has one core and "2 workers" two: each write
task builds its graph on the CPUs Ray gave it. Peak memory is the largest resident set of any
Ray worker process (its unique set size: the RSS of a Ray worker also counts the pages of the
object store it maps; sampled every 0.2 s), and the driver's RSS. ``--baseline`` also runs
``collection.ingest()`` + ``build_index()`` in one process (the path without Ray). ``knn_join``
is checked against ``collection.query`` on a sample of the queries.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


class PeakMemory:
    """Largest RSS of this process and largest USS (own pages) of every Ray worker process, sampled."""

    def __init__(self) -> None:
        import psutil

        self.psutil = psutil
        self.workers: dict[int, int] = {}
        self.driver = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = self.psutil.Process()
        while not self._stop.wait(0.2):
            self.driver = max(self.driver, me.memory_info().rss)
            for p in self.psutil.process_iter(["name", "cmdline"]):
                try:
                    cmd = " ".join(p.info["cmdline"] or [])
                    if p.info["name"].startswith("ray::") or "default_worker.py" in cmd:
                        # USS: the worker's own memory (its RSS also counts the object store's shared pages)
                        self.workers[p.pid] = max(self.workers.get(p.pid, 0), p.memory_full_info().uss)
                except (TypeError, AttributeError, self.psutil.Error):
                    continue

    @property
    def worker_peak(self) -> int:
        return max(self.workers.values(), default=0)


def run_one(args: argparse.Namespace, workers: int) -> dict:
    """One configuration, in this process: a Ray cluster of ``workers`` CPUs, a write, a knn_join."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray
    import ray.data
    from scale_data import ClusteredData

    import chroma_frame
    import chroma_frame.ray as cfr

    path = os.path.join(args.work, f"w{workers}")
    shutil.rmtree(path, ignore_errors=True)
    rows = pq.ParquetFile(args.parquet).metadata.num_rows
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    out: dict = {"workers": workers, "rows": rows}
    try:
        with PeakMemory() as mem:
            t0 = time.perf_counter()
            summary = cfr.write(ray.data.read_parquet(args.parquet), path, "bench", rows_per_file=args.rows_per_file,
                                configuration={"hnsw": {"space": "cosine"}})
            out["write_s"] = time.perf_counter() - t0
        out.update(rows_written=summary.rows_written, blockfiles=summary.blockfiles, graphs=summary.graphs,
                   rows_per_s=rows / out["write_s"], worker_peak=mem.worker_peak, driver_peak=mem.driver)
        col = chroma_frame.PersistentClient(path).get_collection("bench")
        assert col.count() == rows, (col.count(), rows)
        out["store_bytes"] = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
        blocks = Path(path, "collections", str(col.id), "blocks")
        out["graph_bytes"] = sum(f.stat().st_size for f in blocks.glob("*.graph.npz"))
        out["blockfile_bytes"] = sum(f.stat().st_size for f in blocks.glob("*.arrow") if f.name.count(".") == 1)
        status = col.index_status()
        out["indexed_rows"] = status["indexed_rows"]
        if args.queries:
            data = ClusteredData(rows, dim=args.dim)
            # (each call draws queries near distinct groups: more queries than groups take several calls)
            queries = np.concatenate([data.queries(min(data.groups, args.queries - lo), seed=7 + i)
                                      for i, lo in enumerate(range(0, args.queries, data.groups))])
            table = pa.table({"qid": pa.array(np.arange(len(queries)), pa.int64()),
                              "embedding": pa.FixedSizeListArray.from_arrays(pa.array(queries.reshape(-1)), args.dim)})
            # blocks are the parallelism (a block goes to one actor), made here: a repartition task
            # would wait for a CPU the actors hold on a 1-CPU cluster
            step = -(-len(queries) // (8 * workers))
            qds = ray.data.from_arrow([table.slice(lo, step) for lo in range(0, len(queries), step)])
            with PeakMemory() as mem:
                t0 = time.perf_counter()
                hits = cfr.knn_join(qds, path, "bench", k=args.k).materialize()
                out["knn_s"] = time.perf_counter() - t0
            out.update(knn_qps=args.queries / out["knn_s"], knn_rows=hits.count(), knn_worker_peak=mem.worker_peak)
            sample = hits.filter(lambda r: r["qid"] < 20).to_pandas().sort_values(["qid", "rank"])
            want = col.query(query_embeddings=queries[:20], n_results=args.k)
            got = [sample[sample.qid == i].id.tolist() for i in range(20)]
            out["knn_equal_query"] = got == want["ids"]
            t0 = time.perf_counter()
            for lo in range(0, min(len(queries), 20_000), 1000):
                col.query(query_embeddings=queries[lo:lo + 1000], n_results=args.k, include=["distances"])
            out["query_qps_one_process"] = min(len(queries), 20_000) / (time.perf_counter() - t0)
    finally:
        ray.shutdown()
    return out


def baseline(args: argparse.Namespace) -> dict:
    """``collection.ingest()`` + ``build_index()`` in one process (no Ray)."""
    import pyarrow.parquet as pq

    import chroma_frame

    path = os.path.join(args.work, "baseline")
    shutil.rmtree(path, ignore_errors=True)
    rows = pq.ParquetFile(args.parquet).metadata.num_rows
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        col = chroma_frame.PersistentClient(path, chroma_frame.Settings(index_build_policy="manual")) \
            .create_collection("bench", configuration={"hnsw": {"space": "cosine"}})
        col.ingest(args.parquet, progress=False)
        ingest = time.perf_counter() - t0
        col.build_index()
        total = time.perf_counter() - t0
    return {"rows": rows, "ingest_s": ingest, "write_s": total, "rows_per_s": rows / total,
            "driver_peak": mem.driver}


def table(results: list[dict], base: dict | None, args: argparse.Namespace) -> str:
    gib = 1 << 30
    one = next((r for r in results if r["workers"] == 1), None)
    lines = [f"Data: `{args.parquet}` ({results[0]['rows']:,} rows, dim {args.dim}); rows per blockfile "
             f"{args.rows_per_file:,}; machine: {os.cpu_count()} cores.", "",
             "| run | write + graphs (s) | rows/s | speedup vs 1 worker | blockfiles | graphs | peak USS per worker "
             "| driver peak RSS |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    if base:
        lines.append(f"| one process: ingest() + build_index() | {base['write_s']:.1f} (ingest {base['ingest_s']:.1f}) "
                     f"| {base['rows_per_s']:,.0f} | | | | | {base['driver_peak'] / gib:.2f} GiB |")
    for r in results:
        speed = f"{one['write_s'] / r['write_s']:.2f}x" if one else ""
        lines.append(f"| Ray, {r['workers']} worker(s) | {r['write_s']:.1f} | {r['rows_per_s']:,.0f} | {speed} "
                     f"| {r['blockfiles']} | {r['graphs']} | {r['worker_peak'] / gib:.2f} GiB "
                     f"| {r['driver_peak'] / gib:.2f} GiB |")
    sized = next((r for r in results if "store_bytes" in r), None)
    if sized:
        lines += ["", f"Stored: {sized['store_bytes'] / gib:.2f} GiB in all, of which blockfiles "
                  f"{sized['blockfile_bytes'] / gib:.2f} GiB ({sized['blockfile_bytes'] / sized['rows']:,.0f} B/record) "
                  f"and graphs {sized['graph_bytes'] / gib:.2f} GiB ({sized['graph_bytes'] / sized['rows']:,.0f} B/record)."]
    if any("knn_s" in r for r in results):
        lines += ["", f"knn_join of {args.queries:,} queries, k={args.k}:", "",
                  "| run | seconds | queries/s | peak USS per worker | equal to query() on 20 | "
                  "query() in one process, q/s |", "| --- | ---: | ---: | ---: | --- | ---: |"]
        for r in results:
            if "knn_s" in r:
                lines.append(f"| Ray, {r['workers']} worker(s) | {r['knn_s']:.1f} | {r['knn_qps']:,.0f} "
                             f"| {r['knn_worker_peak'] / gib:.2f} GiB | {r['knn_equal_query']} "
                             f"| {r['query_qps_one_process']:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parquet", required=True)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--rows-per-file", type=int, default=250_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--work", default="/tmp/bench_ray")
    parser.add_argument("--queries", type=int, default=0, help="knn_join this many queries (0: skip)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--out")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--one-baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    if args.one is not None:
        try:
            print("RESULT " + json.dumps(run_one(args, args.one)), flush=True)
        except BaseException:
            import traceback

            traceback.print_exc(file=sys.stdout)  # Ray may end the process before stderr is flushed
            sys.stdout.flush()
            raise
        return
    if args.one_baseline:
        print("RESULT " + json.dumps(baseline(args)))
        return
    passed = ["--parquet", args.parquet, "--rows-per-file", str(args.rows_per_file), "--dim", str(args.dim),
              "--work", args.work, "--queries", str(args.queries), "--k", str(args.k)]
    results, base = [], None
    for w in [int(x) for x in args.workers.split(",")]:
        results.append(_child(passed + ["--one", str(w)]))
        shutil.rmtree(os.path.join(args.work, f"w{w}"), ignore_errors=True)
    if args.baseline:
        base = _child(passed + ["--one-baseline"])
        shutil.rmtree(os.path.join(args.work, "baseline"), ignore_errors=True)
    text = table(results, base, args)
    print(text)
    if args.out:
        Path(args.out).write_text(f"# bench_ray\n\nCommand: `python benchmarks/bench_ray.py "
                                  f"{' '.join(sys.argv[1:])}`\n\n{text}\n")


def _child(argv: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            print(json.dumps(result), file=sys.stderr)
            return result
    raise RuntimeError(f"{argv}: no result\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")


if __name__ == "__main__":
    main()
