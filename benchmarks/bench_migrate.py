"""``chroma_frame.migrate`` from a directory chromadb itself wrote, against reading it back through chromadb.

    python benchmarks/bench_migrate.py [--parquet ../shared/data/pypi_docs_50k.parquet] [--rows 50000]

chromadb 1.5.9 writes ``--rows`` records of the corpus (id, document, embedding, two metadata keys;
cosine) into a ``PersistentClient`` folder, as an existing Chroma user's data would be. Then, in this
process: the migration (``progress=False``), chromadb's own full read of the same records
(``get`` in pages of 5,000, the least a copy through chromadb's API must do), and a check that every
id, embedding, document and metadata came across exactly. Prints seconds and records per second.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

PAGE = 5000
INCLUDE = ["embeddings", "documents", "metadatas"]


def write_with_chromadb(path: str, table) -> float:
    import chromadb

    client = chromadb.PersistentClient(path)
    col = client.create_collection("corpus", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
    start = time.perf_counter()
    ids = [str(i) for i in range(table.num_rows)]
    emb = np.stack(table.column("embedding").to_numpy(zero_copy_only=False)).astype(np.float32)
    docs = table.column("document").to_pylist()
    metas = [{"package": p, **({} if y is None else {"year": int(y)})}
             for p, y in zip(table.column("package").to_pylist(), table.column("year").to_pylist())]
    for lo in range(0, len(ids), PAGE):
        col.add(ids=ids[lo:lo + PAGE], embeddings=emb[lo:lo + PAGE], documents=docs[lo:lo + PAGE],
                metadatas=metas[lo:lo + PAGE])
    return time.perf_counter() - start


def read_with_chromadb(path: str) -> tuple[float, dict]:
    import chromadb

    col = chromadb.PersistentClient(path).get_collection("corpus", embedding_function=None)
    start = time.perf_counter()
    out: dict = {"ids": [], "embeddings": [], "documents": [], "metadatas": []}
    for offset in range(0, col.count(), PAGE):
        page = col.get(include=INCLUDE, limit=PAGE, offset=offset)
        for key in out:
            out[key].extend(page[key])
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parquet", default=str(Path(__file__).resolve().parents[2] / "shared/data/pypi_docs_50k.parquet"))
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    import chroma_frame

    table = pq.read_table(args.parquet).slice(0, args.rows)
    work = tempfile.mkdtemp(prefix="bench-migrate-")
    try:
        source, target = f"{work}/chroma", f"{work}/frame"
        wrote = write_with_chromadb(source, table)
        start = time.perf_counter()
        report = chroma_frame.migrate(source, target, progress=False)
        migrated = time.perf_counter() - start
        read, theirs = read_with_chromadb(source)
        ours = chroma_frame.PersistentClient(target).get_collection("corpus", embedding_function=None).get(
            ids=theirs["ids"], include=INCLUDE)
        order = {rid: i for i, rid in enumerate(ours["ids"])}
        pick = [order[rid] for rid in theirs["ids"]]
        exact = (len(pick) == table.num_rows
                 and np.array_equal(np.asarray(ours["embeddings"])[pick], np.asarray(theirs["embeddings"], np.float32))
                 and [ours["documents"][i] for i in pick] == theirs["documents"]
                 and [ours["metadatas"][i] for i in pick] == theirs["metadatas"])
        size = sum(f.stat().st_size for f in Path(source).rglob("*") if f.is_file())
        print(f"{table.num_rows:,} records, {size / 1e6:.0f} MB of Chroma files (chromadb wrote them in {wrote:.1f} s)")
        print(f"chroma_frame.migrate: {migrated:.1f} s ({report.records / migrated:,.0f} records/s); exact: {exact}")
        print(f"chromadb reading them back (get, pages of {PAGE:,}): {read:.1f} s "
              f"({table.num_rows / read:,.0f} records/s); migrate / read: {migrated / read:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
