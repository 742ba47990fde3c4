"""Each ``Knn`` of a search -> its nearest records among the filter's candidates.

Dense queries search the collection's embeddings (``CollectionEngine.knn``: graphs where built,
exact elsewhere), whatever the ``key`` says, as Chroma does. Sparse queries search a metadata key
with a sparse vector index (``CollectionEngine.sparse_knn``); Chroma's error for a key without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from chroma_frame.base_types import SparseVector
from chroma_frame.engine.collection import CollectionEngine
from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.errors import InvalidArgumentError
from chroma_frame.execution.expression.rank import Knn


@dataclass(frozen=True)
class KnnContext:
    """The engine facade and the one snapshot every part of a search batch reads."""

    engine: CollectionEngine
    snap: Snapshot


@dataclass(frozen=True)
class KnnResult:
    positions: np.ndarray  # int64 snapshot positions, nearest first
    scores: np.ndarray  # float32 distances (lower is better)


def run_knns(ctx: KnnContext, knns: Sequence[Knn], candidates: Optional[np.ndarray]) -> list[KnnResult]:
    """One result per ``Knn``, in order. ``candidates``: sorted positions the filter admits."""
    results: list[Optional[KnnResult]] = [None] * len(knns)
    dense = [i for i, knn in enumerate(knns) if not isinstance(knn.query, SparseVector)]
    for i, result in zip(dense, _dense(ctx, [knns[i] for i in dense], candidates)):
        results[i] = result
    for i, knn in enumerate(knns):
        if results[i] is None:
            results[i] = _sparse(ctx, knn, candidates)
    return results  # type: ignore[return-value]


def _dense(ctx: KnnContext, knns: list[Knn], candidates: Optional[np.ndarray]) -> list[KnnResult]:
    """All dense queries of a search in one engine call (k = the largest limit, then cut)."""
    if not knns:
        return []
    snap = ctx.snap
    rows = [np.asarray(knn.query, dtype=np.float32).reshape(-1) for knn in knns]
    if snap.dimension is None:  # nothing was ever added
        return [KnnResult(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in knns]
    for row in rows:
        if len(row) != snap.dimension:
            raise InvalidArgumentError(
                f"Collection expecting embedding with dimension of {snap.dimension}, got {len(row)}"
            )
    k = max(knn.limit for knn in knns)
    positions, dists = ctx.engine.knn(snap, np.stack(rows), k, candidates)
    return [KnnResult(p[: knn.limit], d[: knn.limit].astype(np.float32)) for knn, p, d in zip(knns, positions, dists)]


def _sparse(ctx: KnnContext, knn: Knn, candidates: Optional[np.ndarray]) -> KnnResult:
    key = knn.key if isinstance(knn.key, str) else knn.key.name
    positions, scores = ctx.engine.sparse_knn(ctx.snap, key, knn.query, knn.limit, candidates)
    return KnnResult(positions, scores)
