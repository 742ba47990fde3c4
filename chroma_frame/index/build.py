"""Building segment graphs with pynndescent, in a separate process.

``python -m chroma_frame.index.build ROOT COLLECTION_ID PARAMS_JSON`` builds the graph of every
blockfile of the collection that lacks one, then exits. It runs detached from the process that
asked for it (numba compiles pynndescent's build path for about a minute in every new process,
which must never stall a query), runs at a lower CPU priority, and holds ``index.lock`` so that only one builder per collection
runs at a time. Builders of different collections share a few machine-wide slots (half the cores,
or ``CHROMA_FRAME_MAX_BUILDERS``): past that they queue rather than all building at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import Iterator

import numpy as np

from chroma_frame.index.graph import CorruptIndex, Graph, load_graph, save_graph
from chroma_frame.index.params import IndexParams

_METRICS = {"l2": "euclidean", "cosine": "cosine", "ip": "dot"}


def build_graph(matrix: np.ndarray, params: IndexParams, *, seed: int = 42) -> Graph:
    """NNDescent's search graph over ``matrix``, in the matrix's own row order."""
    from pynndescent import NNDescent

    n, dim = matrix.shape
    index = NNDescent(
        matrix, metric=_METRICS[params.space], n_neighbors=min(params.n_neighbors, n - 1),
        max_candidates=params.max_candidates, diversify_prob=params.diversify_prob,
        pruning_degree_multiplier=params.pruning_degree_multiplier, random_state=seed,
        low_memory=True, n_jobs=-1,
    )
    index.prepare()
    csr = index._search_graph  # pynndescent 0.7: CSR over rows permuted by _vertex_order
    order = np.asarray(index._vertex_order, dtype=np.int64)
    degrees = np.diff(csr.indptr)
    src = order[np.repeat(np.arange(n), degrees)]
    dst = order[np.asarray(csr.indices, dtype=np.int64)]
    by_src = np.argsort(src, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    rng = np.random.default_rng(seed)
    pivots = np.sort(rng.choice(n, size=min(n, 256), replace=False)).astype(np.int64)
    return Graph(indptr, dst[by_src].astype(np.int32), pivots, params.space, n, dim)


def _matrix(table) -> np.ndarray:
    column = table.column("embedding").combine_chunks()
    dim = column.type.list_size
    values = column.values.slice(column.offset * dim, len(column) * dim)
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, dim)


def build_missing(root: str, collection_id: str, params: IndexParams) -> int:
    """Build every missing or unusable graph of the collection; returns how many were built."""
    from chroma_frame.storage import lock
    from chroma_frame.storage.blockfile import read_blockfile
    from chroma_frame.storage.fs import Storage
    from chroma_frame.storage.manifest import read_manifest

    storage = Storage.local(root)
    prefix = f"collections/{collection_id}"
    built = 0
    try:
        ctx = lock.exclusive(storage.path(f"{prefix}/index.lock"), timeout=0.1)
        ctx.__enter__()
    except Exception:
        return 0  # another builder is at work on this collection
    try:
        while True:
            manifest = read_manifest(storage, prefix)
            todo = []
            for rel in manifest.blockfiles:
                table = read_blockfile(storage, prefix, rel)
                if table.num_rows < params.min_rows:
                    continue
                try:
                    if load_graph(storage, prefix, rel, rows=table.num_rows, dimension=manifest.dimension,
                                  space=params.space) is not None:
                        continue
                except CorruptIndex:
                    pass
                todo.append((rel, table))
            if not todo:
                return built
            with build_slot():
                for rel, table in todo:
                    if not storage.exists(f"{prefix}/{rel}"):
                        continue  # merged away meanwhile
                    save_graph(storage, prefix, rel, build_graph(_matrix(table), params))
                    built += 1
    except FileNotFoundError:
        return built  # the collection was deleted
    finally:
        ctx.__exit__(None, None, None)


MAX_BUILDERS_ENV = "CHROMA_FRAME_MAX_BUILDERS"


def max_builders() -> int:
    configured = os.environ.get(MAX_BUILDERS_ENV, "").strip()
    if configured:
        return max(1, int(configured))
    return max(1, (os.cpu_count() or 2) // 2)


@contextmanager
def build_slot(poll: float = 0.25) -> Iterator[None]:
    """Hold one of the machine-wide builder slots (lock files in the temp folder; the OS releases
    a slot when its holder dies), waiting for one to free up."""
    from filelock import FileLock, Timeout

    folder = os.path.join(tempfile.gettempdir(), "chroma_frame-builders")
    os.makedirs(folder, exist_ok=True)
    while True:
        for i in range(max_builders()):
            slot = FileLock(os.path.join(folder, f"slot-{i}.lock"))
            try:
                slot.acquire(timeout=0)
            except Timeout:
                continue
            try:
                yield
            finally:
                slot.release()
            return
        time.sleep(poll)


def spawn_builder(root: str, collection_id: str, params: IndexParams) -> subprocess.Popen:
    """Start a detached builder process (it outlives its parent, which never waits for it)."""
    args = [sys.executable, "-m", "chroma_frame.index.build", root, collection_id,
            json.dumps(params.__dict__)]
    pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [pkg_root, os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, env=env)


BUILD_NICENESS = 10


def lower_priority(niceness: int = BUILD_NICENESS) -> None:
    """Make this process background work: on a busy machine the scheduler gives queries and
    writes the cores first (a nice-10 process gets about a tenth of a core's share against a
    nice-0 one), and the build still uses every idle cycle."""
    try:
        os.nice(niceness)
    except (AttributeError, OSError):  # pragma: no cover - no nice() on this platform
        pass


def main(argv: list[str]) -> int:
    root, collection_id, raw = argv[1], argv[2], argv[3]
    started = time.time()
    built = build_missing(root, collection_id, IndexParams(**json.loads(raw)))
    print(f"built {built} graph(s) in {time.time() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    lower_priority()  # here, not in main(): a caller in-process (tests) keeps its own priority
    sys.exit(main(sys.argv))
