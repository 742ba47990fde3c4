"""Chroma's accuracy invariant (``chromadb/test/property/invariants.py`` ``ann_accuracy``) on
chroma-frame collections: float16 input at 2,046 dimensions, as in Chroma's embedding tests.

Chroma's rule: each returned distance is ``np.allclose`` to numpy's float32 computation with
``atol = 1e-6 * 10 ** int(log10(dim))`` (1e-3 here), the results are sorted, recall >= 0.95."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chroma_frame

DIM = 2046


def _exact(space: str, queries: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """chromadb.utils.distance_functions, in float32."""
    if space == "l2":
        return ((queries[:, None, :] - targets[None, :, :]) ** 2).sum(-1)
    if space == "ip":
        return 1.0 - queries @ targets.T
    norms = np.linalg.norm(queries, axis=1)[:, None] * np.linalg.norm(targets, axis=1)[None, :]
    return 1.0 - (queries @ targets.T) / norms


@pytest.mark.parametrize("space", ["l2", "cosine", "ip"])
@pytest.mark.parametrize("compacted", [False, True], ids=["log", "blockfile"])
def test_float16_distances_match_exact_float32(space, compacted, tmp_path) -> None:
    rng = np.random.default_rng(3)
    embeddings = rng.random((300, DIM)).astype(np.float16)
    collection = chroma_frame.PersistentClient(str(tmp_path / "db")).create_collection(
        "float16", embedding_function=None,
        metadata={"hnsw:space": space, "hnsw:construction_ef": 128, "hnsw:search_ef": 128, "hnsw:M": 128})
    collection.add(ids=[str(i) for i in range(300)], embeddings=list(embeddings))
    if compacted:
        collection.compact()
    queries = np.concatenate([embeddings[:10], rng.random((20, DIM)).astype(np.float16)])
    found = collection.query(query_embeddings=list(queries), n_results=5, include=["distances", "embeddings"])
    exact = _exact(space, queries.astype(np.float32), embeddings.astype(np.float32))
    atol = 1e-6 * math.pow(10, int(math.log10(DIM)))
    missing = 0
    for i, (ids, distances) in enumerate(zip(found["ids"], found["distances"])):
        assert np.allclose(np.sort(distances), distances)
        expected = np.argsort(exact[i])[:5]
        for j, rid in enumerate(ids):
            assert np.allclose(exact[i][int(rid)], distances[j], atol=atol), (space, i, j)
            assert np.array_equal(found["embeddings"][i][j], embeddings[int(rid)].astype(np.float32))
        missing += len(set(expected) - {int(r) for r in ids})
    assert 1 - missing / (5 * len(queries)) >= 0.95
