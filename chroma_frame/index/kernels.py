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
def _search_one(space, data, sq_norms, indptr, indices, entries, query, k, ef, slack, allowed, use_allowed,
                out_idx, out_dist):
    n = data.shape[0]
    query_sq = np.float32(0.0)
    for j in range(query.shape[0]):
        query_sq += query[j] * query[j]
    visited = np.zeros(n, dtype=np.uint8)
    candidates = [(np.float64(0.0), np.int64(0))]
    candidates.pop()
    results = [(np.float64(0.0), np.int64(0))]
    results.pop()
    for e in entries:
        if visited[e]:
            continue
        visited[e] = 1
        d = _distance(space, data, sq_norms, e, query, query_sq)
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
            dn = _distance(space, data, sq_norms, nb, query, query_sq)
            if len(results) < ef or dn < -results[0][0]:
                heapq.heappush(candidates, (dn, np.int64(nb)))
                if not use_allowed or allowed[nb]:
                    heapq.heappush(results, (-dn, np.int64(nb)))
                    if len(results) > ef:
                        heapq.heappop(results)
    m = len(results)
    order = np.empty(m, dtype=np.int64)
    dists = np.empty(m, dtype=np.float32)
    for i in range(m):
        negd, node = heapq.heappop(results)
        order[m - 1 - i] = node
        dists[m - 1 - i] = -negd
    found = min(k, m)
    for i in range(found):
        out_idx[i] = order[i]
        out_dist[i] = dists[i]
    return found


@numba.njit(cache=True, nogil=True)
def search_batch(space, data, sq_norms, indptr, indices, pivots, queries, k, ef, epsilon, allowed, use_allowed):
    """Top-``k`` per query: (indices, distances, counts); unused slots are -1 / inf.

    Serial and GIL-free: callers split large batches across threads (numba's own parallel
    loop costs milliseconds of thread wake-up per call, more than one query's search).
    """
    nq = queries.shape[0]
    out_idx = np.full((nq, k), -1, dtype=np.int64)
    out_dist = np.full((nq, k), np.inf, dtype=np.float32)
    counts = np.zeros(nq, dtype=np.int64)
    n_entries = min(8, pivots.shape[0])
    for qi in range(nq):
        query = queries[qi]
        query_sq = np.float32(0.0)
        for j in range(query.shape[0]):
            query_sq += query[j] * query[j]
        # entry points: the pivots nearest to the query
        pd = np.empty(pivots.shape[0], dtype=np.float64)
        for i in range(pivots.shape[0]):
            pd[i] = _distance(space, data, sq_norms, pivots[i], query, query_sq)
        entries = pivots[np.argsort(pd)[:n_entries]]
        counts[qi] = _search_one(space, data, sq_norms, indptr, indices, entries, query, k, ef, 1.0 + epsilon,
                                 allowed, use_allowed, out_idx[qi], out_dist[qi])
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
