"""Helpers shared by the sparse-index tests: wire dicts, engine calls by id, tolerant top-k checks."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from chroma_frame.engine.sparse_knn import sparse_knn


def wire(vector: Mapping[int, float]) -> dict:
    """``{dim: value}`` -> Chroma's sparse-vector wire dict (indices ascending)."""
    dims = sorted(vector)
    return {"#type": "sparse_vector", "indices": dims, "values": [float(vector[d]) for d in dims]}


def engine_top_k(collection, key: str, query: Mapping[int, float], k: int, *, bm25: bool,
                 ids: Sequence[str] | None = None, use_index: bool = True) -> list[tuple[str, float]]:
    """``sparse_knn`` on the collection's current snapshot, as (id, score) pairs."""
    store = collection._store
    snap = store.snapshot()
    candidates = None if ids is None else np.sort(snap.positions_of(list(ids)))
    positions, scores = sparse_knn(snap, key, wire(query), k, candidates, bm25,
                                   store.sparse_index if use_index else None)
    got_ids = snap.rows(positions, ["id"]).column("id").to_pylist() if len(positions) else []
    return list(zip(got_ids, scores.tolist()))


def assert_same_top_k(got: list[tuple[str, float]], expected: list[tuple[str, float]],
                      all_scores: Mapping[str, float], order: Sequence[str] = (), *,
                      rtol: float = 1e-5, atol: float = 1e-5) -> None:
    """Same scores in the same order; the same ids except where scores nearly tie.

    ``all_scores``: the reference score of every matching id. Where the reference scores tie
    exactly, ids must come in ``order`` (insertion order), inside the list and at its boundary.
    """
    assert len(got) == len(expected), (got, expected)
    for (gid, gscore), (_, escore) in zip(got, expected):
        assert math.isclose(gscore, escore, rel_tol=rtol, abs_tol=atol), (got, expected)
        assert gid in all_scores and math.isclose(gscore, all_scores[gid], rel_tol=rtol, abs_tol=atol), (gid, got)
    assert len({gid for gid, _ in got}) == len(got), got
    if not expected:
        return
    boundary = expected[-1][1]
    surely_in = {eid for eid, s in expected if s < boundary - atol - rtol * abs(boundary)}
    assert surely_in <= {gid for gid, _ in got}, (got, expected)
    if order:
        rank = {id_: i for i, id_ in enumerate(order)}
        got_ids = [gid for gid, _ in got]
        for a, b in zip(got_ids, got_ids[1:]):
            assert all_scores[a] != all_scores[b] or rank[a] < rank[b], ("tie not in insertion order", got)
        for other, score in all_scores.items():
            tied_later = [g for g in got_ids if all_scores[g] == score and rank[g] > rank[other]]
            assert other in got_ids or not tied_later, ("tie at the boundary not by insertion order", got)
