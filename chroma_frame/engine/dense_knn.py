"""Nearest-neighbour search over a snapshot, with Chroma's distance values.

``l2`` is the squared Euclidean distance, ``cosine`` is ``1 - cos``, ``ip`` is ``1 - a.b``.
The segments whose graph is ready are searched through their graphs in one kernel call (which
merges their top-k lists), the others exactly, and the lists are merged. A filter arrives as
candidate positions: a small candidate set is scanned exactly, a large one is searched in the
graphs with the candidates as the allowed nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, cast

import numpy as np

from chroma_frame.engine.codes import codes_of
from chroma_frame.engine.snapshot import Segment, Snapshot
from chroma_frame.index.manager import kernels

if TYPE_CHECKING:
    from chroma_frame.index.graph import Graph

_QUERY_BLOCK = 256
EXACT_CANDIDATES = 4096  # at most this many candidates: scan them exactly


@dataclass(frozen=True)
class GraphSearch:
    """What the engine needs to search a segment through its graph."""

    graph_of: Callable[[Segment], Optional[Graph]]
    kernels: Any  # chroma_frame.index.kernels (compiled), or None while loading
    ef: int = 100
    epsilon: float = 0.0


_FUSED_MAX_QUERIES = 8  # up to this many queries share one pass over the matrix (compiled kernel)
_FUSED_MIN_ROWS = 2048  # smaller scans never wait for numba to load


def _dots(queries: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(q, n) dot products. A skinny product is memory-bound: on the 2-core benchmark machine
    OpenBLAS's gemv/gemm (which packs the matrix) took twice the time of numpy's SIMD loop and
    3-4x that of one compiled pass serving up to 8 queries at once. Many queries use BLAS."""
    few = len(queries) <= _FUSED_MAX_QUERIES
    if few and len(matrix) >= _FUSED_MIN_ROWS and matrix.dtype == np.float32:
        compiled = kernels()  # loads in the background; numpy meanwhile
        if compiled is not None:
            out = np.empty((len(queries), len(matrix)), dtype=np.float32)
            compiled.fused_dots(np.ascontiguousarray(matrix), np.ascontiguousarray(queries, dtype=np.float32), out)
            return out
    if len(queries) == 1:
        return np.einsum("ij,j->i", matrix, queries[0])[None, :]
    return queries @ matrix.T


def prepare_kernels(wait: bool = False) -> bool:
    """Start loading the compiled kernels now (a server does at start-up); with ``wait``, until
    they are loaded. True once they are in use."""
    return kernels(wait=wait) is not None


def distances(queries: np.ndarray, matrix: np.ndarray, space: str, sq_norms: np.ndarray | None = None) -> np.ndarray:
    """(q, n) float32 distances between rows of ``queries`` and rows of ``matrix``.

    A query holding NaN gets NaN distances and one holding an infinity infinite (or NaN)
    ones, as Chroma's do; stored embeddings are always finite."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        dots = _dots(queries, matrix)
        if space == "ip":
            return 1.0 - dots
        if sq_norms is None:
            sq_norms = np.einsum("ij,ij->i", matrix, matrix)
        if space == "cosine":
            qn = np.linalg.norm(queries, axis=1)
            return 1.0 - dots / (np.outer(qn, np.sqrt(sq_norms)) + 1e-30)
        qsq = np.einsum("ij,ij->i", queries, queries)
        out = np.maximum(qsq[:, None] + sq_norms[None, :] - 2.0 * dots, 0.0)
    infinite = np.isinf(queries).any(axis=1) & ~np.isnan(queries).any(axis=1)
    if infinite.any():  # |q - x|^2 is +inf for every finite x; the expanded form gives inf - inf = NaN
        out[infinite] = np.inf
    return out


def _top_k(dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the k smallest (indexes, values), sorted ascending, NaN last; ties broken by
    index in rows that reach non-finite values (the distances of a NaN or infinite query)."""
    n = dist.shape[1]
    k = min(k, n)
    if k == 0:
        return np.zeros((dist.shape[0], 0), np.int64), np.zeros((dist.shape[0], 0), np.float32)
    part = np.argpartition(dist, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (dist.shape[0], 1))
    vals = np.take_along_axis(dist, part, axis=1)
    order = np.lexsort((part, vals), axis=1)
    idx, vals = np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)
    for row in np.flatnonzero(~np.isfinite(vals).all(axis=1)):  # which of many equal values: the first ones
        values = dist[row]
        uniform = np.isnan(values).all() or bool((values == values[0]).all())  # a NaN query: all NaN
        idx[row] = np.arange(k) if uniform else np.argsort(values, kind="stable")[:k]
        vals[row] = values[idx[row]]
    return idx, vals


def _merge(pos: np.ndarray, dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of per-segment lists (positions, distances); padding (position -1) after every
    real result, even one at a NaN or infinite distance."""
    idx, vals = _top_k(dist, k)
    out = np.take_along_axis(pos, idx, axis=1)
    for row in np.flatnonzero(((out < 0) | ~np.isfinite(vals)).any(axis=1)):  # rare: sort the row fully
        order = np.lexsort((pos[row], dist[row], pos[row] < 0))[: idx.shape[1]]
        out[row], vals[row] = pos[row, order], dist[row, order]
    return out, vals


def search(
    snap: Snapshot,
    queries: np.ndarray,
    k: int,
    space: str,
    candidates: Optional[np.ndarray] = None,
    graphs: Optional[GraphSearch] = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Top-``k`` live rows per query: (positions, distances), one array pair per query.

    ``candidates`` (snapshot positions) restricts the search, as a filter or ``ids=`` does.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    finite = np.isfinite(queries).all(axis=1)
    if graphs is not None and not finite.all():  # a graph walk needs ordered distances: scan NaN/inf queries
        if not finite.any():
            return search(snap, queries, k, space, candidates, None)
        pos_f, dist_f = search(snap, queries[finite], k, space, candidates, graphs)
        pos_n, dist_n = search(snap, queries[~finite], k, space, candidates, None)
        slot = np.cumsum(finite) - 1, np.cumsum(~finite) - 1
        return ([pos_f[slot[0][i]] if f else pos_n[slot[1][i]] for i, f in enumerate(finite)],
                [dist_f[slot[0][i]] if f else dist_n[slot[1][i]] for i, f in enumerate(finite)])
    if candidates is not None and (len(candidates) <= EXACT_CANDIDATES or graphs is None or graphs.kernels is None):
        return _trim(*_exact(queries, snap.embeddings(candidates), None, candidates, k, space))
    counts = _allowed_counts(snap, candidates)
    allowed = snap.live
    if candidates is not None:
        allowed = np.zeros(len(snap.live), dtype=bool)
        allowed[candidates] = True
    walked: list[tuple[Segment, Graph, int]] = []  # (segment, graph, allowed count)
    scanned: list[tuple[Segment, Optional[Graph], int]] = []
    for seg, count in zip(snap.segments, counts):
        if count == 0:
            continue
        graph = None if graphs is None or graphs.kernels is None else graphs.graph_of(seg)
        if graph is None:
            scanned.append((seg, None, int(count)))
        else:
            walked.append((seg, graph, int(count)))
    pos_parts, dist_parts = [], []
    if walked:
        p, d = _search_graphs(queries, walked, allowed, k, space, cast(GraphSearch, graphs))
        pos_parts.append(p)
        dist_parts.append(d)
    for seg, _, _ in scanned:
        p, d = _search_segment(queries, seg, allowed[seg.start : seg.stop], k, space, None)
        pos_parts.append(p)
        dist_parts.append(d)
    if not pos_parts:
        return [np.zeros(0, np.int64) for _ in queries], [np.zeros(0, np.float32) for _ in queries]
    if len(pos_parts) == 1:
        return _trim(pos_parts[0], dist_parts[0])
    return _trim(*_merge(np.concatenate(pos_parts, axis=1), np.concatenate(dist_parts, axis=1), k))


# The latest few snapshots' per-segment live counts and sets of graphs packed for the kernel,
# with strong references to what they were computed from (so that no id is reused while cached).
_LIVE_COUNTS: list = []  # [(live array, per-segment counts)]
_PACKED: list = []  # [(segments and graphs, typed lists)]
_CACHED = 4


def _allowed_counts(snap: Snapshot, candidates: Optional[np.ndarray]) -> np.ndarray:
    """Per segment: how many of its rows may be returned (live ones, among ``candidates`` when
    given), without a pass over every row per query."""
    starts = np.array([seg.start for seg in snap.segments] + [len(snap.live)], dtype=np.int64)
    if candidates is not None:  # sorted positions
        return np.diff(np.searchsorted(candidates, starts))
    for live, counts in _LIVE_COUNTS:
        if live is snap.live and len(counts) == len(starts) - 1:
            return counts
    counts = np.array([np.count_nonzero(snap.live[lo:hi]) for lo, hi in zip(starts[:-1], starts[1:])], np.int64)
    _LIVE_COUNTS.insert(0, (snap.live, counts))
    del _LIVE_COUNTS[_CACHED:]
    return counts


def _packed(kern, walked) -> tuple:
    """The search kernel's typed lists for these segments, graphs and 8-bit codes (built once
    per set; a segment's codes arrive from a background thread, and from then on its walks read them)."""
    coded = [codes_of(seg) for seg, _, _ in walked]
    held = [obj for (seg, graph, _), codes in zip(walked, coded) for obj in (seg, graph, codes)]
    for objects, packed in _PACKED:
        if len(objects) == len(held) and all(a is b for a, b in zip(objects, held)):
            return packed
    packed = kern.pack([seg.matrix for seg, _, _ in walked], [seg.sq_norms for seg, _, _ in walked],
                       [graph for _, graph, _ in walked],
                       [None if c is None else (c.codes, c.low, c.scale) for c in coded])
    _PACKED.insert(0, (held, packed))
    del _PACKED[_CACHED:]
    return packed


def _search_graphs(queries, walked, allowed: np.ndarray, k: int, space: str, graphs: GraphSearch):
    """(positions, distances) of shape (q, k) over the segments ``walked`` through their graphs,
    in one kernel call per thread, padded with -1 / inf. A large batch is split by queries across
    the cores; a few queries, by graphs (two halves of about the same rows), so that one query's
    latency is that of half its graphs."""
    if len(queries) >= 16 or workers() == 1 or len(walked) == 1:
        return _walk(queries, walked, allowed, k, space, graphs, split=True)
    by_size = sorted(walked, key=lambda item: -item[0].table.num_rows)
    halves: list[list] = [[], []]
    rows = [0, 0]
    for item in by_size:  # greedy balance by rows
        side = int(rows[1] < rows[0])
        halves[side].append(item)
        rows[side] += item[0].table.num_rows
    parts = list(pool().map(lambda half: _walk(queries, half, allowed, k, space, graphs, split=False), halves))
    return _merge(np.concatenate([p for p, _ in parts], axis=1), np.concatenate([d for _, d in parts], axis=1), k)


def _walk(queries, walked, allowed: np.ndarray, k: int, space: str, graphs: GraphSearch, split: bool):
    """:func:`_search_graphs` over one set of segments (split by queries across threads when ``split``)."""
    from chroma_frame.index.kernels import SPACE_CODES

    packed = _packed(graphs.kernels, walked)
    starts = np.array([seg.start for seg, _, _ in walked], dtype=np.int64)
    # a segment whose every node may be returned is searched without reading the mask
    masked = np.array([count < (graph.rows if graph.nodes is None else len(graph.nodes))
                       for _, graph, count in walked], dtype=np.uint8)
    flags = allowed.view(np.uint8) if masked.any() else np.zeros(0, np.uint8)

    def run(chunk: np.ndarray):
        return graphs.kernels.search_graphs(SPACE_CODES[space], chunk, k, max(graphs.ef, k), graphs.epsilon,
                                            *packed, starts, flags, masked)

    idx, dist, found = _in_threads(run, queries) if split else run(queries)
    need = np.minimum(k, [count for _, _, count in walked])
    short = np.flatnonzero((found < need).any(axis=1))
    if len(short):  # a graph could not reach enough allowed nodes: those queries segment by segment
        parts = [_search_segment(queries[short], seg, allowed[seg.start : seg.stop], k, space, graphs)
                 for seg, _, _ in walked]
        idx, dist = idx.copy(), dist.copy()
        idx[short], dist[short] = _merge(np.concatenate([p for p, _ in parts], axis=1),
                                         np.concatenate([d for _, d in parts], axis=1), k)
    return idx, dist


def _search_segment(queries, seg: Segment, allowed: np.ndarray, k: int, space: str, graphs: Optional[GraphSearch]):
    """(positions, distances) of shape (q, k') for one segment, padded with -1 / inf."""
    if graphs is None or graphs.kernels is None or (graph := graphs.graph_of(seg)) is None:
        rows = None if allowed.all() else np.flatnonzero(allowed)
        matrix = seg.matrix if rows is None else seg.matrix[rows]
        norms = seg.sq_norms if rows is None else seg.sq_norms[rows]
        local, dist = _exact(queries, matrix, norms, rows, k, space)
        return local + seg.start, dist
    from chroma_frame.index.kernels import SPACE_CODES

    all_allowed = bool(allowed.all())

    def run(chunk: np.ndarray):
        return graphs.kernels.search_batch(
            SPACE_CODES[space], seg.matrix, seg.sq_norms, graph.indptr, graph.indices, graph.pivots, graph.upper,
            graph.upper_indptr, graph.upper_indices, chunk, k, max(graphs.ef, k), graphs.epsilon,
            allowed.view(np.uint8), not all_allowed,
        )

    idx, dist, counts = _in_threads(run, queries)
    need = min(k, int(allowed.sum()))
    short = np.flatnonzero(counts < need)
    if len(short):  # the graph could not reach enough allowed nodes: scan exactly for those queries
        rows = np.flatnonzero(allowed)
        exact_idx, exact_dist = _exact(queries[short], seg.matrix[rows], seg.sq_norms[rows], rows, k, space)
        idx = idx.copy()
        dist = dist.copy()
        width = exact_idx.shape[1]
        idx[short, :width], dist[short, :width] = exact_idx, exact_dist
    idx = np.where(idx >= 0, idx + seg.start, -1)
    return idx, dist


def _in_threads(run, queries: np.ndarray):
    """``run`` over the queries, split across cores when the batch is large (the kernel drops the GIL)."""
    threads = workers()
    if len(queries) < 16 or threads == 1:
        return run(queries)
    chunks = np.array_split(queries, threads)
    parts = list(pool().map(run, chunks))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def workers() -> int:
    """Threads a search splits its work across: the cores this process may use (at most 8, and
    at most what :func:`limit_threads` allowed)."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(8, cores, *_LIMIT))


_LIMIT: list[int] = []


def limit_threads(n: int) -> None:
    """Search on at most ``n`` threads in this process (a Ray actor given ``n`` CPUs: several
    actors on one machine then share its cores instead of each using all of them). Call it
    before the first search."""
    _LIMIT[:] = [max(1, int(n))]


_POOL: list = []


def pool():
    """The process's search threads (graph walks and in-place scans; the kernels drop the GIL)."""
    if not _POOL:
        from concurrent.futures import ThreadPoolExecutor

        _POOL.append(ThreadPoolExecutor(workers(), thread_name_prefix="chroma-frame-search"))
    return _POOL[0]


def _exact(queries, matrix, sq_norms, positions, k, space):
    """Exact top-k of ``matrix`` rows; returned indexes map through ``positions`` when given."""
    if matrix.shape[0] == 0:
        return np.zeros((len(queries), 0), np.int64), np.zeros((len(queries), 0), np.float32)
    out_idx, out_dist = [], []
    for start in range(0, len(queries), _QUERY_BLOCK):
        dist = distances(queries[start : start + _QUERY_BLOCK], matrix, space, sq_norms)
        idx, vals = _top_k(dist, k)
        out_idx.append(idx if positions is None else positions[idx])
        out_dist.append(vals.astype(np.float32, copy=False))
    return np.concatenate(out_idx), np.concatenate(out_dist)


def _trim(positions: np.ndarray, dists: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    keep = positions >= 0  # padding; a NaN or infinite distance is a result (a NaN query's, as in Chroma)
    return [p[m] for p, m in zip(positions, keep)], [d[m] for d, m in zip(dists, keep)]
