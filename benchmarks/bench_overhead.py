"""Per-query overhead of the library: one `collection.query` with Chroma's default include.

    python benchmarks/bench_overhead.py [--rows 50000] [--dim 384] [--queries 2000]

Random vectors, added in batches of 5,000, compacted, graphs waited for; then the median and p10
of single queries (`n_results=10`). With `--rows 1000` the collection is scanned exactly and the
figure is mostly overhead: validation, snapshot refresh, the search call and result shaping.
Compare two trees by running it with `PYTHONPATH=<tree>` on each, interleaved.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=2_000)
    args = parser.parse_args()

    import chroma_frame as chromadb

    print(f"chroma_frame from {chromadb.__file__}", file=sys.stderr)
    rng = np.random.default_rng(0)
    data = rng.standard_normal((args.rows, args.dim), dtype=np.float32)
    with tempfile.TemporaryDirectory() as path:
        col = chromadb.PersistentClient(path=path).create_collection("bench", embedding_function=None)
        for start in range(0, args.rows, 5_000):
            stop = min(start + 5_000, args.rows)
            col.add(ids=[str(j) for j in range(start, stop)], embeddings=data[start:stop])
        col.compact()
        print(f"graphs in use: {col.wait_for_index(600)}", file=sys.stderr)
        queries = rng.standard_normal((50, args.dim), dtype=np.float32)
        for q in queries[:10]:
            col.query(query_embeddings=[q], n_results=10)
        times = []
        for i in range(args.queries):
            started = time.perf_counter()
            col.query(query_embeddings=[queries[i % 50]], n_results=10)
            times.append(time.perf_counter() - started)
    print(f"rows {args.rows} x {args.dim}: median {statistics.median(times) * 1e6:.0f} µs, "
          f"p10 {np.percentile(times, 10) * 1e6:.0f} µs over {len(times)} queries")


if __name__ == "__main__":
    main()
