"""What a read pays to stay exact across processes: the refresh before every read.

Every read first checks whether anything changed since the snapshot it holds (a new log entry, a
compaction by another process, a deletion). This prints the cost of that check alone (nothing new),
of a small ``count``/``get``/``query`` on top of it, and of the reread after another process wrote.

    .venv/bin/python benchmarks/reliability/read_refresh.py --rows 10000 --reads 5000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import chroma_frame  # noqa: E402

OTHER_WRITER = r"""
import sys, numpy as np, chroma_frame
col = chroma_frame.PersistentClient(path=sys.argv[1]).get_collection("bench", embedding_function=None)
for line in sys.stdin:
    i = int(line)
    col.add(ids=[f"x{i}"], embeddings=np.zeros((1, int(sys.argv[2])), np.float32))
    print(i, flush=True)
"""


def per_call(fn, n: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--reads", type=int, default=5_000)
    parser.add_argument("--cross", type=int, default=200, help="writes by another process, each read back")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        col = chroma_frame.PersistentClient(path=tmp).create_collection("bench", embedding_function=None)
        rng = np.random.default_rng(0)
        for start in range(0, args.rows, 5000):
            n = min(5000, args.rows - start)
            col.add(ids=[f"r{start + i}" for i in range(n)], embeddings=rng.random((n, args.dim), dtype=np.float32))
        col.compact()
        col.add(ids=["tail"], embeddings=rng.random((1, args.dim), dtype=np.float32))
        store = col._store
        q = rng.random((1, args.dim), dtype=np.float32)
        rows = [
            ("snapshot refresh, nothing new", per_call(store.snapshot, args.reads)),
            ("count()", per_call(col.count, args.reads)),
            ("get(ids=[1 id])", per_call(lambda: col.get(ids=["r7"]), args.reads // 5)),
            ("query(n_results=10)", per_call(lambda: col.query(query_embeddings=q, n_results=10), args.reads // 10)),
        ]
        writer = subprocess.Popen([sys.executable, "-c", OTHER_WRITER, tmp, str(args.dim)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, cwd=str(ROOT),
                                  env={"PYTHONPATH": str(ROOT), "PATH": ""})
        seen, spent = 0, 0.0
        for i in range(args.cross):
            writer.stdin.write(f"{i}\n")
            writer.stdin.flush()
            writer.stdout.readline()
            start = time.perf_counter()
            seen += f"x{i}" in col.get(ids=[f"x{i}"], include=[])["ids"]
            spent += time.perf_counter() - start
        writer.stdin.close()
        writer.wait()
        rows.append((f"get after another process's write ({seen}/{args.cross} seen)", spent / args.cross * 1e6))

    print(f"{'operation':<52} {'µs per call':>12}")
    for name, us in rows:
        print(f"{name:<52} {us:>12.1f}")


if __name__ == "__main__":
    main()
