"""How often ``ingest``'s progress moves while the default model embeds documents.

    python benchmarks/bench_ingest_progress.py [--parquet ../shared/data/pypi_docs_50k.parquet] [--rows 1500]

Ingests ``--rows`` corpus documents (no embeddings) into an ephemeral collection with the default
embedding function, in one batch, and prints when each progress callback came (seconds, rows done).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parquet", default=str(Path(__file__).resolve().parents[2] / "shared/data/pypi_docs_50k.parquet"))
    parser.add_argument("--rows", type=int, default=1500)
    args = parser.parse_args()
    import chroma_frame

    table = pq.read_table(args.parquet, columns=["document"]).slice(0, args.rows)
    source = pa.table({"id": [str(i) for i in range(table.num_rows)], "document": table.column("document")})
    collection = chroma_frame.EphemeralClient().create_collection("progress")
    collection._embed(["warm up"])  # the model loads before the clock starts
    stamps: list[tuple[float, int]] = []
    start = time.perf_counter()
    summary = collection.ingest(source, progress=lambda done, total: stamps.append(
        (round(time.perf_counter() - start, 1), done)))
    print("callbacks (seconds, rows done):", stamps)
    print(summary)


if __name__ == "__main__":
    main()
