"""Reading a blockfile from S3 (moto's server on loopback) cold, warm (local cache) and from a
local disk: the whole blockfile (``read_blockfile``: open, checks, parse) and ``open_input`` + 10
random rows. Prints min / median milliseconds as JSON.

    python benchmarks/bench_cache.py [--rows 100000] [--dim 192] [--repeat 5]

"cold" starts each run with an empty cache folder (one GET, streamed to the cache); "warm, new
process" opens a new storage on the filled folder each run, as a new process would (its first
open of the file: a stat and its small record, not the bytes); "warm, same process" reuses one; "no cache" reads through Arrow's S3 filesystem (ranged GETs);
"local" is a folder on this disk (its blockfile already verified once, as in steady use).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Callable

import numpy as np
import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chroma_frame.storage.blockfile import read_blockfile, write_blockfile  # noqa: E402
from chroma_frame.storage.fs import Storage  # noqa: E402
from chroma_frame.storage.records import PUT, build_rows  # noqa: E402
from tests.storage.s3_server import moto_s3  # noqa: E402

PREFIX = "collections/bench"


def timed(run: Callable[[Storage], object], make: Callable[[], Storage], repeat: int) -> dict:
    """``run(make())`` ``repeat`` times, timing ``run`` only (not making the storage)."""
    times = []
    for _ in range(repeat):
        storage = make()
        start = time.perf_counter()
        run(storage)
        times.append((time.perf_counter() - start) * 1e3)
    return {"min_ms": round(min(times), 1), "median_ms": round(statistics.median(times), 1)}


def ten_rows(storage: Storage, rel: str, rng: np.random.Generator) -> None:
    source = storage.open_input(rel)
    reader = pa.ipc.open_file(source)
    batch = reader.get_batch(0)
    rows = batch.take(pa.array(rng.integers(0, batch.num_rows, 10)))
    rows.column("embedding").to_numpy(zero_copy_only=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=192)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    ids = [f"id{i}" for i in range(args.rows)]
    rows = build_rows(dimension=args.dim, seqs=1, rowids=range(args.rows), ops=PUT, ids=ids, documents=ids,
                      embeddings=rng.standard_normal((args.rows, args.dim)).astype(np.float32))
    work = tempfile.mkdtemp()
    cache = os.path.join(work, "cache")
    results: dict = {}
    try:
        with moto_s3() as endpoint:
            url = endpoint.url("bench")

            def s3(cache_dir: str | bool = cache) -> Storage:
                return Storage.for_path(url, cache_dir=cache_dir, **endpoint.settings)

            def s3_empty_cache() -> Storage:
                shutil.rmtree(cache, ignore_errors=True)
                return s3()

            same = s3()

            ref = write_blockfile(s3(False), PREFIX, rows)
            rel = f"{PREFIX}/{ref}"
            local = Storage.local(os.path.join(work, "local"))
            local_ref = write_blockfile(local, PREFIX, rows)
            read_blockfile(local, PREFIX, local_ref)  # verified once, remembered
            results["blockfile_mb"] = round(ref.size / 1e6, 1)
            for name, read in [("read_blockfile", lambda st, r: read_blockfile(st, PREFIX, r)),
                               ("open_input+10_random_rows", lambda st, r: ten_rows(st, f"{PREFIX}/{r}", rng))]:
                results[name] = {
                    "s3_no_cache": timed(lambda st: read(st, ref), lambda: s3(False), args.repeat),
                    "s3_cold": timed(lambda st: read(st, ref), s3_empty_cache, args.repeat),
                    "s3_warm_new_process": timed(lambda st: read(st, ref), s3, args.repeat),
                    "s3_warm_same_process": timed(lambda st: read(st, ref), lambda: same, args.repeat),
                    "local": timed(lambda st: read(st, local_ref), lambda: local, args.repeat),
                }
            assert os.path.exists(os.path.join(cache, *rel.split("/")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
