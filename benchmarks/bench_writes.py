"""Write verbs on a 50k collection: upsert of 5,000 existing ids (with metadata), update of 5,000
(metadata only), add of 5,000 new rows. Prints min / median milliseconds per call as JSON.

    python benchmarks/bench_writes.py [--repeat 7] [--rows 50000] [--dim 128]

Compaction is deferred (``compaction_threshold_rows``) so that every call measures the write path
(validation, after-images, one log entry) and not a compaction. Compare two trees by running it
with ``PYTHONPATH=<tree>`` on each, interleaved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import numpy as np


def meta(i: int, score: float) -> dict:
    return {"group": i % 100, "label": ("a", "b", "c")[i % 3], "score": score, "tags": ["x", "y"], "flag": bool(i % 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()

    import chroma_frame as chromadb
    from chroma_frame.config import Settings

    n, b, d = args.rows, args.batch, args.dim
    rng = np.random.default_rng(0)
    client = chromadb.PersistentClient(tempfile.mkdtemp(), settings=Settings(compaction_threshold_rows=10**9))
    col = client.create_collection("bench", embedding_function=None)
    for s in range(0, n, b):
        col.add(ids=[f"id-{i}" for i in range(s, s + b)], embeddings=rng.standard_normal((b, d), dtype=np.float32),
                metadatas=[meta(i, 0.5) for i in range(s, s + b)], documents=[f"doc {i}" for i in range(s, s + b)])
    col.compact()
    times: dict[str, list[float]] = {"upsert": [], "update": [], "add": []}
    following = n

    def timed(name: str, call, **kwargs) -> None:
        started = time.perf_counter()
        call(**kwargs)
        times[name].append(time.perf_counter() - started)

    for r in range(args.repeat):
        picked = rng.choice(n, b, replace=False)
        ids = [f"id-{i}" for i in picked]
        timed("upsert", col.upsert, ids=ids, embeddings=rng.standard_normal((b, d), dtype=np.float32),
              metadatas=[{"score": float(r), "label": None, "new": i} for i in picked.tolist()])
        timed("update", col.update, ids=ids, metadatas=[{"group": r, "other": "v"} for _ in picked])
        new = range(following, following + b)
        following += b
        timed("add", col.add, ids=[f"id-{i}" for i in new], embeddings=rng.standard_normal((b, d), dtype=np.float32),
              metadatas=[meta(i, 0.1) for i in new], documents=[f"doc {i}" for i in new])
    print(json.dumps({k: {"min_ms": round(min(v) * 1000, 1), "median_ms": round(statistics.median(v) * 1000, 1)}
                      for k, v in times.items()}))


if __name__ == "__main__":
    main()
