"""Graph search against exact search, persistence of graphs, and queries during builds."""

import logging
import os
import shutil
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chroma_frame
from chroma_frame.cli import main as cli_main
from chroma_frame.index.build import build_missing
from chroma_frame.index.manager import kernels
from chroma_frame.index.params import IndexParams

DIM = 8
ROWS = 1200
SPACES = ("l2", "cosine", "ip")


def _config(space):
    return {"hnsw": {"space": space, "ef_search": 64}, "nndescent": {"min_rows": 300}}


def _data(seed, n):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(12, DIM))
    return (centers[rng.integers(0, 12, n)] + 0.3 * rng.normal(size=(n, DIM))).astype(np.float32)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One persisted collection per space, compacted, with graphs built (in this process)."""
    root = str(tmp_path_factory.mktemp("indexed"))
    client = chroma_frame.PersistentClient(path=root)
    for space in SPACES:
        col = client.create_collection(f"idx-{space}", embedding_function=None, configuration=_config(space))
        col._store.index.auto_build = False
        emb = _data(1, ROWS)
        col.add(ids=[f"r{i}" for i in range(ROWS)], embeddings=emb,
                metadatas=[{"g": i % 10, "even": i % 2 == 0} for i in range(ROWS)])
        col.compact()
        assert cli_main(["index", "--path", root, "--collection", col.name, "--json"]) == 0  # the builders' entry point
    kernels(wait=True)
    chroma_frame.Client.clear_system_cache()
    return root


def _open(root, space):
    col = chroma_frame.PersistentClient(path=root).get_collection(f"idx-{space}", embedding_function=None)
    col._store.index.auto_build = False
    return col


def _exact(col, queries, k, where=None):
    everything = col.get(where=where, include=["embeddings"])
    ids, emb = np.array(everything["ids"]), everything["embeddings"]
    space = col.configuration_json["hnsw"]["space"]
    if space == "l2":
        d = ((queries[:, None, :] - emb[None, :, :]) ** 2).sum(-1)
    elif space == "cosine":
        qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        en = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        d = 1 - qn @ en.T
    else:
        d = 1 - queries @ emb.T
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return [ids[o].tolist() for o in order], [d[i, o] for i, o in enumerate(order)]


def _check_against_exact(col, queries, k, where=None, min_recall=0.9):
    got = col.query(query_embeddings=queries, n_results=k, where=where, include=["distances"])
    want_ids, want_d = _exact(col, queries, k, where)
    live = set(col.get(include=[])["ids"])
    hits = 0
    for g_ids, g_d, w_ids, _w_d in zip(got["ids"], got["distances"], want_ids, want_d):
        assert len(g_ids) == len(w_ids)  # never fewer than min(k, matching rows)
        assert set(g_ids) <= live and len(set(g_ids)) == len(g_ids)
        assert g_d == sorted(g_d)
        hits += len(set(g_ids) & set(w_ids))
    expected = sum(len(w) for w in want_ids)
    recall = hits / expected if expected else 1.0
    assert recall >= min_recall, recall
    return got


@pytest.mark.parametrize("space", SPACES)
def test_graph_is_used_and_matches_exact(built, space):
    col = _open(built, space)
    status = col.index_status()
    assert status["indexed_rows"] == ROWS and status["exact_rows"] == 0
    queries = _data(7, 40)
    got = _check_against_exact(col, queries, 10, min_recall=0.95)
    want_ids, want_d = _exact(col, queries, 10)
    for g_ids, g_d, w_ids, w_d in zip(got["ids"], got["distances"], want_ids, want_d):
        common = set(g_ids) & set(w_ids)
        for i in common:  # Chroma's distance values, not the graph's internal ones
            assert g_d[g_ids.index(i)] == pytest.approx(w_d[w_ids.index(i)], rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("space", SPACES)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_writes_on_top_of_an_indexed_segment(built, tmp_path_factory, space, data):
    """Adds, updates, deletes and compactions over a graph: results stay those of exact search."""
    root = str(tmp_path_factory.mktemp("copy"))
    shutil.rmtree(root)
    shutil.copytree(built, root)
    col = _open(root, space)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    for step in range(data.draw(st.integers(1, 6))):
        action = data.draw(st.sampled_from(["add", "update", "delete", "delete_where", "compact"]))
        if action == "add":
            n = int(rng.integers(1, 50))
            start = 10_000 + step * 100
            col.add(ids=[f"n{start + i}" for i in range(n)], embeddings=_data(int(rng.integers(1e6)), n),
                    metadatas=[{"g": int(rng.integers(10)), "even": False} for _ in range(n)])
        elif action == "update":
            ids = [f"r{i}" for i in rng.choice(ROWS, 30, replace=False)]
            col.update(ids=ids, embeddings=_data(int(rng.integers(1e6)), len(ids)))
        elif action == "delete":
            col.delete(ids=[f"r{i}" for i in rng.choice(ROWS, 40, replace=False)])
        elif action == "delete_where":
            col.delete(where={"g": int(rng.integers(10))})
        else:
            col.compact()
    queries = _data(int(rng.integers(1e6)), 20)
    _check_against_exact(col, queries, 10, min_recall=0.9)
    # filters: a broad one goes through the graph with an allowed set, a narrow one is scanned
    _check_against_exact(col, queries, 10, where={"even": True}, min_recall=0.9)
    _check_against_exact(col, queries, 10, where={"g": {"$in": [3]}}, min_recall=0.99)


def test_persisted_graph_reopens_without_rebuild(built):
    col = _open(built, "cosine")
    graph_file = [f for f in os.listdir(os.path.join(built, "collections", str(col.id), "blocks")) if f.endswith(".npz")]
    assert len(graph_file) == 1
    path = os.path.join(built, "collections", str(col.id), "blocks", graph_file[0])
    before = os.stat(path).st_mtime_ns
    chroma_frame.Client.clear_system_cache()
    col = _open(built, "cosine")
    col.query(query_embeddings=_data(3, 2), n_results=5)
    assert col.index_status()["indexed_rows"] == ROWS
    assert col._store.index._builder is None  # nothing was rebuilt
    assert os.stat(path).st_mtime_ns == before


def test_truncated_graph_is_detected_and_rebuilt(built, tmp_path, caplog):
    root = str(tmp_path / "copy")
    shutil.copytree(built, root)
    col = _open(root, "l2")
    blocks = os.path.join(root, "collections", str(col.id), "blocks")
    graph = next(f for f in os.listdir(blocks) if f.endswith(".npz"))
    with open(os.path.join(blocks, graph), "r+b") as f:
        f.truncate(os.path.getsize(os.path.join(blocks, graph)) // 2)
    chroma_frame.Client.clear_system_cache()
    col = _open(root, "l2")
    queries = _data(5, 10)
    with caplog.at_level(logging.WARNING):
        got = col.query(query_embeddings=queries, n_results=10)  # still answers, exactly
    assert any("unusable" in r.message for r in caplog.records)
    assert got["ids"] == _exact(col, queries, 10)[0]
    assert col.index_status()["indexed_rows"] == 0
    assert not os.path.exists(os.path.join(blocks, graph))  # the bad file is gone
    assert build_missing(root, str(col.id), IndexParams.from_configuration(col.configuration_json)) == 1
    time.sleep(0.6)  # the manager looks for a graph at most twice a second
    assert col.index_status()["indexed_rows"] == ROWS


def test_first_query_answers_before_the_background_build(tmp_path, monkeypatch):
    from chroma_frame.index import build

    release = threading.Event()
    real = build.build_graph

    def slow_build(*args, **kwargs):  # a build that takes as long as the test wants
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(build, "build_graph", slow_build)
    col = chroma_frame.PersistentClient(path=str(tmp_path)).create_collection(
        "fresh", embedding_function=None, configuration=_config("l2"))
    emb = _data(11, ROWS)
    col.add(ids=[f"r{i}" for i in range(ROWS)], embeddings=emb)
    started = time.monotonic()
    col.compact()  # queues a build on the background worker
    builder = col._store.index._builder
    assert builder is not None
    got = col.query(query_embeddings=emb[:3], n_results=5)
    assert time.monotonic() - started < 5
    assert builder.poll() is None  # the build (a background thread) is still running
    assert [ids[0] for ids in got["ids"]] == ["r0", "r1", "r2"]
    assert col.index_status()["indexed_rows"] == 0
    release.set()
    assert col.wait_for_index(timeout=30) is True
