"""knn_join throughput on Ray against one process's collection.query (the same queries, same answers).

    python benchmarks/bench_ray_knn.py --path /tmp/bench_ray_knn [--rows 100000] [--dim 384]
        [--queries 10000] [--k 10] [--cpus 1 2] [--batch-size 1000] [--groups 2]

Builds the collection once (``scale_data.ClusteredData``: clustered unit vectors with
near-duplicates; cosine; compacted and indexed), then times ``collection.query`` on every query
in one call (one process), and ``knn_join`` over a Ray dataset of the queries with a fresh
``ray.init(num_cpus=n)`` per CPU count, each in its own process (one actor per CPU). Ray times
are wall clock from ``knn_join`` to the last hit, actor start and collection open included (the
first run in a session also starts the worker processes; "seconds" is the second run);
"agree" is the share of queries whose hit ids equal the single process's. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "bench_ray_knn"


def build(args: argparse.Namespace) -> None:
    from scale_data import ClusteredData

    import chroma_frame

    client = chroma_frame.PersistentClient(args.path)
    if NAME in [c.name for c in client.list_collections()]:
        col = client.get_collection(NAME)
        if col.count() == args.rows:
            return
        client.delete_collection(NAME)
    col = client.create_collection(NAME, configuration={"hnsw": {"space": "cosine"}})
    started = time.perf_counter()
    data = ClusteredData(args.rows, dim=args.dim)
    col.ingest(pa.Table.from_batches(list(data.batches())).select(["id", "embedding", "shard", "year", "category"]),
               progress=False)
    col.compact()
    col.build_index()
    print(f"built {args.rows:,} x {args.dim} in {time.perf_counter() - started:.1f} s: {col.index_status()}",
          file=sys.stderr)


def queries(args: argparse.Namespace) -> np.ndarray:
    from scale_data import ClusteredData

    data = ClusteredData(args.rows, dim=args.dim)
    rounds = range(-(-args.queries // data.groups))  # each round: at most one query per group
    return np.concatenate([data.queries(min(data.groups, args.queries - r * data.groups), seed=1 + r)
                           for r in rounds])


def single(args: argparse.Namespace) -> dict:
    import chroma_frame

    col = chroma_frame.PersistentClient(args.path).get_collection(NAME)
    q = queries(args)
    col.wait_for_index(600)
    col.query(query_embeddings=q[:10], n_results=args.k)  # warm: kernels loaded, files mapped
    started = time.perf_counter()
    result = col.query(query_embeddings=q, n_results=args.k, include=["distances"])
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "ids": result["ids"]}


def on_ray(args: argparse.Namespace, cpus: int, groups: int | None) -> dict:
    import ray

    from chroma_frame.ray import knn_join

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": ROOT}})
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        q = queries(args)
        table = pa.table({"qid": np.arange(len(q)),
                          "embedding": pa.FixedSizeListArray.from_arrays(pa.array(q.reshape(-1)), args.dim)})
        dataset = ray.data.from_arrow(table).repartition(max(1, len(q) // args.batch_size)).materialize()
        times = []
        for _ in range(2):  # the first run starts the worker processes; the second reuses them
            started = time.perf_counter()
            hits = knn_join(dataset, args.path, NAME, k=args.k, batch_size=args.batch_size, concurrency=cpus,
                            groups=groups)
            result = pa.concat_tables(ray.get(hits.to_arrow_refs()))
            times.append(time.perf_counter() - started)
    finally:
        ray.shutdown()
    result = result.sort_by([("qid", "ascending"), ("rank", "ascending")])
    ids = result.column("id").to_pylist()
    counts = np.bincount(result.column("qid").to_numpy(), minlength=len(q))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return {"seconds": times[1], "first": times[0], "ids": [ids[a:b] for a, b in zip(bounds[:-1], bounds[1:])]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default="/tmp/bench_ray_knn")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--cpus", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=None, help="also time knn_join with this many groups")
    parser.add_argument("--run", choices=["single", "ray"], help=argparse.SUPPRESS)  # one measurement, in a child
    parser.add_argument("--run-cpus", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--run-groups", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        found = single(args) if args.run == "single" else on_ray(args, args.run_cpus, args.run_groups)
        print(json.dumps(found))
        return
    build(args)
    base = [sys.executable, os.path.abspath(__file__), "--path", args.path, "--rows", str(args.rows), "--dim",
            str(args.dim), "--queries", str(args.queries), "--k", str(args.k), "--batch-size", str(args.batch_size)]

    def child(*extra: str) -> dict:
        env = {**os.environ, "PYTHONPATH": ROOT}
        out = subprocess.run([*base, *extra], capture_output=True, text=True, env=env, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    reference = child("--run", "single")
    rows = [("collection.query, one process", "-", "-", reference["seconds"], 1.0)]
    runs = [(cpus, None) for cpus in args.cpus] + ([(max(args.cpus), args.groups)] if args.groups else [])
    for cpus, groups in runs:
        found = child("--run", "ray", "--run-cpus", str(cpus), *(["--run-groups", str(groups)] if groups else []))
        agree = np.mean([a == b for a, b in zip(found["ids"], reference["ids"])])
        label = f"knn_join, {cpus} CPU{'s' if cpus > 1 else ''}" + (f", groups={groups}" if groups else "")
        rows.append((label, f"{agree:.4f}", f"{found['first']:.2f}", found["seconds"], reference["seconds"] / found["seconds"]))
    print(f"\n{args.rows:,} x {args.dim} (cosine, indexed), {args.queries:,} queries, k={args.k}, "
          f"batch {args.batch_size}\n")
    print("| run | agree | first run s | seconds | queries/s | vs one process |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, agree, first, seconds, ratio in rows:
        print(f"| {label} | {agree} | {first} | {seconds:.2f} | {args.queries / seconds:,.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
