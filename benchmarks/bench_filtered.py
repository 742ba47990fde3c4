"""Filtered queries and ``get(where, limit)`` on an existing chroma-frame store: p50 latency and recall.

    python benchmarks/bench_filtered.py --path STORE --collection bench --queries queries.npy \
        [--gt 0.5%=gt_0.5%.npy --gt 5%=gt_5%.npy] [--n 40] [--planner]

Opens the store read-only in spirit (queries only) and measures, for the scale benchmark's two
filters (``benchmarks/bench_scale.py``: "0.5%" and "5%"), the p50 of single queries with
Chroma's default include and with ``include=["distances"]``, recall@10 against the given truth
(row numbers; ids are ``r<row>``), and ``get(where={"shard": 3}, limit=10)``; each once with the
per-snapshot filter cache (``engine.filter_cache``) off and once on. ``--planner`` also compares,
at several shares of the rows, the exact scan of a filter's matches with the graph walk allowed
only them (time, and the walk's recall against the scan). Report the load average with the
figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

FILTERS = {"0.5%": {"$and": [{"shard": 3}, {"year": {"$gte": 2016}}, {"year": {"$lte": 2019}}]},
           "5%": {"shard": 3}}


def _p50(run, n: int) -> float:
    times = []
    for i in range(n):
        start = time.perf_counter()
        run(i)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True)
    parser.add_argument("--collection", default="bench")
    parser.add_argument("--queries", required=True)
    parser.add_argument("--gt", action="append", default=[], help="NAME=PATH of a filter's truth")
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--planner", action="store_true")
    args = parser.parse_args()

    import chroma_frame
    from chroma_frame.engine import filter_cache

    col = chroma_frame.PersistentClient(path=args.path).get_collection(args.collection, embedding_function=None)
    queries = np.load(args.queries)
    truth = dict(item.split("=", 1) for item in args.gt)
    col.query(query_embeddings=queries[:1], n_results=10)
    col.wait_for_index(120)
    for cache in (False, True):
        filter_cache.ENABLED = cache
        for name, where in FILTERS.items():
            first = time.perf_counter()
            col.query(query_embeddings=queries[-1:], n_results=10, where=where, include=["distances"])
            first = time.perf_counter() - first
            time.sleep(2)  # the scan's 8-bit codes are made in the background
            default = _p50(lambda i: col.query(query_embeddings=queries[i:i + 1], n_results=10, where=where), args.n)
            distances = _p50(lambda i: col.query(query_embeddings=queries[i:i + 1], n_results=10, where=where,
                                                 include=["distances"]), args.n)
            recall = ""
            if name in truth:
                gt = np.load(truth[name])
                got = col.query(query_embeddings=queries[:args.n], n_results=10, where=where, include=[])["ids"]
                hits = sum(len({int(x[1:]) for x in ids} & set(gt[i][:10].tolist())) for i, ids in enumerate(got))
                recall = f", recall@10 {hits / (10 * args.n):.4f}"
            print(f"cache={cache} filter {name}: first {first * 1e3:.1f} ms, p50 {default:.2f} ms "
                  f"(distances only {distances:.2f} ms){recall}; load {os.getloadavg()[0]:.2f}")
        get = _p50(lambda i: col.get(where={"shard": 3}, limit=10), 30)
        ids = _p50(lambda i: col.get(where={"shard": 3}, limit=10, include=[]), 30)
        print(f"cache={cache} get(where, limit=10): p50 {get:.2f} ms (include=[] {ids:.2f} ms); "
              f"load {os.getloadavg()[0]:.2f}")
    if args.planner:
        _planner(col, queries, args.n)


def _planner(col, queries: np.ndarray, n: int) -> None:  # noqa: ANN001 - a chroma_frame Collection
    from chroma_frame.engine.dense_knn import search
    from chroma_frame.engine.filtered_knn import filtered_search
    from chroma_frame.filters import compile_filter, parse_filter

    engine = col._engine
    snap = engine.snapshot()
    graphs = engine._graph_search(snap)
    for shards in (1, 2, 4, 7, 10):
        where = {"shard": {"$lt": shards}}
        candidates = np.sort(engine.select(snap, None, compile_filter(parse_filter(where, None))))
        filtered_search(snap, queries[:1], 10, "cosine", candidates)
        time.sleep(1)
        recall = []

        def walk(i: int) -> None:
            found = search(snap, queries[i:i + 1], 10, "cosine", candidates, graphs)[0][0]
            exact = filtered_search(snap, queries[i:i + 1], 10, "cosine", candidates)[0][0]
            recall.append(len(set(found.tolist()) & set(exact.tolist())) / 10)

        scan = _p50(lambda i: filtered_search(snap, queries[i:i + 1], 10, "cosine", candidates), n)
        walked = _p50(lambda i: search(snap, queries[i:i + 1], 10, "cosine", candidates, graphs), n)
        for i in range(n):
            walk(i)
        print(f"share {len(candidates) / snap.count:.2f}: exact scan {scan:.2f} ms, graph walk {walked:.2f} ms "
              f"(recall {np.mean(recall):.3f}); load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
