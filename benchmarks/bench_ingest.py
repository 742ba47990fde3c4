"""Bulk ingest: chroma-frame's ``collection.ingest`` vs chromadb ``add`` (batches of 5,000) vs LanceDB
``create_table``, from the same Parquet file, in one run; plus peak RSS of a synthetic 1M-row ingest.

Every measurement runs in a fresh child process (clean peak RSS, no shared caches). Writes
``benchmarks/results/ingest.md``.

    .venv/bin/python benchmarks/bench_ingest.py [--repeat 3] [--synthetic 1000000] [--skip-chromadb]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "pypi_docs_50k.parquet"
RESULTS = ROOT / "benchmarks" / "results" / "ingest.md"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class AnonPeak:
    """Peak anonymous RSS (``RssAnon``: heap, not pages of memory-mapped files), sampled every 20 ms.

    ``ru_maxrss`` also counts the pages of memory-mapped blockfiles a process has touched; those are
    file-backed and the kernel drops them under pressure, so bounded memory is judged on this one.
    """

    def __init__(self) -> None:
        import threading

        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._sample()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._sample()
        return self.peak_kb / 1024


# -- children -----------------------------------------------------------------------------------

def child_frame(path: str, from_table: bool) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import chroma_frame as chromadb

    workdir = tempfile.mkdtemp(dir=os.environ.get("BENCH_TMP"))
    client = chromadb.PersistentClient(workdir)
    col = client.create_collection("docs", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
    col._store.index.auto_build = False  # like LanceDB without an index: no graph build in the background
    # pyarrow imports pandas (when installed) on its first array conversion, a one-off ~0.3 s that
    # `import lancedb` pays before LanceDB's timed region: pay it here too, outside the timing.
    pa.array([0])
    source = pq.read_table(path) if from_table else path
    start = time.perf_counter()
    summary = col.ingest(source, progress=False)
    seconds = time.perf_counter() - start
    assert col.count() == summary.rows_written
    out = {"seconds": seconds, "rows": summary.rows_written, "batches": summary.batches, "peak_rss_mb": peak_rss_mb()}
    if not from_table:
        start = time.perf_counter()
        df = col.to_polars()
        out["to_polars_first_s"] = time.perf_counter() - start  # includes importing polars
        start = time.perf_counter()
        df = col.to_polars()
        out["to_polars_s"] = time.perf_counter() - start
        start = time.perf_counter()
        col.to_arrow()
        out["to_arrow_s"] = time.perf_counter() - start
        start = time.perf_counter()
        col.to_polars(include=["documents", "metadatas"])
        out["to_polars_no_embeddings_s"] = time.perf_counter() - start
        out["shape"] = list(df.shape)
    return out


def child_lance(path: str, from_table: bool) -> dict:
    import lancedb
    import pyarrow.parquet as pq

    db = lancedb.connect(tempfile.mkdtemp(dir=os.environ.get("BENCH_TMP")))
    table = pq.read_table(path) if from_table else None
    start = time.perf_counter()
    if table is None:
        table = pq.read_table(path)
    t = db.create_table("docs", data=table)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": t.count_rows(), "peak_rss_mb": peak_rss_mb()}


def child_chromadb(path: str, batch: int = 5000) -> dict:
    import chromadb
    import numpy as np
    import pyarrow.parquet as pq

    client = chromadb.PersistentClient(tempfile.mkdtemp(dir=os.environ.get("BENCH_TMP")))
    col = client.create_collection("docs", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
    start = time.perf_counter()
    table = pq.read_table(path)
    meta_cols = [c for c in table.column_names if c not in ("id", "document", "embedding")]
    add_seconds = 0.0
    for offset in range(0, table.num_rows, batch):
        part = table.slice(offset, batch)
        ids = part.column("id").to_pylist()
        docs = part.column("document").to_pylist()
        emb = np.asarray(part.column("embedding").combine_chunks().values).reshape(part.num_rows, -1)
        cols = {c: part.column(c).to_pylist() for c in meta_cols}
        metas = [{c: cols[c][i] for c in meta_cols if cols[c][i] is not None} or None for i in range(part.num_rows)]
        t = time.perf_counter()
        col.add(ids=ids, documents=docs, embeddings=emb, metadatas=metas)
        add_seconds += time.perf_counter() - t
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "add_seconds": add_seconds, "rows": col.count(), "peak_rss_mb": peak_rss_mb()}


def child_synthetic(rows: int, dim: int, batch: int, defer: bool) -> dict:
    import numpy as np
    import pyarrow as pa

    import chroma_frame as chromadb
    from chroma_frame.config import Settings

    settings = Settings(compaction_threshold_rows=10**12) if defer else None
    client = chromadb.PersistentClient(tempfile.mkdtemp(dir=os.environ.get("BENCH_TMP")), settings=settings)
    col = client.create_collection("synthetic", embedding_function=None)
    col._store.index.auto_build = False
    schema = pa.schema([("id", pa.string()), ("document", pa.string()), ("embedding", pa.list_(pa.float32(), dim)),
                        ("group", pa.int64()), ("label", pa.string())])
    rng = np.random.default_rng(0)

    def batches():  # generated on the fly: the source never exists in memory as a whole
        for start in range(0, rows, batch):
            n = min(batch, rows - start)
            idx = np.arange(start, start + n)
            yield pa.record_batch([
                pa.array([f"row-{i:08d}" for i in idx]),
                pa.array([f"synthetic document {i}" for i in idx]),
                pa.FixedSizeListArray.from_arrays(pa.array(rng.standard_normal(n * dim, dtype=np.float32)), dim),
                pa.array(idx % 100),
                pa.array([("a", "b", "c")[i % 3] for i in idx]),
            ], schema=schema)

    baseline = rss_mb()
    anon = AnonPeak()
    start = time.perf_counter()
    summary = col.ingest(pa.RecordBatchReader.from_batches(schema, batches()), batch_size=batch, progress=False)
    seconds = time.perf_counter() - start
    peak_ingest = peak_rss_mb()
    peak_anon = anon.stop()
    snap = col._store.snapshot()
    resident = sum(seg.table.nbytes for seg in snap.segments) / 2**20
    out = {"seconds": seconds, "rows": summary.rows_written, "dim": dim, "batch_size": batch, "defer": defer,
           "baseline_rss_mb": baseline, "peak_rss_mb": peak_ingest, "peak_anon_mb": peak_anon,
           "collection_in_memory_mb": resident}
    if defer:
        start = time.perf_counter()
        col.compact()
        out["compact_seconds"] = time.perf_counter() - start
        out["peak_rss_after_compact_mb"] = peak_rss_mb()
    return out


def run_child(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env,
                          timeout=3600)
    if proc.returncode:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- report --------------------------------------------------------------------------------------

def median_of(runs: list[dict], key: str = "seconds") -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--synthetic", type=int, default=1_000_000)
    parser.add_argument("--synthetic-dim", type=int, default=128)
    parser.add_argument("--skip-chromadb", action="store_true")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        out = {"frame": lambda: child_frame(rest[0], rest[1] == "table"),
               "lance": lambda: child_lance(rest[0], rest[1] == "table"),
               "chromadb": lambda: child_chromadb(rest[0]),
               "synthetic": lambda: child_synthetic(int(rest[0]), int(rest[1]), int(rest[2]), rest[3] == "defer")}[kind]()
        print(json.dumps(out))
        return

    path = str(DATA)
    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {"frame_file": [], "lance_file": [], "frame_table": [], "lance_table": []}
    for i in range(args.repeat):  # alternate, so that load on the machine hits both alike
        for name in runs:
            system, source = name.split("_")
            runs[name].append(run_child(system, path, source))
            print(name, i, f"{runs[name][-1]['seconds']:.3f}s", flush=True)
    chroma = None if args.skip_chromadb else run_child("chromadb", path)
    if chroma:
        print("chromadb", f"{chroma['seconds']:.1f}s", flush=True)
    synthetic = [run_child("synthetic", str(n), str(args.synthetic_dim), "50000", mode)
                 for n, mode in ((args.synthetic // 4, "compact"), (args.synthetic, "compact"), (args.synthetic, "defer"))]
    for s in synthetic:
        print("synthetic", s["rows"], f"{s['seconds']:.1f}s", f"peak {s['peak_rss_mb']:.0f} MB", flush=True)
    load_after = os.getloadavg()

    rows = runs["frame_file"][0]["rows"]
    rate = {k: rows / median_of(v) for k, v in runs.items()}
    lines = [
        "# Bulk ingest benchmark",
        "",
        f"`benchmarks/bench_ingest.py`, {time.strftime('%Y-%m-%d %H:%M')}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load_before[0]:.1f} before / {load_after[0]:.1f} after "
        "(a shared machine: absolute numbers are noisy, ratios come from the same run).",
        "",
        f"Source: `{DATA.name}` ({rows:,} rows: id, document, 5 metadata columns, 384-d float32 embedding; "
        f"{DATA.stat().st_size / 2**20:.0f} MB Parquet, zstd). Each measurement is a fresh process; "
        f"chroma-frame and LanceDB: median of {args.repeat} alternating runs.",
        "",
        "| system | what is timed | seconds | rows/s | peak RSS (MB) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]

    def row(name: str, what: str, runs_: list[dict]) -> None:
        s = median_of(runs_)
        lines.append(f"| {name} | {what} | {s:.2f} | {rows / s:,.0f} | {median_of(runs_, 'peak_rss_mb'):,.0f} |")

    row("chroma-frame `collection.ingest(path)`", "read file + validate + write log + compact", runs["frame_file"])
    row("LanceDB `create_table(pq.read_table(path))`", "read file + write table (no index)", runs["lance_file"])
    row("chroma-frame `collection.ingest(table)`", "table already in memory", runs["frame_table"])
    row("LanceDB `create_table(table)`", "table already in memory", runs["lance_table"])
    if chroma:
        lines.append(f"| chromadb 1.5.9 `add`, batches of 5,000 | read file + to Python lists + add | {chroma['seconds']:.1f} | "
                     f"{rows / chroma['seconds']:,.0f} | {chroma['peak_rss_mb']:,.0f} |")
        lines.append(f"| (chromadb, `add` calls only) | | {chroma['add_seconds']:.1f} | {rows / chroma['add_seconds']:,.0f} | |")
    lines += ["", "Ratios (same run):", ""]
    if chroma:
        lines.append(f"- chroma-frame from the file is **{rate['frame_file'] / (rows / chroma['seconds']):.0f}x** "
                     f"chromadb's batched `add` (target: at least 50x).")
    lines.append(f"- chroma-frame / LanceDB, from the file: **{rate['frame_file'] / rate['lance_file']:.2f}x** "
                 f"the rows/s (target: within 2x, i.e. at least 0.5x); from an in-memory table: "
                 f"**{rate['frame_table'] / rate['lance_table']:.2f}x**.")
    f0 = runs["frame_file"]
    lines += [
        "",
        "Reading back the 50k-row collection (median over the runs):",
        "",
        f"- `to_polars()`: {median_of(f0, 'to_polars_s') * 1000:.0f} ms "
        f"({median_of(f0, 'to_polars_first_s') * 1000:.0f} ms on the first call, which imports Polars); "
        f"`to_arrow()`: {median_of(f0, 'to_arrow_s') * 1000:.0f} ms; "
        f"`to_polars(include=['documents', 'metadatas'])` (no embeddings): "
        f"{median_of(f0, 'to_polars_no_embeddings_s') * 1000:.0f} ms.",
        "",
        f"Synthetic ingest (streamed from a generator, {args.synthetic_dim}-d embeddings, batches of 50,000):",
        "",
        "| rows | compaction | seconds | rows/s | RSS before (MB) | peak RSS (MB) | peak anonymous RSS (MB) | "
        "collection (Arrow MB) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in synthetic:
        how = "deferred (one `compact()` after)" if s["defer"] else "automatic (every 50k rows)"
        lines.append(f"| {s['rows']:,} | {how} | {s['seconds']:.1f} | {s['rows'] / s['seconds']:,.0f} | "
                     f"{s['baseline_rss_mb']:,.0f} | {s['peak_rss_mb']:,.0f} | {s['peak_anon_mb']:,.0f} | "
                     f"{s['collection_in_memory_mb']:,.0f} |")
    deferred = [s for s in synthetic if s["defer"]]
    if deferred:
        d = deferred[0]
        lines.append("")
        lines.append(f"The final `compact()` of the deferred run took {d['compact_seconds']:.1f} s, peak RSS "
                     f"{d['peak_rss_after_compact_mb']:,.0f} MB.")
    small, large = synthetic[0], synthetic[1]
    per_row = (large["peak_anon_mb"] - small["peak_anon_mb"]) * 2**20 / (large["rows"] - small["rows"])
    row_bytes = large["collection_in_memory_mb"] * 2**20 / large["rows"]
    lines += [
        "",
        f"Bounded? Peak anonymous memory (heap; `ru_maxrss` also counts touched pages of memory-mapped "
        f"blockfiles, which the kernel can drop) grows by {per_row:,.0f} bytes per extra row from "
        f"{small['rows']:,} to {large['rows']:,} rows, for rows of {row_bytes:,.0f} bytes: "
        + ("flat enough to call bounded (the per-id structures of the snapshot: the live mask and the id "
           "dedupe at each compaction)." if per_row < 0.5 * row_bytes else
           "not bounded. Compaction merges copy the merged blockfiles into one Arrow table before writing "
           "it, and the written blockfile is then kept as that in-memory copy instead of being "
           "memory-mapped, so the heap holds the whole collection and, during a merge, a second copy of "
           "the merged part (`engine/store.py`, `_compact_locked`)."),
        "",
        "Notes: chroma-frame writes every batch twice (the Arrow log entry, fsynced, then an Arrow IPC blockfile "
        "when the log passes the compaction threshold); the search graph is built later in a background "
        "process (disabled here, as LanceDB builds no index). chromadb builds its HNSW index during `add`.",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
