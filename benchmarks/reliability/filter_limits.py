"""Filter cost against filter size: hostile filters on a small collection, everyday ones on a large one.

    python benchmarks/reliability/filter_limits.py                      # every case, 3 and 200k records
    python benchmarks/reliability/filter_limits.py --records 3 --case and150
    PYTHONPATH=/path/to/old/checkout python benchmarks/reliability/filter_limits.py ...  # compare

Prints one row per case: records, case, seconds (best of --repeat, after one warm-up query), and
the number of ids returned or the error class.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def nested(depth: int) -> dict:
    where: dict = {"n": {"$gte": 0}}
    for _ in range(depth):
        where = {"$and": [where, {"n": {"$gte": 0}}]}
    return where


CASES = {
    # hostile (issue 11, A)
    "and150": lambda: dict(where={"$and": [{"n": {"$gte": 0}}] * 150}),
    "and150-distinct": lambda: dict(where={"$and": [{"n": {"$gte": -i}} for i in range(150)]}),
    "or1000-eq": lambda: dict(where={"$or": [{"n": {"$eq": i}} for i in range(1000)]}),
    "or1000-range": lambda: dict(where={"$or": [{"n": {"$lt": -i}} for i in range(1000)]}),
    "nested62": lambda: dict(where=nested(62)),
    "nested200": lambda: dict(where=nested(200)),
    "in100k": lambda: dict(where={"n": {"$in": list(range(100_000))}}),
    # everyday
    "eq": lambda: dict(where={"cat": "c3"}),
    "range": lambda: dict(where={"n": {"$lt": 5000}}),
    "and-2": lambda: dict(where={"$and": [{"cat": "c3"}, {"n": {"$gte": 1000}}]}),
    "ne": lambda: dict(where={"cat": {"$ne": "c3"}}),
    "in-10": lambda: dict(where={"cat": {"$in": [f"c{i}" for i in range(10)]}}),
    "contains": lambda: dict(where_document={"$contains": "doc 12"}),
}


def collection(n: int):
    import chroma_frame

    col = chroma_frame.EphemeralClient().create_collection(f"bench-{n}", embedding_function=None)
    rng = np.random.default_rng(0)
    for start in range(0, n, 5000):
        stop = min(n, start + 5000)
        col.add(ids=[str(i) for i in range(start, stop)], embeddings=rng.random((stop - start, 2), dtype=np.float32),
                metadatas=[{"n": i, "cat": f"c{i % 50}"} for i in range(start, stop)],
                documents=[f"doc {i}" for i in range(start, stop)])
    return col


def run(col, case: str, repeat: int) -> tuple[float, str]:
    kwargs = CASES[case]()
    best, answer = float("inf"), ""
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            answer = str(len(col.get(include=[], **kwargs)["ids"]))
        except Exception as exc:  # noqa: BLE001 - reported in the table
            answer = type(exc).__name__
        best = min(best, time.perf_counter() - start)
    return best, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="*", default=[3, 200_000])
    parser.add_argument("--case", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'records':>8}  {'case':<16} {'seconds':>8}  result")
    for n in args.records:
        col = collection(n)
        col.get(where={"n": 0})  # warm-up: DuckDB connection and the snapshot's relations
        for case in args.case:
            seconds, answer = run(col, case, args.repeat)
            print(f"{n:>8}  {case:<16} {seconds:>8.3f}  {answer}", flush=True)


if __name__ == "__main__":
    main()
