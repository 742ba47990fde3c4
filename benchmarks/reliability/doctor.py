"""How long ``chroma-frame doctor`` takes, and what descriptions and checksums cost the catalog.

    .venv/bin/python benchmarks/reliability/doctor.py --records 200000 --dim 128 --collections 300

Prints: doctor check time for one collection of ``--records`` (compacted + a log tail), and per
lookup / per create costs of the catalog with ``--collections`` collections.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time

import numpy as np

import chroma_frame
from chroma_frame import doctor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--collections", type=int, default=300)
    ap.add_argument("--dir", default=None, help="where to build the test path (default: a temp folder)")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="cf-doctor-bench-", dir=args.dir)
    try:
        client = chroma_frame.PersistentClient(root)
        col = client.create_collection("big", embedding_function=None)
        rng = np.random.default_rng(0)
        for start in range(0, args.records, 5000):
            n = min(5000, args.records - start)
            col.add(ids=[f"r{i}" for i in range(start, start + n)],
                    embeddings=rng.random((n, args.dim), dtype=np.float32))
        col.compact()
        for i in range(20):
            col.add(ids=[f"tail{i}"], embeddings=rng.random((1, args.dim), dtype=np.float32))
        t = time.perf_counter()
        report = doctor.check(root)
        check_s = time.perf_counter() - t
        assert report.healthy, report.text()

        t = time.perf_counter()
        for i in range(args.collections):
            client.create_collection(f"c{i:05d}", embedding_function=None, metadata={"i": i})
        create_ms = (time.perf_counter() - t) / args.collections * 1e3
        t = time.perf_counter()
        for _ in range(200):
            client.get_collection(f"c{args.collections - 1:05d}", embedding_function=None)
        lookup_ms = (time.perf_counter() - t) / 200 * 1e3

        print(f"{'figure':44} {'value':>10}")
        print(f"{f'doctor check, {args.records} x {args.dim} records':44} {check_s:>9.2f}s")
        print(f"{'create_collection (with collection.json)':44} {create_ms:>8.2f}ms")
        print(f"{f'get_collection, {args.collections + 1} in catalog':44} {lookup_ms:>8.2f}ms")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
