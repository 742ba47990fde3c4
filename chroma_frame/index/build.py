"""Building segment graphs with pynndescent, in a separate process.

``python -m chroma_frame.index.build ROOT COLLECTION_ID PARAMS_JSON`` builds the graph of every
blockfile of the collection that lacks one, then exits. It runs detached from the process that
asked for it (numba compiles pynndescent's build path for about a minute in every new process,
which must never stall a query), runs at a lower CPU priority, and holds ``index.lock`` so that
only one builder per collection runs at a time. Builders of different collections share a few
machine-wide slots (half the cores, or ``CHROMA_FRAME_MAX_BUILDERS``): past that they queue
rather than all building at once.
Its output goes to ``collections/<id>/index.log``; a graph whose build fails is recorded there
and beside its blockfile (:mod:`.failures`), and the builder goes on with the next one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from typing import Iterator, Optional

import numpy as np

from chroma_frame.index.failures import append_log, clear_marker, failure_of, open_log, read_marker, write_marker
from chroma_frame.index.graph import CorruptIndex, Graph, graph_nodes, index_path, load_graph, save_graph
from chroma_frame.index.params import IndexParams

_METRICS = {"l2": "euclidean", "cosine": "cosine", "ip": "dot"}


def build_graph(matrix: np.ndarray, params: IndexParams, *, nodes: Optional[np.ndarray] = None,
                seed: int = 42) -> Graph:
    """NNDescent's search graph over the rows ``nodes`` of ``matrix`` (all rows when None), in the
    matrix's own row order: the other rows (tombstones) get no edges and are never reached."""
    from pynndescent import NNDescent

    rows, dim = matrix.shape
    nodes = np.arange(rows, dtype=np.int64) if nodes is None else np.asarray(nodes, dtype=np.int64)
    points = matrix if len(nodes) == rows else matrix[nodes]
    points = np.ascontiguousarray(points).view()  # a view: the caller's array keeps its flags
    # numba compiles pynndescent per array type (a minute): every build passes a read-only array
    points.flags.writeable = False
    n = len(nodes)
    if n < 2:
        raise ValueError(f"a graph needs at least 2 rows with an embedding, the blockfile has {n}")
    index = NNDescent(
        points, metric=_METRICS[params.space], n_neighbors=min(params.n_neighbors, n - 1),
        max_candidates=params.max_candidates, diversify_prob=params.diversify_prob,
        pruning_degree_multiplier=params.pruning_degree_multiplier, random_state=seed,
        low_memory=True, n_jobs=-1,
    )
    index.prepare()
    csr = index._search_graph  # pynndescent 0.7: CSR over rows permuted by _vertex_order
    order = np.asarray(index._vertex_order, dtype=np.int64)
    degrees = np.diff(csr.indptr)
    src = nodes[order[np.repeat(np.arange(n), degrees)]]
    dst = nodes[order[np.asarray(csr.indices, dtype=np.int64)]]
    by_src = np.argsort(src, kind="stable")
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=rows), out=indptr[1:])
    rng = np.random.default_rng(seed)
    pivots = nodes[np.sort(rng.choice(n, size=min(n, 256), replace=False))].astype(np.int64)
    return Graph(indptr, dst[by_src].astype(np.int32), pivots, params.space, rows, dim, nodes)


def _matrix(table) -> np.ndarray:
    column = table.column("embedding").combine_chunks()
    dim = column.type.list_size
    values = column.values.slice(column.offset * dim, len(column) * dim)
    matrix = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, dim)
    matrix.flags.writeable = False  # as a zero-copy view of the blockfile is (see build_graph)
    return matrix


def build_missing(root: str, collection_id: str, params: IndexParams, *, retry_failed: bool = False) -> int:
    """Build every missing or unusable graph of the collection; returns how many were built.

    Each graph is built over its blockfile's put rows. A build that fails is recorded
    (:mod:`.failures`: a marker beside the blockfile, the traceback in ``index.log``) and the
    builder goes on with the next blockfile; recorded failures are skipped unless ``retry_failed``.
    """
    from chroma_frame.storage import lock
    from chroma_frame.storage.blockfile import read_blockfile
    from chroma_frame.storage.fs import Storage
    from chroma_frame.storage.manifest import read_manifest

    storage = Storage.local(root)
    prefix = f"collections/{collection_id}"
    built = 0
    tried: set[str] = set()  # each graph at most once per run, whatever happens
    try:
        ctx = lock.exclusive(storage.path(f"{prefix}/index.lock"), timeout=0.1)
        ctx.__enter__()
    except Exception:
        return 0  # another builder is at work on this collection
    try:
        while True:
            manifest = read_manifest(storage, prefix)
            dimension = manifest.dimension
            if dimension is None:  # nothing written yet, so no blockfile
                return built
            todo = []
            for rel in manifest.blockfiles:
                if str(rel) in tried:
                    continue
                try:
                    table = read_blockfile(storage, prefix, rel)
                except FileNotFoundError:
                    continue  # merged away meanwhile
                except Exception as exc:  # a damaged blockfile: nothing to build from (the doctor says so)
                    tried.add(str(rel))
                    append_log(root, prefix, f"cannot read {rel} to build its graph: {exc}")
                    continue
                nodes = graph_nodes(table)
                if not params.wants_graph(len(nodes)):
                    continue
                try:
                    if load_graph(storage, prefix, rel, rows=table.num_rows, dimension=dimension,
                                  space=params.space, nodes=nodes) is not None:
                        continue
                except CorruptIndex:
                    pass
                marker = read_marker(storage, prefix, rel, params.space)
                if failure_of(marker) is not None and not retry_failed:
                    continue
                todo.append((rel, table, nodes, 0 if retry_failed or marker is None else marker["attempts"]))
            if not todo:
                return built
            with build_slot():
                for rel, table, nodes, attempts in todo:
                    tried.add(str(rel))
                    if not storage.exists(f"{prefix}/{rel}"):
                        continue  # merged away meanwhile
                    if _build_one(storage, prefix, rel, table, nodes, dimension, params, attempts + 1):
                        built += 1
    except FileNotFoundError:
        return built  # the collection was deleted
    finally:
        ctx.__exit__(None, None, None)


def _build_one(storage, prefix: str, rel: str, table, nodes: np.ndarray, dimension: int, params: IndexParams,
               attempt: int) -> bool:
    """Build, save and re-check one graph; a failure is recorded, never raised."""
    space = params.space
    try:
        # counted before the work: a builder killed or crashed mid-build leaves the count behind
        write_marker(storage, prefix, rel, space, attempts=attempt)
        graph = build_graph(_matrix(table), params, nodes=nodes)
        save_graph(storage, prefix, rel, graph)
        # what a query will load: a graph that does not pass its own checks is a failure, not a loop
        if load_graph(storage, prefix, rel, rows=table.num_rows, dimension=dimension, space=space, nodes=nodes) is None:
            raise CorruptIndex("the saved graph vanished")
        clear_marker(storage, prefix, rel, space)
        return True
    except FileNotFoundError:
        return False  # merged away or the collection deleted meanwhile: nothing to record
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        append_log(storage.root, prefix, f"building the {space} graph of {rel} failed (attempt {attempt}): "
                   f"{error}\n{traceback.format_exc()}")
        try:
            storage.delete_file(f"{prefix}/{index_path(rel, space)}")
        except Exception:
            pass
        try:
            write_marker(storage, prefix, rel, space, attempts=attempt, error=error)
        except Exception as record_exc:  # the disk refuses even that: say so where a user looks
            append_log(storage.root, prefix, f"cannot record the failure: {record_exc}")
        return False


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
    """Start a detached builder process (it outlives its parent, which never waits for it); its
    output goes to the collection's ``index.log``."""
    args = [sys.executable, "-m", "chroma_frame.index.build", root, collection_id,
            json.dumps(params.__dict__)]
    pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [pkg_root, os.environ.get("PYTHONPATH")]))}
    try:
        log = open_log(root, f"collections/{collection_id}")
    except OSError:
        log = None  # the folder is gone (a dropped collection): the builder finds nothing to do
    try:
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log or subprocess.DEVNULL,
                                stderr=log or subprocess.DEVNULL, start_new_session=True, env=env)
    finally:
        if log is not None:
            log.close()


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
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} [pid {os.getpid()}] index builder started",
          file=sys.stderr, flush=True)
    built = build_missing(root, collection_id, IndexParams(**json.loads(raw)))
    print(f"built {built} graph(s) in {time.time() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    lower_priority()  # here, not in main(): a caller in-process (tests) keeps its own priority
    sys.exit(main(sys.argv))
