"""SQL views: time and memory of ``client.sql`` queries over a 50k-row, 384-d collection.

Builds the collection once (synthetic, numpy; or ``--docs`` a Parquet file such as
pypi_docs_50k.parquet), then runs each query in a fresh process that opens the persisted
collection: first call (includes putting the view in place), second call, peak RSS of the process
over the query, and the peak of pyarrow's memory pool (what the view built). Writes
``benchmarks/results/sql.md``.

    .venv/bin/python benchmarks/bench_sql.py [--rows 50000] [--dim 384] [--docs file.parquet]
        [--code DIR]   # import chroma_frame from DIR (e.g. an export of another revision)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sql.md"
QUERIES = {
    "filter + limit, no embeddings": "SELECT id FROM docs WHERE kind = 'x' LIMIT 5",
    "group by, no embeddings": "SELECT kind, count(*) AS n, avg(year) AS y FROM docs GROUP BY kind",
    "one row with its embedding": "SELECT id, embedding FROM docs WHERE id = 'row-00012345'",
    "every column, every row": "SELECT * FROM docs",
}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build(path: str, rows: int, dim: int, docs: str | None) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    import chroma_frame as chromadb

    col = chromadb.PersistentClient(path).create_collection("docs", embedding_function=None)
    col._store.index.auto_build = False  # no search graph: the queries here do not search
    if docs:
        table = pq.read_table(docs)
        kinds = np.array(["x", "y", "z", "w", "v", "u", "t", "s", "r", "q"])[np.arange(table.num_rows) % 10]
        table = table.append_column("kind", pa.array(kinds)).append_column("year", pa.array(np.arange(table.num_rows) % 30))
    else:
        rng = np.random.default_rng(0)
        idx = np.arange(rows)
        table = pa.table({
            "id": [f"row-{i:08d}" for i in idx],
            "document": [f"synthetic document number {i}" for i in idx],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(rng.standard_normal(rows * dim, dtype=np.float32)), dim),
            "kind": np.array(["x", "y", "z", "w", "v", "u", "t", "s", "r", "q"])[idx % 10],
            "year": 1995 + idx % 30,
            "score": rng.random(rows),
            "flag": idx % 2 == 0,
        })
    col.ingest(table, progress=False)
    col.compact()


def child(path: str, query: str) -> dict:
    import pyarrow as pa

    import chroma_frame as chromadb

    client = chromadb.PersistentClient(path)
    client.get_collection("docs").count()  # the collection is open: its blockfiles are mapped
    client.sql("SELECT 42").fetchall()  # DuckDB imported, the client's connection set up
    pool = pa.default_memory_pool()
    before_rss, before_pool = rss_mb(), pool.max_memory()
    start = time.perf_counter()
    first = client.sql(query).arrow().read_all()
    first_s = time.perf_counter() - start
    peak_first = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    client.sql(query).arrow().read_all()
    second_s = time.perf_counter() - start
    return {"rows": first.num_rows, "first_s": first_s, "second_s": second_s, "rss_before_mb": before_rss,
            "peak_rss_mb": peak_first, "arrow_pool_peak_mb": (pool.max_memory() - before_pool) / 2**20,
            "arrow_pool_after_mb": pool.bytes_allocated() / 2**20}


def run_child(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": code}
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env,
                          timeout=1800, cwd=tempfile.gettempdir())
    if proc.returncode:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--docs", help="a Parquet file with id, document, embedding (kind/year are added)")
    parser.add_argument("--code", default=str(ROOT), help="where to import chroma_frame from")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "build":
            build(rest[0], int(rest[1]), int(rest[2]), rest[3] or None)
            print("{}")
        else:
            print(json.dumps(child(rest[0], rest[1])))
        return

    work = tempfile.mkdtemp(prefix="bench_sql_")
    try:
        load_before = os.getloadavg()
        run_child(args.code, "build", work, str(args.rows), str(args.dim), args.docs or "")
        results = {}
        for name, query in QUERIES.items():
            results[name] = run_child(args.code, "query", work, query)
            r = results[name]
            print(f"{name}: {r['rows']} rows, first {r['first_s'] * 1000:.0f} ms, second {r['second_s'] * 1000:.0f} ms, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB (before {r['rss_before_mb']:.0f}), "
                  f"Arrow pool peak {r['arrow_pool_peak_mb']:.1f} MB", flush=True)
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    source = f"`{Path(args.docs).name}`" if args.docs else f"synthetic ({args.rows:,} rows, {args.dim}-d float32)"
    lines = [
        "# SQL views benchmark",
        "",
        f"`benchmarks/bench_sql.py`, {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.1f} before / {load_after[0]:.1f} after; code from `{args.code}`.",
        "",
        f"Collection: {source}, compacted into blockfiles. Each query runs in a fresh process that has "
        "opened the collection and run `SELECT 42` (RSS before = after that: DuckDB loaded). First call = "
        "the view is put in place and the query runs; second call = the same query again. Arrow memory "
        "peak = growth of the peak of pyarrow's memory pool over the two calls.",
        "",
        "| query | rows | first call (ms) | second call (ms) | RSS before (MB) | peak RSS (MB) | Arrow memory peak (MB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results.items():
        lines.append(f"| {name}: `{QUERIES[name]}` | {r['rows']:,} | {r['first_s'] * 1000:,.0f} | "
                     f"{r['second_s'] * 1000:,.0f} | {r['rss_before_mb']:,.0f} | {r['peak_rss_mb']:,.0f} | "
                     f"{r['arrow_pool_peak_mb']:,.1f} |")
    lines.append("")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
