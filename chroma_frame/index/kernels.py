"""Compiled kernels: best-first graph search (HNSW's layer-0 search) and the few-query exact scan, in numba.

Compiled once and cached on disk (``cache=True``); importing this module imports numba, so the
engine loads it in a background thread and scans exactly until it is ready.
"""

from __future__ import annotations

import heapq

import numba
import numpy as np

L2, COSINE, IP = 0, 1, 2
SPACE_CODES = {"l2": L2, "cosine": COSINE, "ip": IP}


@numba.njit(cache=True, nogil=True, fastmath=True)
def _distance(space, data, sq_norms, node, query, query_sq):
    dot = np.float32(0.0)
    row = data[node]
    for j in range(row.shape[0]):
        dot += row[j] * query[j]
    if space == 0:
        d = np.float64(sq_norms[node]) + np.float64(query_sq) - 2.0 * np.float64(dot)
        return d if d > 0.0 else 0.0
    if space == 1:
        return 1.0 - np.float64(dot) / (np.sqrt(np.float64(sq_norms[node])) * np.sqrt(np.float64(query_sq)) + 1e-30)
    return 1.0 - np.float64(dot)


@numba.njit(cache=True, nogil=True)
def _search_one(space, data, sq_norms, indptr, indices, rows, entries, query, query_sq, k, ef, slack,
                allowed, use_allowed, out_idx, out_dist):
    """Best-first search of one graph layer from ``entries``: its ``k`` best nodes (those
    ``allowed``) into ``out_idx``/``out_dist``, nearest first; returns how many.
    Node ``i`` is data row ``rows[i]`` (row ``i`` when ``rows`` is empty: the bottom layer)."""
    n = indptr.shape[0] - 1
    mapped = rows.shape[0] > 0
    visited = np.zeros(n, dtype=np.uint8)
    candidates = [(np.float64(0.0), np.int64(0))]
    candidates.pop()
    results = [(np.float64(0.0), np.int64(0))]
    results.pop()
    for e in entries:
        if visited[e]:
            continue
        visited[e] = 1
        d = _distance(space, data, sq_norms, rows[e] if mapped else e, query, query_sq)
        heapq.heappush(candidates, (d, np.int64(e)))
        if not use_allowed or allowed[e]:
            heapq.heappush(results, (-d, np.int64(e)))
            if len(results) > ef:
                heapq.heappop(results)
    while len(candidates) > 0:
        d, node = heapq.heappop(candidates)
        if len(results) >= ef and d > slack * -results[0][0]:
            break
        for p in range(indptr[node], indptr[node + 1]):
            nb = indices[p]
            if visited[nb]:
                continue
            visited[nb] = 1
            dn = _distance(space, data, sq_norms, rows[nb] if mapped else nb, query, query_sq)
            if len(results) < ef or dn < -results[0][0]:
                heapq.heappush(candidates, (dn, np.int64(nb)))
                if not use_allowed or allowed[nb]:
                    heapq.heappush(results, (-dn, np.int64(nb)))
                    if len(results) > ef:
                        heapq.heappop(results)
    m = len(results)
    found = min(k, m)
    for i in range(m):  # the heap pops farthest first: keep the last ``found``
        negd, node = heapq.heappop(results)
        at = m - 1 - i
        if at < found:
            out_idx[at] = node
            out_dist[at] = -negd
    return found


# Beam of the search in the upper layer: it grows with the layer (1/256 of its nodes, 64 to 512),
# since a greedy search of a larger graph needs a wider beam to enter the bottom layer at the right
# place. Measured on the 1M clustered set (one graph, upper layer of 62k nodes), recall@10 at
# ef_search 100: beam 64 -> 0.905, 128 -> 0.955, 256 -> 0.980 (benchmarks/results/scale-1m-*.md).
UPPER_EF = 64
UPPER_EF_MAX = 512
ENTRIES = 16  # bottom-layer entry points: the upper layer's best nodes


@numba.njit(cache=True, nogil=True)
def _upper_ef(upper_nodes):
    return min(UPPER_EF_MAX, max(UPPER_EF, upper_nodes // 256))


@numba.njit(cache=True, nogil=True)
def _entries(space, data, sq_norms, pivots, upper, upper_indptr, upper_indices, query, query_sq, upper_ef):
    """Bottom-layer entry points for ``query``: the best nodes of a search of the upper layer
    started from the nearest pivots (without an upper layer: the nearest pivots)."""
    pd = np.empty(pivots.shape[0], dtype=np.float64)
    for i in range(pivots.shape[0]):
        pd[i] = _distance(space, data, sq_norms, pivots[i], query, query_sq)
    if upper.shape[0] == 0:
        return pivots[np.argsort(pd)[:min(8, pivots.shape[0])]]
    start = np.searchsorted(upper, pivots[np.argsort(pd)[:min(4, pivots.shape[0])]])
    out_idx = np.full(ENTRIES, -1, dtype=np.int64)
    out_dist = np.full(ENTRIES, np.inf, dtype=np.float32)
    nothing = np.zeros(0, dtype=np.uint8)
    found = _search_one(space, data, sq_norms, upper_indptr, upper_indices, upper, start, query, query_sq,
                        ENTRIES, upper_ef, 1.0, nothing, False, out_idx, out_dist)
    return upper[out_idx[:found]]


@numba.njit(cache=True, nogil=True)
def search_batch(space, data, sq_norms, indptr, indices, pivots, upper, upper_indptr, upper_indices,
                 queries, k, ef, epsilon, allowed, use_allowed):
    """Top-``k`` per query: (indices, distances, counts); unused slots are -1 / inf.

    Two layers, as HNSW's top two: the upper one (``upper`` rows, CSR ``upper_indptr``/
    ``upper_indices`` over their positions, entered at the ``pivots`` nearest to the query)
    finds where to enter the bottom one (``indptr``/``indices`` over every row).
    Serial and GIL-free: callers split large batches across threads (numba's own parallel
    loop costs milliseconds of thread wake-up per call, more than one query's search).
    """
    nq = queries.shape[0]
    out_idx = np.full((nq, k), -1, dtype=np.int64)
    out_dist = np.full((nq, k), np.inf, dtype=np.float32)
    counts = np.zeros(nq, dtype=np.int64)
    identity = np.zeros(0, dtype=np.int64)
    for qi in range(nq):
        query = queries[qi]
        query_sq = np.float32(0.0)
        for j in range(query.shape[0]):
            query_sq += query[j] * query[j]
        entries = _entries(space, data, sq_norms, pivots, upper, upper_indptr, upper_indices, query, query_sq,
                           _upper_ef(upper.shape[0]))
        counts[qi] = _search_one(space, data, sq_norms, indptr, indices, identity, entries, query, query_sq, k, ef,
                                 1.0 + epsilon, allowed, use_allowed, out_idx[qi], out_dist[qi])
    return out_idx, out_dist, counts


# reassociation lets the dot loop vectorise; NaN and inf keep their IEEE meaning
@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"})
def fused_dots(matrix, queries, out):
    """``out[j, i] = queries[j] . matrix[i]`` in one pass over ``matrix`` (exact scans of a few
    queries: see ``engine.dense_knn._dots``)."""
    for i in range(matrix.shape[0]):
        row = matrix[i]
        for j in range(queries.shape[0]):
            q = queries[j]
            acc = np.float32(0.0)
            for k in range(matrix.shape[1]):
                acc += row[k] * q[k]
            out[j, i] = acc


def _frozen(array: np.ndarray, dtype) -> np.ndarray:
    """A read-only C-contiguous view (one array type for the typed lists, whatever the source:
    Arrow-backed matrices are read-only, computed ones are not)."""
    view = np.ascontiguousarray(array, dtype=dtype).view()
    view.flags.writeable = False
    return view


def pack(matrices, norms, graphs) -> tuple:
    """The typed lists :func:`search_graphs` takes, from per-segment matrices, squared norms and
    :class:`~chroma_frame.index.graph.Graph` objects (built once per set of segments: it costs
    tens of microseconds a segment)."""
    from numba.typed import List

    out = (List(), List(), List())
    for matrix, sq, g in zip(matrices, norms, graphs):
        out[0].append(_frozen(matrix, np.float32))
        out[1].append(_frozen(sq, np.float32))
        out[2].append((_frozen(g.indptr, np.int64), _frozen(g.indices, np.int32), _frozen(g.pivots, np.int64),
                       _frozen(g.upper, np.int64), _frozen(g.upper_indptr, np.int64),
                       _frozen(g.upper_indices, np.int32)))
    return out


def warm_up() -> None:
    """Load (or compile) every kernel the engine calls, on a toy graph."""
    data = np.eye(4, dtype=np.float32)
    indptr = np.array([0, 1, 2, 3, 4], dtype=np.int64)
    indices = np.array([1, 2, 3, 0], dtype=np.int32)
    rows = np.arange(4, dtype=np.int64)
    search_batch(0, data, np.ones(4, np.float32), indptr, indices, rows, rows, indptr, indices,
                 data[:1], 1, 4, 0.0, np.ones(4, np.uint8), False)
    fused_dots(data, data[:2], np.empty((2, 4), np.float32))
    from chroma_frame.index.graph import Graph

    graph = Graph(indptr, indices, rows, "l2", 4, 4, rows, rows, indptr, indices)
    matrices, norms, graphs = pack([data], [np.ones(4, np.float32)], [graph])
    search_graphs(0, data[:1], 1, 4, 0.0, matrices, norms, graphs, np.zeros(1, np.int64), np.ones(4, np.uint8),
                  np.zeros(1, np.uint8))


@numba.njit(cache=True, nogil=True)
def search_graphs(space, queries, k, ef, epsilon, matrices, norms, graphs, starts, allowed, masked):
    """Top-``k`` per query over several segments' graphs in one call: (positions, distances,
    found), positions being ``starts[s] + row`` and ``found[q, s]`` how many of its ``k`` best
    segment ``s`` gave. ``graphs[s]`` is the tuple (indptr, indices, pivots, upper, upper_indptr,
    upper_indices); ``allowed`` (uint8 over positions) is read for the segments ``masked``."""
    nq, ns = queries.shape[0], len(matrices)
    out_idx = np.full((nq, k), -1, dtype=np.int64)
    out_dist = np.full((nq, k), np.inf, dtype=np.float32)
    found = np.zeros((nq, ns), dtype=np.int64)
    identity = np.zeros(0, dtype=np.int64)
    seg_idx = np.empty(k, dtype=np.int64)
    seg_dist = np.empty(k, dtype=np.float32)
    merged_idx = np.empty(k, dtype=np.int64)
    merged_dist = np.empty(k, dtype=np.float32)
    for qi in range(nq):
        query = queries[qi]
        query_sq = np.float32(0.0)
        for j in range(query.shape[0]):
            query_sq += query[j] * query[j]
        best_idx, best_dist, have = out_idx[qi], out_dist[qi], 0
        for s in range(ns):
            data, sq = matrices[s], norms[s]
            indptr, indices, pivots, upper, upper_indptr, upper_indices = graphs[s]
            start = starts[s]
            entries = _entries(space, data, sq, pivots, upper, upper_indptr, upper_indices, query, query_sq,
                               _upper_ef(upper.shape[0]))
            got = _search_one(space, data, sq, indptr, indices, identity, entries, query, query_sq, k, ef,
                              1.0 + epsilon, allowed[start:start + indptr.shape[0] - 1], masked[s] != 0,
                              seg_idx, seg_dist)
            found[qi, s] = got
            # merge the two sorted lists (by distance, then position)
            a, b, m = 0, 0, 0
            while m < k and (a < have or b < got):
                take_b = a >= have or (b < got and (seg_dist[b] < best_dist[a] or (
                    seg_dist[b] == best_dist[a] and start + seg_idx[b] < best_idx[a])))
                if take_b:
                    merged_idx[m], merged_dist[m] = start + seg_idx[b], seg_dist[b]
                    b += 1
                else:
                    merged_idx[m], merged_dist[m] = best_idx[a], best_dist[a]
                    a += 1
                m += 1
            best_idx[:m] = merged_idx[:m]
            best_dist[:m] = merged_dist[:m]
            have = m
    return out_idx, out_dist, found
