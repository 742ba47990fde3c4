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
def _from_dot(space, dot, sq_norm, query_sq):
    if space == 0:
        d = np.float64(sq_norm) + np.float64(query_sq) - 2.0 * dot
        return d if d > 0.0 else 0.0
    if space == 1:
        return 1.0 - dot / (np.sqrt(np.float64(sq_norm)) * np.sqrt(np.float64(query_sq)) + 1e-30)
    return 1.0 - dot


@numba.njit(cache=True, nogil=True, fastmath=True)
def _distance(space, data, sq_norms, node, query, query_sq):
    dot = np.float32(0.0)
    row = data[node]
    for j in range(row.shape[0]):
        dot += row[j] * query[j]
    return _from_dot(space, np.float64(dot), sq_norms[node], query_sq)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _walk_distance(space, vectors, sq_norms, node, scaled, offset, query_sq):
    """The distance a walk ranks by: exact on float32 rows (``scaled`` is the query, ``offset``
    0); on 8-bit codes an estimate, since ``q . row ~ q . low + (q * scale) . code``
    (``scaled = q * scale``, ``offset = q . low``)."""
    dot = np.float32(0.0)
    row = vectors[node]
    for j in range(row.shape[0]):
        dot += np.float32(row[j]) * scaled[j]
    return _from_dot(space, np.float64(dot) + offset, sq_norms[node], query_sq)


@numba.njit(cache=True, nogil=True)
def _search_one(space, vectors, sq_norms, indptr, indices, rows, entries, scaled, offset, query_sq, want, ef,
                slack, allowed, use_allowed, out_idx, out_dist):
    """Best-first search of one graph layer from ``entries``: its ``want`` best nodes (those
    ``allowed``) into ``out_idx``/``out_dist``, nearest first; returns how many.
    Node ``i`` is row ``rows[i]`` of ``vectors`` (row ``i`` when ``rows`` is empty: the bottom
    layer); ``vectors`` are float32 rows or 8-bit codes (see :func:`_walk_distance`)."""
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
        d = _walk_distance(space, vectors, sq_norms, rows[e] if mapped else e, scaled, offset, query_sq)
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
            dn = _walk_distance(space, vectors, sq_norms, rows[nb] if mapped else nb, scaled, offset, query_sq)
            if len(results) < ef or dn < -results[0][0]:
                heapq.heappush(candidates, (dn, np.int64(nb)))
                if not use_allowed or allowed[nb]:
                    heapq.heappush(results, (-dn, np.int64(nb)))
                    if len(results) > ef:
                        heapq.heappop(results)
    m = len(results)
    found = min(want, m)
    for i in range(m):  # the heap pops farthest first: keep the last ``found``
        negd, node = heapq.heappop(results)
        at = m - 1 - i
        if at < found:
            out_idx[at] = node
            out_dist[at] = -negd
    return found


# The upper layer's beam: 64, wider when its pivots are sparser than one in 16 of its nodes (the
# graphs of older versions: one in 100). Entering the upper layer at the nearest of more pivots
# beats a wider beam: on the 1M clustered set (upper layer of 62k nodes; recall@10 at ef_search
# 100), pivots 1/100 with beam 244 gave 0.980 in 1.2 ms, pivots 1/16 with beam 64 0.99-1.0 in 0.7 ms
# (the misses were whole queries, walks stranded in the wrong region). docs/index.md
UPPER_EF = 64
UPPER_EF_MAX = 512
ENTRIES = 16  # bottom-layer entry points: the upper layer's best nodes


@numba.njit(cache=True, nogil=True)
def _upper_ef(upper_nodes, pivots):
    return min(UPPER_EF_MAX, max(UPPER_EF, 4 * upper_nodes // max(pivots, 1)))


@numba.njit(cache=True, nogil=True)
def _entries(space, vectors, sq_norms, pivots, upper, upper_indptr, upper_indices, scaled, offset, query_sq):
    """Bottom-layer entry points for the query: the best nodes of a search of the upper layer
    started from the nearest pivots (without an upper layer: the nearest pivots)."""
    pd = np.empty(pivots.shape[0], dtype=np.float64)
    for i in range(pivots.shape[0]):
        pd[i] = _walk_distance(space, vectors, sq_norms, pivots[i], scaled, offset, query_sq)
    if upper.shape[0] == 0:
        return pivots[np.argsort(pd)[:min(8, pivots.shape[0])]]
    start = np.searchsorted(upper, pivots[np.argsort(pd)[:min(4, pivots.shape[0])]])
    out_idx = np.full(ENTRIES, -1, dtype=np.int64)
    out_dist = np.full(ENTRIES, np.inf, dtype=np.float32)
    nothing = np.zeros(0, dtype=np.uint8)
    found = _search_one(space, vectors, sq_norms, upper_indptr, upper_indices, upper, start, scaled, offset,
                        query_sq, ENTRIES, _upper_ef(upper.shape[0], pivots.shape[0]), 1.0, nothing, False,
                        out_idx, out_dist)
    return upper[out_idx[:found]]


# A walk on 8-bit codes returns this many of its best nodes (at most ``ef``), re-ranked on the
# float32 rows: the answer's distances and order are exact, only the walk is estimated.
RERANK = 40


@numba.njit(cache=True, nogil=True)
def _search_graph(space, data, sq_norms, codes, low, scale, graph, query, query_sq, k, ef, slack,
                  allowed, use_allowed, out_idx, out_dist, buf_idx, buf_dist):
    """One segment's top-``k`` for ``query`` into ``out_idx``/``out_dist``; returns how many.
    The walk reads the 8-bit ``codes`` when the segment has them (a quarter of the bytes per
    visited node), else the float32 rows."""
    indptr, indices, pivots, upper, upper_indptr, upper_indices = graph
    bottom = np.zeros(0, dtype=np.int64)
    if codes.shape[0] == 0:
        entries = _entries(space, data, sq_norms, pivots, upper, upper_indptr, upper_indices, query, 0.0, query_sq)
        return _search_one(space, data, sq_norms, indptr, indices, bottom, entries, query, 0.0, query_sq, k, ef,
                           slack, allowed, use_allowed, out_idx, out_dist)
    scaled = query * scale
    offset = np.float64(0.0)
    for j in range(query.shape[0]):
        offset += np.float64(query[j]) * np.float64(low[j])
    entries = _entries(space, codes, sq_norms, pivots, upper, upper_indptr, upper_indices, scaled, offset,
                       query_sq)
    got = _search_one(space, codes, sq_norms, indptr, indices, bottom, entries, scaled, offset, query_sq,
                      min(ef, max(k, RERANK)), ef, slack, allowed, use_allowed, buf_idx, buf_dist)
    for i in range(got):
        buf_dist[i] = _distance(space, data, sq_norms, buf_idx[i], query, query_sq)
    order = np.argsort(buf_dist[:got], kind="mergesort")
    found = min(k, got)
    for i in range(found):
        out_idx[i] = buf_idx[order[i]]
        out_dist[i] = buf_dist[order[i]]
    return found


@numba.njit(cache=True, nogil=True)
def search_batch(space, data, sq_norms, indptr, indices, pivots, upper, upper_indptr, upper_indices,
                 queries, k, ef, epsilon, allowed, use_allowed):
    """Top-``k`` per query of one graph, walked on the float32 rows: (indices, distances,
    counts); unused slots are -1 / inf.

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
    graph = (indptr, indices, pivots, upper, upper_indptr, upper_indices)
    no_codes = np.zeros((0, data.shape[1]), dtype=np.uint8)
    nothing = np.zeros(0, dtype=np.float32)
    buf_idx = np.empty(0, dtype=np.int64)
    buf_dist = np.empty(0, dtype=np.float32)
    for qi in range(nq):
        query = queries[qi]
        query_sq = np.float32(0.0)
        for j in range(query.shape[0]):
            query_sq += query[j] * query[j]
        counts[qi] = _search_graph(space, data, sq_norms, no_codes, nothing, nothing, graph, query, query_sq, k,
                                   ef, 1.0 + epsilon, allowed, use_allowed, out_idx[qi], out_dist[qi], buf_idx,
                                   buf_dist)
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


def pack(matrices, norms, graphs, codes=None) -> tuple:
    """The typed lists :func:`search_graphs` takes, from per-segment matrices, squared norms,
    :class:`~chroma_frame.index.graph.Graph` objects and 8-bit codes (``(codes, low, scale)``
    or None per segment: ``engine.codes``); built once per set of segments (it costs tens of
    microseconds a segment)."""
    from numba.typed import List

    out = (List(), List(), List(), List())
    for matrix, sq, g, coded in zip(matrices, norms, graphs, codes or [None] * len(matrices)):
        out[0].append(_frozen(matrix, np.float32))
        out[1].append(_frozen(sq, np.float32))
        out[2].append((_frozen(g.indptr, np.int64), _frozen(g.indices, np.int32), _frozen(g.pivots, np.int64),
                       _frozen(g.upper, np.int64), _frozen(g.upper_indptr, np.int64),
                       _frozen(g.upper_indices, np.int32)))
        if coded is None:
            coded = (np.zeros((0, matrix.shape[1]), np.uint8), np.zeros(0, np.float32), np.zeros(0, np.float32))
        out[3].append((_frozen(coded[0], np.uint8), _frozen(coded[1], np.float32), _frozen(coded[2], np.float32)))
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
    coded = (np.eye(4, dtype=np.uint8), np.zeros(4, np.float32), np.ones(4, np.float32))
    for codes in (None, [coded]):  # one typed list for both: an empty code matrix marks "no codes"
        matrices, norms, graphs, coded_lists = pack([data], [np.ones(4, np.float32)], [graph], codes)
        search_graphs(0, data[:1], 1, 4, 0.0, matrices, norms, graphs, coded_lists, np.zeros(1, np.int64),
                      np.ones(4, np.uint8), np.zeros(1, np.uint8))


@numba.njit(cache=True, nogil=True)
def search_graphs(space, queries, k, ef, epsilon, matrices, norms, graphs, codes, starts, allowed, masked):
    """Top-``k`` per query over several segments' graphs in one call: (positions, distances,
    found), positions being ``starts[s] + row`` and ``found[q, s]`` how many of its ``k`` best
    segment ``s`` gave. ``graphs[s]`` is the tuple (indptr, indices, pivots, upper, upper_indptr,
    upper_indices), ``codes[s]`` (codes, low, scale), the codes empty when the segment has none;
    ``allowed`` (uint8 over positions) is read for the segments ``masked``."""
    nq, ns = queries.shape[0], len(matrices)
    out_idx = np.full((nq, k), -1, dtype=np.int64)
    out_dist = np.full((nq, k), np.inf, dtype=np.float32)
    found = np.zeros((nq, ns), dtype=np.int64)
    seg_idx = np.empty(k, dtype=np.int64)
    seg_dist = np.empty(k, dtype=np.float32)
    merged_idx = np.empty(k, dtype=np.int64)
    merged_dist = np.empty(k, dtype=np.float32)
    buf_idx = np.empty(max(k, RERANK), dtype=np.int64)
    buf_dist = np.empty(max(k, RERANK), dtype=np.float32)
    for qi in range(nq):
        query = queries[qi]
        query_sq = np.float32(0.0)
        for j in range(query.shape[0]):
            query_sq += query[j] * query[j]
        best_idx, best_dist, have = out_idx[qi], out_dist[qi], 0
        for s in range(ns):
            start = starts[s]
            n = graphs[s][0].shape[0] - 1
            coded, low, scale = codes[s]
            got = _search_graph(space, matrices[s], norms[s], coded, low, scale, graphs[s], query, query_sq, k, ef,
                                1.0 + epsilon, allowed[start:start + n], masked[s] != 0, seg_idx, seg_dist,
                                buf_idx, buf_dist)
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
