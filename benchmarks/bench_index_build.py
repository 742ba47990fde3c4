"""Index builds at scale: time until every blockfile is searched through a graph, the builder's
peak memory, and recall@10, batch throughput and single-query p50 (``include=["distances"]``)
after the build (issue 13).

    PYTHONPATH=$PWD python benchmarks/bench_index_build.py --parquet /work/scale/clustered_200k.parquet

Ingests the Parquet file with automatic builds off (``index_build_policy="manual"``), then times
``collection.build_index()``; memory is the process's peak RSS during the build less its RSS
before (sampled every 50 ms), beside the size of the vectors indexed. Recall compares 200 queries
near random groups with the exact top-10 (``scale_data.exact_top_k``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time

import numpy as np
import psutil
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale_data import ClusteredData, exact_top_k  # noqa: E402

import chroma_frame  # noqa: E402


class PeakRSS:
    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.base = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parquet", required=True)
    parser.add_argument("--path", default=None, help="storage root (default: a temporary folder)")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rows = pq.ParquetFile(args.parquet).metadata.num_rows
    path = args.path or tempfile.mkdtemp(prefix="bench_index_build_")
    client = chroma_frame.PersistentClient(path, settings=chroma_frame.Settings(index_build_policy="manual"))
    col = client.get_or_create_collection("scale", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
    if col.count() == 0:
        started = time.time()
        col.ingest(args.parquet, metadata_columns=[], progress=False)
        col.compact()
        print(f"ingest {rows} rows: {time.time() - started:.1f} s", flush=True)
    blockfiles = len(col._engine.snapshot().base)
    with PeakRSS() as rss:
        started = time.time()
        built = col.build_index(progress=False)
        seconds = time.time() - started
    ok = col.wait_for_index(timeout=60)
    vectors = rows * 384 * 4
    print(f"build_index: {built} graph(s) over {blockfiles} blockfile(s) in {seconds:.1f} s; "
          f"peak RSS +{(rss.peak - rss.base) / 1e9:.2f} GB (vectors {vectors / 1e9:.2f} GB, "
          f"{(rss.peak - rss.base) / vectors:.2f}x); all indexed: {ok} {col.index_status()['exact_rows']} exact rows",
          flush=True)
    data = ClusteredData(rows)
    queries = data.queries(args.queries)
    truth = exact_top_k(pq.ParquetFile(args.parquet, pre_buffer=False).iter_batches(columns=["embedding"], batch_size=100_000),
                        queries, 10)
    ids = pq.read_table(args.parquet, columns=["id"]).column("id").to_pylist()
    for ef in (100, 200):
        col.modify(configuration={"hnsw": {"ef_search": ef}})
        col = client.get_collection("scale", embedding_function=None)
        started = time.time()
        got = col.query(query_embeddings=queries, n_results=10, include=["distances"])["ids"]
        elapsed = time.time() - started
        recall = np.mean([len(set(g) & {ids[i] for i in t}) / 10 for g, t in zip(got, truth)])
        single = []
        for query in queries[:100]:
            started = time.perf_counter()
            col.query(query_embeddings=query[None], n_results=10, include=["distances"])
            single.append(time.perf_counter() - started)
        print(f"ef_search={ef}: recall@10 {recall:.4f}, batch {len(queries) / elapsed:.0f} q/s, "
              f"single query p50 {1000 * np.median(single):.2f} ms", flush=True)
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
