"""Exact nearest-neighbour search among a filter's candidate rows, without gathering them.

A filter (or ``ids=``) arrives as sorted snapshot positions. Gathering their embeddings into a
copy cost more than the distances themselves (20 ms of 50,000 rows at 1M), so the candidates are
ranked in place, where they lie in each segment's (memory-mapped) matrix, by a compiled kernel
(``index.scan_kernels``) split across cores:

1. rank: a cheap score per candidate that orders them as their distance does: on the 8-bit
   codes of the segment (``uint8`` per dimension, a quarter of the bytes) when they are ready,
   on the float32 rows otherwise;
2. re-rank: the best ``shortlist`` candidates per query (every candidate tied with the last one
   included) go through the exact search of ``engine.dense_knn``, so distances, order and ties
   are those of an exact scan; only a row that the ranking put behind ``shortlist`` others yet is
   among the true top ``k`` could be lost (measured: none, at 1M, see ``docs/internals.md``).

The 8-bit codes of a segment are made once in a background thread (``engine.codes``); the
kernels load in the background too, and until then the gathering exact scan answers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chroma_frame.engine.codes import codes_of, scan_kernels
from chroma_frame.engine.dense_knn import pool, search, workers
from chroma_frame.engine.snapshot import Snapshot

MIN_CANDIDATES = 2048  # fewer candidates: gathering them is cheaper than ranking them first
_PARALLEL_ROWS = 32768  # fewer candidates are ranked in the calling thread (a hand-off took ms under load)
_CHUNK = 4096  # candidate rows per kernel call (calls are grouped into one run per thread)
# Re-ranked per query from 8-bit scores: this many times k, at least _SHORTLIST_MIN. Each costs a
# float32 row read, a page fault when the blockfile is not in the page cache (10 ms for 256 at
# 1M); at 1M, 2 k already gave the same 200 result lists as 256 rows.
_SHORTLIST_CODED = 8
_SHORTLIST_MIN = 64
_SHORTLIST_EXACT = 32  # extra rows re-ranked from float32 scores (only rounding can reorder them)
_MAX_QUERIES = 64  # larger batches are ranked in groups of this many queries


def filtered_search(snap: Snapshot, queries: np.ndarray, k: int, space: str,
                    candidates: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Top-``k`` of the sorted live ``candidates`` per query: (positions, distances), exactly as
    ``dense_knn.search(snap, queries, k, space, candidates)`` answers."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    kernels = scan_kernels() if len(candidates) >= max(MIN_CANDIDATES, 1) else None
    if kernels is None or not np.isfinite(queries).all():  # NaN/inf queries: the plain scan's semantics
        return search(snap, queries, k, space, candidates)
    positions: list[np.ndarray] = []
    dists: list[np.ndarray] = []
    for start in range(0, len(queries), _MAX_QUERIES):
        block = queries[start: start + _MAX_QUERIES]
        for query, shortlist in zip(block, _shortlists(snap, block, k, space, candidates, kernels)):
            p, d = search(snap, query[None, :], k, space, shortlist)
            positions.append(p[0])
            dists.append(d[0])
    return positions, dists


def _shortlists(snap: Snapshot, queries: np.ndarray, k: int, space: str, candidates: np.ndarray,
                kernels: Any) -> list[np.ndarray]:
    """Per query: the sorted candidates whose score is at most that of its ``shortlist``-th best."""
    scores = np.empty((len(queries), len(candidates)), np.float32)
    norms = np.empty(len(candidates), np.float32)
    tasks, offsets = [], []
    segments = snap.segments
    bounds = np.searchsorted(candidates, [*(seg.start for seg in segments), segments[-1].stop])
    for seg, first, last in zip(segments, bounds[:-1].tolist(), bounds[1:].tolist()):
        if first == last:
            continue
        rows = candidates[first:last] - seg.start
        norms[first:last] = seg.sq_norms[rows] if space != "ip" else 0.0
        codes = codes_of(seg)
        if codes is None:
            kernel, matrix, scaled = kernels.dots, seg.matrix, queries
        else:  # q . row ~ q . low + (q * scale) . code
            kernel, matrix, scaled = kernels.dots, codes.codes, queries * codes.scale
            offsets.append((first, last, queries @ codes.low))
        tasks += [(kernel, matrix, rows, lo, min(last - first, lo + _CHUNK), scaled, first)
                  for lo in range(0, last - first, _CHUNK)]
    groups = _balanced(tasks, workers() if len(candidates) >= _PARALLEL_ROWS else 1)
    pending = [pool().submit(_run_all, scores, group) for group in groups[1:]]
    _run_all(scores, groups[0])  # the calling thread takes a share: one hand-off fewer
    for future in pending:
        future.result()
    for first, last, offset in offsets:
        scores[:, first:last] += offset[:, None]
    _as_ranking(scores, norms, space)
    want = max(_SHORTLIST_CODED * k, _SHORTLIST_MIN) if offsets else k + _SHORTLIST_EXACT
    if want >= len(candidates):
        return [candidates] * len(queries)
    cut = np.partition(scores, want - 1, axis=1)[:, want - 1]
    return [candidates[row <= bound] for row, bound in zip(scores, cut)]


def _balanced(tasks: list[tuple], workers: int) -> list[list[tuple]]:
    """The tasks (in order) cut into at most ``workers`` runs of about equal rows: a thread
    hand-off costs more than a small task (0.2 ms each on the loaded 2-core machine)."""
    sizes = np.cumsum([task[4] - task[3] for task in tasks])
    cuts = np.searchsorted(sizes, sizes[-1] * np.arange(1, workers) / workers, side="right")
    return [group for group in (tasks[a:b] for a, b in zip([0, *cuts], [*cuts, len(tasks)])) if group]


def _run_all(scores: np.ndarray, tasks: list[tuple]) -> None:
    for kernel, matrix, rows, lo, hi, queries, column in tasks:
        kernel(matrix, rows, lo, hi, queries, scores, column)


def _as_ranking(dots: np.ndarray, sq_norms: np.ndarray, space: str) -> None:
    """Turn dot products into scores ordered as the distances are (in place; smaller: nearer)."""
    if space == "ip":
        np.negative(dots, out=dots)
    elif space == "cosine":
        dots /= -(np.sqrt(sq_norms) + np.float32(1e-30))
    else:
        dots *= -2.0
        dots += sq_norms


__all__ = ["MIN_CANDIDATES", "filtered_search"]
