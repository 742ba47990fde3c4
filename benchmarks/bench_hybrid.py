"""Retrieval quality and latency of dense, BM25 and hybrid (RRF) search through the Search API.

    python benchmarks/bench_hybrid.py [--docs PATH] [--queries N] [--seed S] [--out benchmarks/results]

The corpus is a Parquet file with ``id``, ``document`` and an ``embedding`` column (by default the 50k
PyPI summaries of /work/shared/data). There are no human relevance labels, so two labelled tasks are
built from the corpus itself, each with exactly one relevant record per query (so recall@10 is "the
record is in the top 10" and MRR is the mean of 1/rank, 0 beyond the top 10):

- ``fragment``: a record's summary with about half of its words dropped at random (order kept, at
  least three words left). A user who remembers part of a description.
- ``name``: a package name (``-``/``_`` read as spaces) whose record's summary mentions that name.
  A user who searches for a name: rare tokens, which embeddings tend to blur.

Queries are embedded with chroma-frame's default embedding function (all-MiniLM-L6-v2, the model the
corpus embeddings come from), so dense search sees query and documents in the same space. BM25 uses
a sparse index on ``#document`` with ``ChromaBm25EmbeddingFunction`` and ``bm25=True`` (IDF at query
time). Hybrid is ``Rrf`` over the dense and the BM25 ``Knn`` (``return_rank=True``, top 100 each, with
a default rank for records one list misses). Latency is per single search, p50 over the queries.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

DATA = Path("/work/shared/data/pypi_docs_50k.parquet")
CANDIDATES = 100  # per Knn inside the hybrid


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def fragment_task(docs: list[str], n: int, rng: random.Random) -> list[tuple[str, int]]:
    """(query, relevant row): half of a summary's words, at random, order kept."""
    rows = [i for i, d in enumerate(docs) if d and len(d.split()) >= 6]
    out = []
    for row in rng.sample(rows, n):
        words = docs[row].split()
        keep = sorted(rng.sample(range(len(words)), max(3, len(words) // 2)))
        out.append((" ".join(words[i] for i in keep), row))
    return out


def name_task(docs: list[str], packages: list[str], n: int, rng: random.Random) -> list[tuple[str, int]]:
    """(query, relevant row): a package name that its own summary mentions."""
    rows = []
    for i, (doc, pkg) in enumerate(zip(docs, packages)):
        name = re.sub(r"[-_.]+", " ", pkg).strip().lower()
        if len(name) >= 4 and doc and name in doc.lower():
            rows.append((name, i))
    return rng.sample(rows, min(n, len(rows)))


def ranks_of(hits: list[list[str]], relevant: list[str]) -> list[int | None]:
    return [hit.index(rel) + 1 if rel in hit else None for hit, rel in zip(hits, relevant)]


def quality(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    return {
        "recall@10": sum(r is not None and r <= 10 for r in ranks) / n,
        "mrr@10": sum(1.0 / r for r in ranks if r is not None and r <= 10) / n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=Path, default=DATA)
    ap.add_argument("--queries", type=int, default=500, help="queries per task")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()

    import chroma_frame as chromadb
    from chroma_frame import K, Knn, Rrf, Schema, Search, SparseVectorIndexConfig, VectorIndexConfig
    from chroma_frame.embeddings.default import DefaultEmbeddingFunction
    from chroma_frame.utils.embedding_functions import ChromaBm25EmbeddingFunction

    table = pq.read_table(args.docs, columns=["id", "document", "package", "embedding"])
    ids = table.column("id").to_pylist()
    docs = table.column("document").to_pylist()
    packages = table.column("package").to_pylist()
    rng = random.Random(args.seed)
    tasks = {"fragment": fragment_task(docs, args.queries, rng),
             "name": name_task(docs, packages, args.queries, rng)}

    ef = DefaultEmbeddingFunction()
    with tempfile.TemporaryDirectory() as tmp:
        client = chromadb.PersistentClient(path=tmp)
        schema = Schema()
        schema.create_index(config=SparseVectorIndexConfig(source_key=K.DOCUMENT, bm25=True,
                                                           embedding_function=ChromaBm25EmbeddingFunction()),
                            key="bm25")
        schema.create_index(config=VectorIndexConfig(space="cosine"))
        col = client.create_collection("hybrid", schema=schema, embedding_function=None)
        t0 = time.perf_counter()
        col.ingest(table.select(["id", "document", "embedding"]), batch_size=5_000)
        ingest_s = time.perf_counter() - t0
        log(f"ingested {col.count()} rows with BM25 vectors in {ingest_s:.1f} s")
        t0 = time.perf_counter()
        col.compact()
        col.wait_for_index()
        index_s = time.perf_counter() - t0

        results: dict[str, dict] = {}
        for task, pairs in tasks.items():
            texts = [q for q, _ in pairs]
            relevant = [ids[row] for _, row in pairs]
            vectors = np.asarray(ef(texts), dtype=np.float32)
            searches = {
                "dense": [Search().rank(Knn(query=v.tolist(), limit=10)).limit(10) for v in vectors],
                "bm25": [Search().rank(Knn(query=t, key="bm25", limit=10)).limit(10) for t in texts],
                "hybrid (rrf)": [
                    Search().rank(Rrf([Knn(query=v.tolist(), return_rank=True, limit=CANDIDATES, default=CANDIDATES),
                                       Knn(query=t, key="bm25", return_rank=True, limit=CANDIDATES,
                                           default=CANDIDATES)]))
                    .limit(10)
                    for v, t in zip(vectors, texts)
                ],
            }
            for method, batch in searches.items():
                col.search(batch[:5])  # warm
                hits, lat = [], []
                for s in batch:
                    t0 = time.perf_counter()
                    res = col.search(s)
                    lat.append((time.perf_counter() - t0) * 1000)
                    hits.append(res["ids"][0])
                row = quality(ranks_of(hits, relevant))
                row["p50_ms"] = statistics.median(lat)
                row["p95_ms"] = float(np.percentile(lat, 95))
                results.setdefault(task, {})[method] = row
                log(f"{task:9s} {method:13s} recall@10 {row['recall@10']:.3f} mrr {row['mrr@10']:.3f} "
                    f"p50 {row['p50_ms']:.2f} ms")

    out = {"docs": str(args.docs), "rows": len(ids), "queries_per_task": {t: len(p) for t, p in tasks.items()},
           "seed": args.seed, "ingest_s": ingest_s, "compact_and_index_s": index_s,
           "loadavg": os.getloadavg(), "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hybrid.json").write_text(json.dumps(out, indent=2))
    lines = [
        "# Dense, BM25 and hybrid retrieval", "",
        f"`python benchmarks/bench_hybrid.py` on {len(ids):,} rows of `{args.docs.name}`, seed {args.seed}; "
        f"load average {out['loadavg'][0]:.1f} at the end. Ingest with BM25 vectors {ingest_s:.1f} s, "
        f"compaction and index {index_s:.1f} s.", "",
        "| task | queries | method | recall@10 | MRR@10 | p50 ms | p95 ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for task, methods in results.items():
        for method, r in methods.items():
            lines.append(f"| {task} | {len(tasks[task])} | {method} | {r['recall@10']:.3f} | {r['mrr@10']:.3f} | "
                         f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} |")
    (args.out / "hybrid.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
