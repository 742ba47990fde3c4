"""What checking a blockfile costs when a collection is opened (CRC-32C, Arrow validation).

    python benchmarks/reliability/verify_cost.py --rows 1000000 --dim 384

Builds one collection whose blockfile holds ``rows`` records (ids, documents, a metadata key,
``dim``-d embeddings), then times, with the file in the page cache (warm) and evicted from it
(cold, ``posix_fadvise(DONTNEED)`` on that file only): Arrow's plain memory-mapped open (what the
previous version did), the CRC-32C over the mapped bytes, structural and full Arrow validation, the
checked ``read_blockfile``, and opening the collection (a new client, ``count()``).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402


def _evict(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _time(fn, repeat: int = 3, before=None) -> float:
    best = float("inf")
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()

    import chroma_frame
    from chroma_frame.storage.blockfile import read_blockfile, write_blockfile
    from chroma_frame.storage.integrity import crc32c
    from chroma_frame.storage.manifest import Manifest, read_manifest, write_manifest
    from chroma_frame.storage.records import build_rows, record_schema

    with tempfile.TemporaryDirectory(prefix="verify-cost-") as tmp:
        col = chroma_frame.PersistentClient(path=tmp).create_collection("big", embedding_function=None)
        store = col._store
        rng = np.random.default_rng(0)
        step = 65_536

        def parts():
            for start in range(0, args.rows, step):
                n = min(step, args.rows - start)
                yield build_rows(dimension=args.dim, seqs=1, rowids=range(start, start + n), ops=0,
                                 ids=[f"id{i}" for i in range(start, start + n)],
                                 documents=[f"document number {i}" for i in range(start, start + n)],
                                 metadatas=[{"k": i % 10} for i in range(start, start + n)],
                                 embeddings=rng.standard_normal((n, args.dim), dtype=np.float32))

        started = time.perf_counter()
        ref = write_blockfile(store.storage, store.prefix, parts(), record_schema(args.dim))
        write_seconds = time.perf_counter() - started
        write_manifest(store.storage, store.prefix,
                       Manifest(version=1, log_upto=1, dimension=args.dim, blockfiles=(ref,)))
        path = store.storage.path(f"{store.prefix}/{ref}")
        listed = read_manifest(store.storage, store.prefix).blockfiles[0]
        size = os.path.getsize(path)

        def plain() -> pa.Table:
            return pa.ipc.open_file(pa.memory_map(path)).read_all()

        def checksum() -> int:
            return crc32c(pa.memory_map(path).read_buffer())

        mapped = {"table": plain()}

        def open_collection() -> int:
            chroma_frame.Client.clear_system_cache()
            return chroma_frame.PersistentClient(path=tmp).get_collection("big").count()

        rows = [
            ("Arrow open, memory-mapped (previous)", lambda: plain(), True),
            ("CRC-32C over the mapped bytes", checksum, True),
            ("Arrow validate() (structural)", lambda: mapped["table"].validate(), False),
            ("Arrow validate(full=True)", lambda: mapped["table"].validate(full=True), False),
            ("checked read_blockfile (new)", lambda: read_blockfile(store.storage, store.prefix, listed), True),
            ("open collection + count()", open_collection, True),
        ]
        warm = [_time(fn) for _, fn, _ in rows]
        mapped.clear()  # a live mapping keeps its pages in the cache: cold runs need none
        chroma_frame.Client.clear_system_cache()
        gc.collect()

        def evict() -> None:
            gc.collect()
            _evict(path)

        cold = [_time(fn, repeat=1, before=evict) if coldable else float("nan") for _, fn, coldable in rows]
        print(f"blockfile: {args.rows:,} rows x {args.dim}-d, {size / 1e9:.2f} GB, written in {write_seconds:.1f} s")
        print(f"{'step':40} {'warm (s)':>9} {'cold (s)':>9}")
        for (label, _, _), w, c in zip(rows, warm, cold):
            print(f"{label:40} {w:9.3f} {c:9.3f}")
        assert open_collection() == args.rows


if __name__ == "__main__":
    main()
