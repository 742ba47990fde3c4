"""What loading a search graph costs now that every file is sealed and every array is checked.

    python benchmarks/reliability/graph_checks.py --rows 200000 --degree 48 --tombstones 0 1000

For a synthetic graph file of ``rows`` nodes of ``degree`` neighbours (file in memory), times the
unchecked load (``np.load`` of the archive, what the previous version mostly did) against the
checked ``Graph.from_bytes`` (CRC-32C of the seal, dtypes, CSR offsets, ranges, nodes and, with
tombstones, that no edge touches a tombstone row). It is paid once per blockfile and process.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from chroma_frame.index.graph import Graph  # noqa: E402


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--degree", type=int, default=48)
    parser.add_argument("--tombstones", type=int, nargs="+", default=[0, 1000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'rows':>9} {'tombstones':>10} {'file MB':>8} {'np.load ms':>10} {'checked ms':>10}")
    for dead in args.tombstones:
        n = args.rows
        nodes = np.sort(rng.choice(n, n - dead, replace=False)).astype(np.int64)
        degrees = np.zeros(n, np.int64)
        degrees[nodes] = args.degree
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(degrees, out=indptr[1:])
        indices = nodes[rng.integers(0, len(nodes), len(nodes) * args.degree)].astype(np.int32)
        data = Graph(indptr, indices, nodes[:256].copy(), "l2", n, 384, nodes).to_bytes()

        def plain() -> None:
            with np.load(io.BytesIO(data[:-16]), allow_pickle=False) as z:
                [z[name] for name in z.files]

        def checked() -> None:
            Graph.from_bytes(data, rows=n, dimension=384, space="l2", nodes=nodes)

        print(f"{n:>9} {dead:>10} {len(data) / 1e6:>8.1f} {_best(plain, args.repeat) * 1e3:>10.1f} "
              f"{_best(checked, args.repeat) * 1e3:>10.1f}")


if __name__ == "__main__":
    main()
