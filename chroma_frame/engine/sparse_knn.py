"""Exact top-k over sparse vectors (Chroma's sparse ``Knn``), optionally BM25-weighted.

Chroma's semantics (rust/worker/src/execution/operators/{sparse_index_knn,sparse_log_knn,idf}.rs):

* the score is ``1 - q·d`` as a float32 (a distance: lower is better), equal scores in insertion
  order (``rowid``);
* only records sharing at least one dimension with the query are returned;
* with ``bm25`` the query is first scaled by ``idf(t) = ln(1 + (n - n_t + 0.5) / (n_t + 0.5))``,
  where ``n`` counts the live records and ``n_t`` the live records whose vector has dimension
  ``t`` (the filter does not change either).

Blockfiles are scored through their postings (:mod:`chroma_frame.sparse`), the log tail from its
rows; everything is vectorised numpy: gather the postings of the query's dimensions, accumulate
with ``bincount``, mask dead and filtered-out rows, select with ``partition``.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.sparse.rows import SparseRows


def sparse_knn(
    snap: Snapshot,
    key: str,
    query: Any,
    k: int,
    candidates: Optional[np.ndarray] = None,
    bm25: bool = False,
    index: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` live rows by dot product with ``query``: (snapshot positions, ``1 - dot``), best first.

    ``query`` has ``indices`` / ``values`` (attributes or mapping keys); ``candidates`` (snapshot
    positions) restricts the result, as a filter does; ``index`` is a
    :class:`chroma_frame.sparse.SparseIndexes` or None (then every segment is scored from its rows).
    """
    dims, weights = query_arrays(query)
    empty = np.zeros(0, np.int64), np.zeros(0, np.float32)
    if k <= 0 or len(dims) == 0 or snap.table is None:
        return empty
    slots, positions, values = _gather(snap, key, dims, index)
    if bm25:
        weights = weights * idf(snap, slots, positions, len(dims))
    allowed = snap.live if candidates is None else _allowed(snap, candidates)
    keep = allowed[positions]
    positions, contributions = positions[keep], values[keep] * weights[slots[keep]]
    if len(positions) == 0:
        return empty
    hit, dots = _accumulate(positions, contributions, len(snap.live))
    scores = (1.0 - dots).astype(np.float32)
    order = _top(snap, hit, scores, k)
    return hit[order], scores[order]


def query_arrays(query: Any) -> tuple[np.ndarray, np.ndarray]:
    """(dimensions sorted and unique as uint32, float64 weights); repeated dimensions add up."""
    if isinstance(query, dict):
        indices, values = query["indices"], query["values"]
    else:
        indices, values = query.indices, query.values
    indices = np.asarray(indices, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if len(indices) != len(values):
        raise ValueError("sparse query: indices and values differ in length")
    dims, inverse = np.unique(indices, return_inverse=True)
    return dims.astype(np.uint32), np.bincount(inverse, weights=values, minlength=len(dims))


def idf(snap: Snapshot, slots: np.ndarray, positions: np.ndarray, n_dims: int) -> np.ndarray:
    """Chroma's BM25 IDF per query dimension, over the live records."""
    n = float(snap.count)
    n_t = np.bincount(slots[snap.live[positions]], minlength=n_dims).astype(np.float64)
    return np.log1p((n - n_t + 0.5) / (n_t + 0.5))


def _gather(snap: Snapshot, key: str, dims: np.ndarray, index: Any):
    """(query slot, snapshot position, value) of every stored entry on a query dimension."""
    parts = []
    for seg in snap.segments:
        postings = index.postings(seg, key) if index is not None else None
        slots, rows, values = postings.gather(dims) if postings is not None else gather_rows(seg.sparse_rows(key), dims)
        parts.append((slots, rows.astype(np.int64) + seg.start, values))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return tuple(np.concatenate(column) for column in zip(*parts))


def gather_rows(sparse: SparseRows, dims: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like ``Postings.gather``, straight from CSR rows (one pass over the segment's entries)."""
    indices = np.asarray(sparse.indices)
    entries = np.flatnonzero(np.isin(indices, dims))
    slots = np.searchsorted(dims, indices[entries])
    rows = np.searchsorted(np.asarray(sparse.offsets), entries, side="right") - 1
    return slots, rows, np.asarray(sparse.values)[entries]


def _allowed(snap: Snapshot, candidates: np.ndarray) -> np.ndarray:
    allowed = np.zeros(len(snap.live), dtype=bool)
    allowed[np.asarray(candidates, dtype=np.int64)] = True
    return allowed & snap.live


def _accumulate(positions: np.ndarray, contributions: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(distinct positions ascending, summed contributions)."""
    if len(positions) * 4 < n:  # few postings: work in their own size, not the snapshot's
        hit, inverse = np.unique(positions, return_inverse=True)
        return hit, np.bincount(inverse, weights=contributions, minlength=len(hit))
    sums = np.bincount(positions, weights=contributions, minlength=n)
    touched = np.zeros(n, dtype=bool)
    touched[positions] = True
    hit = np.flatnonzero(touched)
    return hit, sums[hit]


def _top(snap: Snapshot, hit: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Indexes into ``hit`` of the k best: float32 score ascending, then rowid (Chroma's order)."""
    if len(scores) > k:
        kth = np.partition(scores, k - 1)[k - 1]
        chosen = np.flatnonzero(scores <= kth)  # every row tied with the k-th stays in the running
    else:
        chosen = np.arange(len(scores))
    picked = scores[chosen]
    if len(np.unique(picked)) == len(picked):
        return chosen[np.argsort(picked)][:k]
    rowids = snap.column_numpy("rowid")[hit[chosen]]
    return chosen[np.lexsort((rowids, picked))][:k]


__all__ = ["sparse_knn", "query_arrays", "idf", "gather_rows"]
