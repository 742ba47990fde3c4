"""Blockfiles whose graph is not built yet are ranked on 8-bit codes and re-ranked exactly; the
answer is the exact one, alone or merged with the graphs of other blockfiles."""

import numpy as np
import pytest

import chroma_frame
from chroma_frame.engine import collection as engine_collection
from chroma_frame.engine.codes import scan_kernels
from chroma_frame.engine.dense_knn import prepare_kernels


def _exact(vectors, queries, k):
    d = ((queries[:, None, :] - vectors[None, :, :]) ** 2).sum(-1)
    return [[f"r{i}" for i in row] for row in np.argsort(d, axis=1, kind="stable")[:, :k]]


@pytest.fixture
def collection(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_collection, "_BARE_SCAN_ROWS", 2_000)
    client = chroma_frame.PersistentClient(path=str(tmp_path), settings=chroma_frame.Settings(
        index_build_policy="manual", compaction_threshold_rows=2_500))
    prepare_kernels(wait=True)
    scan_kernels()
    return client.create_collection("bare", embedding_function=None)


def _wait_for_scan_kernels():
    import time

    deadline = time.monotonic() + 60
    while scan_kernels() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scan_kernels() is not None


def test_blockfiles_without_graphs_give_the_exact_answer(collection, monkeypatch):
    calls = []
    real = engine_collection.filtered_search
    monkeypatch.setattr(engine_collection, "filtered_search", lambda *a: calls.append(len(a[-1])) or real(*a))
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((6_000, 16)).astype(np.float32)
    for start in range(0, 6_000, 3_000):
        collection.add(ids=[f"r{i}" for i in range(start, start + 3_000)], embeddings=vectors[start:start + 3_000])
    collection.compact()
    assert collection.index_status()["indexed_rows"] == 0
    _wait_for_scan_kernels()
    queries = rng.standard_normal((25, 16)).astype(np.float32)
    for _ in range(2):  # the second time on the 8-bit codes made meanwhile
        got = collection.query(query_embeddings=queries, n_results=7, include=["distances"])
        assert got["ids"] == _exact(vectors, queries, 7)
        assert all(np.all(np.diff(d) >= 0) for d in got["distances"])
    assert calls == [6_000, 6_000]  # the scan of the unindexed blockfiles answered


def test_with_some_graphs_built_the_answers_merge(collection):
    rng = np.random.default_rng(4)
    vectors = rng.standard_normal((6_000, 16)).astype(np.float32)
    collection.add(ids=[f"r{i}" for i in range(3_000)], embeddings=vectors[:3_000])
    collection.compact()
    collection.build_index()
    collection.add(ids=[f"r{i}" for i in range(3_000, 6_000)], embeddings=vectors[3_000:])
    collection.compact()
    status = collection.index_status()
    assert 0 < status["indexed_rows"] < 6_000
    _wait_for_scan_kernels()
    queries = rng.standard_normal((25, 16)).astype(np.float32)
    got = collection.query(query_embeddings=queries, n_results=7)
    exact = _exact(vectors, queries, 7)
    hits = sum(len(set(g) & set(e)) for g, e in zip(got["ids"], exact))
    assert hits >= 0.98 * 25 * 7
    assert all(len(set(ids)) == 7 for ids in got["ids"])
