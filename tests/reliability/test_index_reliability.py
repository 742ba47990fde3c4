"""Issue 11, defects 1 (index part), 4 (graph files) and 10a: search graphs never crash a query or
give a wrong answer, waiting for them never raises, and a NaN query answers as Chroma's does.

Graphs here are exact k-NN graphs made with numpy (the builder's pynndescent needs a minute of
numba compilation per process; builds themselves are covered in ``tests/index``), saved through
``save_graph`` and read through the real query path.
"""

from __future__ import annotations

import io
import json
import logging
import os
import textwrap
import time

import numpy as np
import pytest

import chroma_frame
from chroma_frame.index.graph import Graph, index_path, pack, save_graph, unpack
from chroma_frame.index.manager import kernels
from chroma_frame.storage.integrity import seal
from tests.conftest import run_python

DIM = 8
ROWS = 400
CONFIG = {"hnsw": {"space": "l2"}, "nndescent": {"min_rows": 100}}


def _data(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def _distances(queries: np.ndarray, matrix: np.ndarray, space: str) -> np.ndarray:
    if space == "l2":
        return ((queries[:, None, :] - matrix[None, :, :]) ** 2).sum(-1)
    if space == "cosine":
        qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        return 1 - qn @ (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).T
    return 1 - queries @ matrix.T


def knn_graph(matrix: np.ndarray, space: str, k: int = 12) -> Graph:
    """An exact k-NN graph with reverse edges (a valid search graph over every row)."""
    n = len(matrix)
    d = _distances(matrix, matrix, space)
    np.fill_diagonal(d, np.inf)
    near = np.argsort(d, axis=1)[:, :k]
    src = np.concatenate([np.repeat(np.arange(n), k), near.ravel()])
    dst = np.concatenate([near.ravel(), np.repeat(np.arange(n), k)])
    edges = np.unique(src.astype(np.int64) * n + dst)
    src, dst = edges // n, edges % n
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    upper = np.arange(0, n, 7, dtype=np.int64)  # an upper layer: every 7th row, 4 neighbours each
    up_near = np.argsort(_distances(matrix[upper], matrix[upper], space) + np.diag(np.full(len(upper), np.inf)),
                         axis=1)[:, :4]
    return Graph(indptr, dst.astype(np.int32), upper[::2].copy(), space, n, matrix.shape[1], None, upper,
                 np.arange(0, 4 * len(upper) + 1, 4, dtype=np.int64), up_near.ravel().astype(np.int32))


def _indexed_collection(root: str, space: str = "l2", name: str = "graphs", emb=None):
    """A compacted collection whose one blockfile has a graph, searched through it."""
    client = chroma_frame.PersistentClient(path=root)
    col = client.create_collection(name, embedding_function=None,
                                   configuration={**CONFIG, "hnsw": {"space": space}})
    col._store.index.auto_build = False
    emb = _data(1, ROWS) if emb is None else emb
    col.add(ids=[f"r{i}" for i in range(len(emb))], embeddings=emb)
    col.compact()
    (seg,) = col._store.snapshot().base
    save_graph(col._store.storage, col._store.prefix, seg.name, knn_graph(emb, space))
    return col, seg.name


# -- defect 4: a damaged graph file never crashes and never answers wrongly ----------------------

def _arrays(graph_bytes: bytes) -> dict[str, np.ndarray]:
    graph = unpack(graph_bytes[:-16])
    return {"indptr": graph.indptr, "indices": graph.indices, "pivots": graph.pivots, "nodes": graph.nodes,
            "upper": graph.upper, "upper_indptr": graph.upper_indptr, "upper_indices": graph.upper_indices}


def _resealed(graph_bytes: bytes, **changes) -> bytes:
    """The graph file with some arrays replaced, sealed again (a file that passes the checksum
    but whose arrays are wrong: what a buggy writer, or a pre-checksum file, could hold)."""
    arrays = _arrays(graph_bytes)
    for name, change in changes.items():
        arrays[name] = change(arrays[name].copy())
    payload = pack(arrays, rows=ROWS, dimension=DIM, space="l2")
    return payload + seal(payload)


def _flip_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x10]) + data[middle + 1:]


def _set(index: int, value: int):
    def change(array):
        array[index] = value
        return array

    return change


def _old_format(data: bytes) -> bytes:  # a format 1 file: no seal, no nodes
    arrays = {name: a for name, a in _arrays(data).items() if name in ("indptr", "indices", "pivots")}
    arrays["meta"] = np.array([1, ROWS, DIM], np.int64)
    arrays["space"] = np.frombuffer(b"l2", dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


DAMAGE = {
    "negative pivot": lambda b: _resealed(b, pivots=_set(0, -10**9)),
    "pivot sign flipped": lambda b: _resealed(b, pivots=lambda p: -p - 1),
    "non-monotonic indptr": lambda b: _resealed(b, indptr=_set(1, 10**9)),
    "indptr not from 0": lambda b: _resealed(b, indptr=lambda p: p + 1),
    "neighbour out of range": lambda b: _resealed(b, indices=_set(3, ROWS + 10**6)),
    "negative neighbour": lambda b: _resealed(b, indices=_set(3, -5)),
    "float indices": lambda b: _resealed(b, indices=lambda a: a.astype(np.float64)),
    "nodes out of order": lambda b: _resealed(b, nodes=lambda a: a[::-1].copy()),
    "upper neighbour out of range": lambda b: _resealed(b, upper_indices=_set(3, 10**6)),
    "upper nodes out of order": lambda b: _resealed(b, upper=lambda a: a[::-1].copy()),
    "pivot not an upper node": lambda b: _resealed(b, pivots=lambda p: np.setdiff1d(np.arange(ROWS), p)[:len(p)]),
    "truncated": lambda b: b[: len(b) // 2],
    "bit flip": _flip_byte,
    "older format": _old_format,
}

_QUERY_EACH = textwrap.dedent("""
    import json, os, shutil, sys
    import numpy as np
    import chroma_frame
    from chroma_frame.index.manager import kernels
    from chroma_frame.index.graph import index_path

    pristine, work, files = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    kernels(wait=True)
    queries = np.random.default_rng(5).normal(size=(6, 8)).astype(np.float32)
    out = {}
    for label, damaged in files.items():
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(pristine, work)
        chroma_frame.Client.clear_system_cache()
        col = chroma_frame.PersistentClient(path=work).get_collection("graphs", embedding_function=None)
        col._store.index.auto_build = False
        (seg,) = col._store.snapshot().base
        graph = os.path.join(work, "collections", str(col.id), index_path(seg.name, "l2"))
        shutil.copyfile(damaged, graph)
        got = col.query(query_embeddings=queries, n_results=10, include=["distances"])
        out[label] = {"ids": got["ids"], "status": col.index_status()["indexed_rows"],
                      "file_left": os.path.exists(graph)}
        print(label, "answered", file=sys.stderr, flush=True)
    print(json.dumps(out))
""")


def test_damaged_graph_files_are_rejected_and_queries_stay_exact(tmp_path):
    pristine = str(tmp_path / "pristine")
    col, block = _indexed_collection(pristine)
    kernels(wait=True)
    assert col.index_status()["indexed_rows"] == ROWS  # the intact graph is used
    emb = col.get(include=["embeddings"])["embeddings"]
    queries = np.random.default_rng(5).normal(size=(6, DIM)).astype(np.float32)
    exact = [[f"r{i}" for i in row] for row in np.argsort(_distances(queries, emb, "l2"), axis=1)[:, :10]]
    assert col.query(query_embeddings=queries, n_results=10)["ids"] == exact
    good = open(os.path.join(pristine, "collections", str(col.id), index_path(block, "l2")), "rb").read()
    chroma_frame.Client.clear_system_cache()

    files = {}
    for label, damage in DAMAGE.items():
        path = tmp_path / f"{label.replace(' ', '_')}.npz"
        path.write_bytes(damage(good))
        files[label] = str(path)
    # in a child process: the old code read out of bounds (a segfault) on some of these
    done = run_python(_QUERY_EACH, pristine, str(tmp_path / "work"), json.dumps(files), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for label in DAMAGE:
        assert results[label]["ids"] == exact, label  # the exact answer, through an exact scan
        assert results[label]["status"] == 0, label  # the damaged graph is not used...
        assert not results[label]["file_left"], label  # ...and deleted, to be rebuilt


def test_a_rebuilt_graph_that_is_still_unusable_is_recorded_not_rebuilt_forever(tmp_path, caplog):
    col, block = _indexed_collection(str(tmp_path))
    kernels(wait=True)
    graph_file = os.path.join(str(tmp_path), "collections", str(col.id), index_path(block, "l2"))
    good = open(graph_file, "rb").read()
    chroma_frame.Client.clear_system_cache()
    col = chroma_frame.PersistentClient(path=str(tmp_path)).get_collection("graphs", embedding_function=None)
    col._store.index.auto_build = False
    query = _data(9, 1)
    want = [[f"r{i}" for i in np.argsort(_distances(query, _data(1, ROWS), "l2")[0])[:5]]]
    with caplog.at_level(logging.WARNING):
        for _ in range(4):  # each time, "the builder" writes a graph that does not load
            with open(graph_file, "wb") as f:
                f.write(DAMAGE["neighbour out of range"](good))
            assert col.query(query_embeddings=query, n_results=5)["ids"] == want
            time.sleep(0.55)  # the manager looks for a graph at most twice a second
    status = col.index_status()
    assert status["indexed_rows"] == 0
    assert [f["blockfile"] for f in status["failed"]] == [block]
    assert "unusable" in status["failed"][0]["error"]
    assert os.path.exists(graph_file)  # no longer deleted again and again: left for the doctor
    assert sum("rebuilding" in r.getMessage() for r in caplog.records) == 1
    assert sum("could not be built" in r.getMessage() for r in caplog.records) == 1  # warned once


# -- defect 2: wait_for_index returns False on timeout --------------------------------------------

def test_wait_for_index_returns_false_on_timeout(tmp_path):
    col = chroma_frame.PersistentClient(path=str(tmp_path)).create_collection(
        "waiting", embedding_function=None, configuration=CONFIG)
    col.add(ids=[f"r{i}" for i in range(ROWS)], embeddings=_data(2, ROWS))
    col.compact()  # starts a real builder: it takes far longer than the timeout below
    builder = col._store.index._builder
    try:
        assert builder is not None and builder.poll() is None
        started = time.monotonic()
        assert col.wait_for_index(timeout=0.05) is False
        assert time.monotonic() - started < 5
        assert col.query(query_embeddings=_data(3, 1), n_results=3)["ids"][0]  # still answers
    finally:
        builder.kill()
        builder.wait()


def test_wait_for_index_is_true_once_graphs_are_in_use(tmp_path):
    col, _ = _indexed_collection(str(tmp_path))
    assert col.wait_for_index(timeout=60) is True
    assert col.index_status()["exact_rows"] == 0


# -- defect 10a: a NaN query answers as Chroma 1.5.9 does ------------------------------------------

NAN = float("nan")


@pytest.mark.parametrize("space", ["l2", "cosine", "ip"])
def test_nan_and_infinite_queries_match_chromadb(tmp_path, space):
    import chromadb

    n = 300
    emb = _data(4, n)
    ids = [f"r{i}" for i in range(n)]
    queries = [[NAN] + [0.0] * (DIM - 1), [NAN] * DIM, [float("inf")] + [0.0] * (DIM - 1), emb[7].tolist()]

    theirs = chromadb.EphemeralClient().create_collection(
        f"nan-{space}-{time.monotonic_ns()}", embedding_function=None,
        configuration={"hnsw": {"space": space, "batch_size": 50, "sync_threshold": 50}})
    for start in range(0, n, 100):  # past the brute-force buffer: chroma's HNSW answers
        theirs.add(ids=ids[start:start + 100], embeddings=emb[start:start + 100])
    want = theirs.query(query_embeddings=queries, n_results=5, include=["distances"])

    graph_col, _ = _indexed_collection(str(tmp_path / "graph"), space, name=f"nan-{space}", emb=emb)
    kernels(wait=True)
    assert graph_col.index_status()["indexed_rows"] == n  # searched through the graph
    tail_col = chroma_frame.EphemeralClient().create_collection(
        f"nan-{space}-tail", embedding_function=None, configuration={"hnsw": {"space": space}})
    tail_col.add(ids=ids, embeddings=emb)  # the log tail only: an exact scan
    for ours in (graph_col, tail_col):
        got = ours.query(query_embeddings=queries, n_results=5, include=["distances"])
        assert [len(r) for r in got["ids"]] == [len(r) for r in want["ids"]] == [5] * len(queries)
        for g_ids, g_d, w_d in zip(got["ids"], got["distances"], want["distances"]):
            np.testing.assert_allclose(g_d, w_d, rtol=1e-4, atol=1e-4)  # NaN where Chroma has NaN
            assert len(set(g_ids)) == len(g_ids) and set(g_ids) <= set(ids)
        assert got["ids"][3] == want["ids"][3]  # a finite query in the same batch
    # restricted to some ids (the candidates are scanned exactly) as well
    want = theirs.query(query_embeddings=queries[:1], n_results=5, ids=ids[:40], include=["distances"])
    got = graph_col.query(query_embeddings=queries[:1], n_results=5, ids=ids[:40], include=["distances"])
    assert len(got["ids"][0]) == len(want["ids"][0]) == 5 and set(got["ids"][0]) <= set(ids[:40])
    np.testing.assert_allclose(got["distances"][0], want["distances"][0])


def test_a_failed_kernel_load_is_tried_again():
    """Loading the compiled search kernel can fail for a passing reason (numba's first compile
    iterating builtins while IPython's display hook writes one): the next call loads it again,
    so a notebook does not scan exactly for the rest of its life."""
    from chroma_frame.index import manager

    assert manager.kernels(wait=True, timeout=300) is not None
    saved = (manager._kernels, manager._kernels_state, manager._kernels_retries)
    try:
        manager._kernels, manager._kernels_state, manager._kernels_retries = None, "failed", 0
        assert manager.kernels(wait=True, timeout=300) is not None
        assert manager._kernels_state == "ready" and manager.kernels_failed() is None
        manager._kernels, manager._kernels_state = None, "failed"
        manager._kernels_retries = manager.MAX_KERNEL_RETRIES  # every retry used: it stays failed
        assert manager.kernels(wait=True, timeout=1) is None
    finally:
        manager._kernels, manager._kernels_state, manager._kernels_retries = saved
