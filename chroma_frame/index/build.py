"""Building the graphs of a collection's blockfiles, in the calling thread.

:func:`build_missing` builds the graph of every blockfile that lacks one, holding ``index.lock``
so that only one builder (of any process) works on a collection at a time; it is called by the
background worker (:mod:`.worker`), by ``collection.build_index()`` and by ``chroma-frame index``.
A graph whose build fails is recorded in ``collections/<id>/index.log`` and beside its blockfile
(:mod:`.failures`), and the builder goes on with the next one. Graphs are written atomically: a
build abandoned at exit or killed leaves no partial file, and the next open builds it again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from chroma_frame.index.failures import append_log, clear_marker, failure_of, read_marker, write_marker
from chroma_frame.index.graph import CorruptIndex, Graph, graph_nodes, index_path, load_graph, save_graph
from chroma_frame.index.params import IndexParams
from chroma_frame.index.progress import Cancelled, Progress

if TYPE_CHECKING:
    from chroma_frame.storage.fs import Storage


def build_graph(matrix: np.ndarray, params: IndexParams, *, nodes: Optional[np.ndarray] = None,
                seed: int = 42, progress: Optional[Progress] = None,
                cancel: Optional[threading.Event] = None, threads: Optional[int] = None) -> Graph:
    """The search graph (:mod:`.knn_graph`) over the rows ``nodes`` of ``matrix`` (all rows when
    None), in the matrix's own row order: the other rows (tombstones) get no edges and are never reached.
    ``threads``: how many to build on (default: one per core)."""
    from chroma_frame.index.knn_graph import build_search_graph

    rows, dim = matrix.shape
    nodes = np.arange(rows, dtype=np.int64) if nodes is None else np.asarray(nodes, dtype=np.int64)
    points = matrix if len(nodes) == rows else matrix[nodes]
    n = len(nodes)
    if n < 2:
        raise ValueError(f"a graph needs at least 2 rows with an embedding, the blockfile has {n}")
    sub_indptr, sub_indices = build_search_graph(
        np.ascontiguousarray(points, dtype=np.float32), params.space, params.n_neighbors,
        params.pruning_degree_multiplier, seed=seed, progress=progress, cancel=cancel, threads=threads)
    if n == rows:
        indptr, indices = sub_indptr, sub_indices
    else:  # back to the blockfile's rows: non-nodes get no edges
        degrees = np.zeros(rows, dtype=np.int64)
        degrees[nodes] = np.diff(sub_indptr)
        indptr = np.zeros(rows + 1, dtype=np.int64)
        np.cumsum(degrees, out=indptr[1:])
        indices = nodes[sub_indices].astype(np.int32)
    rng = np.random.default_rng(seed)
    upper = np.sort(rng.choice(n, size=min(n, max(UPPER_MIN, n // UPPER_SHARE)), replace=False))
    upper_points = np.ascontiguousarray(points[upper], dtype=np.float32)
    upper_indptr, upper_indices = build_search_graph(
        upper_points, params.space, UPPER_NEIGHBORS, 2.0, seed=seed,
        cancel=cancel, random_edges=UPPER_RANDOM_EDGES, degree=UPPER_DEGREE, threads=threads)
    pivots = np.sort(rng.choice(len(upper), size=min(len(upper), pivot_count(len(upper))), replace=False))
    pivots = _covering(upper_points, pivots, params.space)
    return Graph(indptr, indices, nodes[upper[pivots]].astype(np.int64), params.space, rows, dim, nodes,
                 nodes[upper].astype(np.int64), upper_indptr, upper_indices)


# The upper layer: a search enters the bottom layer at the best nodes of a search in a graph over
# a sample of the nodes, itself entered at the nearest of its pivots (scanned: one in 16 of its
# nodes). On 200k clustered rows (near-duplicate groups of 20), the 8 nodes nearest to the query
# among 1,000 random pivots gave recall@10 0.92 at ef 100, among 10,000 0.9997: the bottom layer is
# hard to cross between groups, a sample's graph is not. At 1M, 1 pivot in 100 upper nodes left
# 2% of the queries stranded in a far region of the upper layer, 1 in 16 none (kernels.UPPER_EF).
UPPER_SHARE = 16  # one node in 16 is in the upper layer...
UPPER_MIN = 256  # ...at least this many
UPPER_NEIGHBORS = 24  # kNN of the upper nodes, the candidates of their edges...
UPPER_DEGREE = 32  # ...of which at most this many, with
UPPER_RANDOM_EDGES = 8  # this many to random upper nodes
PIVOT_SHARE = 16  # one upper node in 16 is a pivot


def pivot_count(upper_nodes: int) -> int:
    """Entry candidates of the upper layer (its search starts from the 4 nearest to the query)."""
    return max(min(upper_nodes, 64), upper_nodes // PIVOT_SHARE)


# Random pivots leave isolated regions uncovered: at 1M, 1% of the upper nodes were 0.84 (cosine)
# or more from every pivot (the median: 0.28), and a query there started its walk so far away
# that it never reached its region (recall 0 for 3 queries of 200). So the builder adds, one at a
# time, the upper node farthest from every pivot (farthest-point sampling) until none is farther
# than COVER_FACTOR x the median node's distance, with at most as many pivots again. At 1M the
# farthest upper node went to 0.35 and recall@10 to 1.000; at 10M (near-duplicate groups of 200
# stored together, so many isolated groups per blockfile) recall 0.97 -> 0.99 (docs/index.md).
COVER_FACTOR = 2.0


def _covering(points: np.ndarray, pivots: np.ndarray, space: str) -> np.ndarray:
    """``pivots`` (sorted positions in ``points``) plus, one at a time, the point farthest from
    every pivot chosen so far, while one is farther than ``COVER_FACTOR`` times the median
    point's distance to its nearest pivot (at most ``len(pivots)`` more; ``ip`` distances, which
    can be negative, get a sixteenth more)."""
    from chroma_frame.index.knn_graph import ROW_BLOCK, _dist_block

    if len(pivots) >= len(points):
        return pivots
    sq = np.einsum("ij,ij->i", points, points).astype(np.float32)
    chosen, chosen_sq = points[pivots], sq[pivots]
    nearest = np.empty(len(points), np.float32)
    for lo in range(0, len(points), ROW_BLOCK):  # blocked: ROW_BLOCK x pivots distances at a time
        hi = lo + ROW_BLOCK
        nearest[lo:hi] = _dist_block(space, points[lo:hi], sq[lo:hi], chosen, chosen_sq).min(axis=1)
    median = float(np.median(nearest))
    bound, limit = (COVER_FACTOR * median, len(pivots)) if median > 0 else (-np.inf, len(pivots) // 16)
    nearest[pivots] = -np.inf
    added: list[int] = []
    while len(added) < min(limit, len(points) - len(pivots)) and nearest.max() > bound:
        far = int(np.argmax(nearest))
        added.append(far)
        np.minimum(nearest, _dist_block(space, points[far:far + 1], sq[far:far + 1], points, sq)[0], out=nearest)
        nearest[far] = -np.inf
    return np.unique(np.concatenate([pivots, np.asarray(added, dtype=pivots.dtype)]))


def embedding_matrix(table) -> np.ndarray:
    """A record table's ``embedding`` column as a (rows, dimension) float32 matrix."""
    column = table.column("embedding").combine_chunks()
    dim = column.type.list_size
    values = column.values.slice(column.offset * dim, len(column) * dim)
    matrix = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, dim)
    return matrix


def _note(storage: "Storage", prefix: str, text: str) -> None:
    """Into the collection's ``index.log`` on a local disk; the Python log on object storage."""
    if storage.is_local:
        append_log(storage.root, prefix, text)
    else:
        logging.getLogger(__name__).warning("%s/%s: %s", storage.root, prefix, text)


def build_missing(root: "str | Storage", collection_id: str, params: IndexParams, *, retry_failed: bool = False,
                  progress: Optional[Progress] = None, cancel: Optional[threading.Event] = None,
                  wait_lock: float = 0.1) -> int:
    """Build every missing or unusable graph of the collection; returns how many were built.

    Each graph is built over its blockfile's put rows. A build that fails is recorded
    (:mod:`.failures`: a marker beside the blockfile, the traceback in ``index.log``) and the
    builder goes on with the next blockfile; recorded failures are skipped unless ``retry_failed``.
    ``progress(rows_done, rows_total)`` is called as the work goes on; setting ``cancel`` abandons the
    build in progress (nothing is written for it). Returns 0 at once when another builder holds
    the collection for longer than ``wait_lock`` seconds.
    """
    from chroma_frame.storage import lock
    from chroma_frame.storage.blockfile import read_blockfile
    from chroma_frame.storage.fs import Storage
    from chroma_frame.storage.manifest import read_manifest

    storage = root if isinstance(root, Storage) else Storage.local(root)
    prefix = f"collections/{collection_id}"
    built = 0
    tried: set[str] = set()  # each graph at most once per run, whatever happens
    # On a local disk one builder per collection at a time; on object storage, where there is no
    # lock, two machines may build the same graph: each writes it whole, either one serves.
    ctx: Any = lock.exclusive(storage.path(f"{prefix}/index.lock"), timeout=wait_lock) if storage.is_local \
        else contextlib.nullcontext()
    try:
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
                    _note(storage, prefix, f"cannot read {rel} to build its graph: {exc}")
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
            total, base = sum(len(item[2]) for item in todo), 0
            for rel, table, nodes, attempts in todo:
                tried.add(str(rel))
                if cancel is not None and cancel.is_set():
                    return built
                if not storage.exists(f"{prefix}/{rel}"):
                    continue  # merged away meanwhile
                report = None if progress is None else _offset(progress, base, total)
                base += len(nodes)
                if _build_one(storage, prefix, rel, table, nodes, dimension, params, attempts + 1, report, cancel):
                    built += 1
    except FileNotFoundError:
        return built  # the collection was deleted
    finally:
        ctx.__exit__(None, None, None)


def _offset(progress: Progress, base: int, total: int) -> Progress:
    """One graph's (done, its rows) as the whole build's (done, total)."""
    return lambda done, _rows: progress(base + done, total)


def _build_one(storage, prefix: str, rel: str, table, nodes: np.ndarray, dimension: int, params: IndexParams,
               attempt: int, progress: Optional[Progress] = None, cancel: Optional[threading.Event] = None) -> bool:
    """Build, save and re-check one graph; a failure is recorded, never raised."""
    space = params.space
    try:
        # counted before the work: a process killed or crashed mid-build leaves the count behind
        write_marker(storage, prefix, rel, space, attempts=attempt)
        _current[threading.get_ident()] = (storage, prefix, rel, space, attempt)
        graph = build_graph(embedding_matrix(table), params, nodes=nodes, progress=progress, cancel=cancel)
        save_graph(storage, prefix, rel, graph)
        # what a query will load: a graph that does not pass its own checks is a failure, not a loop
        if load_graph(storage, prefix, rel, rows=table.num_rows, dimension=dimension, space=space, nodes=nodes) is None:
            raise CorruptIndex("the saved graph vanished")
        clear_marker(storage, prefix, rel, space)
        if progress is not None:
            progress(len(nodes), len(nodes))
        return True
    except FileNotFoundError:
        return False  # merged away or the collection deleted meanwhile: nothing to record
    except Cancelled:
        abandon(storage, prefix, rel, space, attempt)
        return False
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        _note(storage, prefix, f"building the {space} graph of {rel} failed (attempt {attempt}): "
                   f"{error}\n{traceback.format_exc()}")
        try:
            storage.delete_file(f"{prefix}/{index_path(rel, space)}")
        except Exception:
            pass
        try:
            write_marker(storage, prefix, rel, space, attempts=attempt, error=error)
        except Exception as record_exc:  # the disk refuses even that: say so where a user looks
            _note(storage, prefix, f"cannot record the failure: {record_exc}")
        return False
    finally:
        _current.pop(threading.get_ident(), None)


_current: dict[int, tuple] = {}  # thread -> the graph it is building (storage, prefix, rel, space, attempt)


def abandon(storage, prefix: str, rel: str, space: str, attempt: int) -> None:
    """Un-count an attempt that was abandoned, not failed (the process exits): the next open
    builds the graph afresh."""
    try:
        if attempt > 1:
            write_marker(storage, prefix, rel, space, attempts=attempt - 1)
        else:
            clear_marker(storage, prefix, rel, space)
    except Exception:  # noqa: BLE001 - at exit, best effort
        pass


def abandon_running() -> None:
    """At exit: un-count the attempts of the builds still running in this process's threads."""
    for entry in list(_current.values()):
        abandon(*entry)
