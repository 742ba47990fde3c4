"""Issue 11, defect 1: graphs of blockfiles holding tombstones, and builds that fail.

Graphs are built through the ``chroma-frame index`` entry point, as in ``test_index.py``.
"""

from __future__ import annotations

import json
import logging
import os
import time

import numpy as np

import chroma_frame
from chroma_frame.cli import main as cli_main
from chroma_frame.index.build import build_missing
from chroma_frame.index.failures import failure_path
from chroma_frame.index.graph import index_path
from chroma_frame.index.manager import kernels
from chroma_frame.index.params import IndexParams

DIM = 8
CONFIG = {"hnsw": {"space": "l2", "ef_search": 100}, "nndescent": {"min_rows": 300}}


def _data(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def _build(root: str, col) -> None:
    assert cli_main(["index", "--path", root, "--collection", col.name, "--json"]) == 0


def _exact_ids(col, queries: np.ndarray, k: int) -> list[list[str]]:
    everything = col.get(include=["embeddings"])
    ids, emb = np.array(everything["ids"]), everything["embeddings"]
    d = ((queries[:, None, :] - emb[None, :, :]) ** 2).sum(-1)
    return [ids[row].tolist() for row in np.argsort(d, axis=1, kind="stable")[:, :k]]


def _reopen(root: str, name: str):
    chroma_frame.Client.clear_system_cache()  # as another process would open the folder
    return chroma_frame.PersistentClient(path=root).get_collection(name, embedding_function=None)


def test_blockfiles_holding_tombstones_get_graphs(tmp_path):
    """The issue's scenario: the second blockfile holds 10 tombstones (null embeddings); its graph
    is built over its put rows, and queries go through both graphs with exact search's answers."""
    root = str(tmp_path)
    col = chroma_frame.PersistentClient(path=root).create_collection(
        "tombstones", embedding_function=None, configuration=CONFIG)
    col._store.index.auto_build = False
    first, second = _data(21, 3000), _data(22, 3000)
    col.add(ids=[f"a{i}" for i in range(3000)], embeddings=first)
    col.compact()
    col.add(ids=[f"b{i}" for i in range(3000)], embeddings=second)
    col.delete(ids=[f"a{i}" for i in range(10)])
    col.compact()
    blocks = col._store.snapshot().base
    assert [seg.table.num_rows for seg in blocks] == [3000, 3010]

    _build(root, col)
    for seg in blocks:
        assert os.path.exists(os.path.join(root, "collections", str(col.id), index_path(seg.name, "l2")))
    kernels(wait=True)
    col = _reopen(root, "tombstones")
    col._store.index.auto_build = False
    status = col.index_status()
    assert (status["indexed_rows"], status["exact_rows"], status["failed"]) == (6010, 0, [])
    queries = np.concatenate([first[:15], second[:15], _data(23, 30)])  # deleted ones among them
    got = col.query(query_embeddings=queries, n_results=10)["ids"]
    assert got == _exact_ids(col, queries, 10)
    assert not {f"a{i}" for i in range(10)} & {i for row in got for i in row}


def test_a_failed_build_is_recorded_logged_and_not_retried(tmp_path, caplog):
    """A graph that cannot be written (a folder is in the way: every attempt fails the same way)
    is recorded beside its blockfile and in index.log; the builder goes on with the next
    blockfile; no process starts builders for it again; an explicit retry may."""
    root = str(tmp_path)
    col = chroma_frame.PersistentClient(path=root).create_collection(
        "failing", embedding_function=None, configuration=CONFIG)
    col._store.index.auto_build = False
    for batch in range(2):
        col.add(ids=[f"{batch}-{i}" for i in range(400)], embeddings=_data(30 + batch, 400))
        col.compact()
    first, second = (seg.name for seg in col._store.snapshot().base)
    folder = os.path.join(root, "collections", str(col.id))
    in_the_way = os.path.join(folder, index_path(first, "l2"))
    os.makedirs(in_the_way)

    _build(root, col)
    assert os.path.isfile(os.path.join(folder, index_path(second, "l2")))  # the later one still built
    marker = json.load(open(os.path.join(folder, failure_path(first, "l2"))))
    assert marker["error"] and marker["attempts"] == 1
    log = open(os.path.join(folder, "index.log")).read()
    assert first in log and "failed" in log and "Traceback" in log

    kernels(wait=True)
    col = _reopen(root, "failing")  # builds on: nothing may be started for the failed graph
    queries = _data(33, 8)
    try:
        with caplog.at_level(logging.WARNING):
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:  # the manager looks for missing graphs twice a second
                assert col.query(query_embeddings=queries, n_results=5)["ids"] == _exact_ids(col, queries, 5)
                time.sleep(0.1)
            status = col.index_status()
            started = time.monotonic()
            assert col.wait_for_index(timeout=30) is False  # cannot happen: says so at once
            assert time.monotonic() - started < 5
        assert status["builders_started"] == 0 and col._store.index._builder is None
        assert status["indexed_rows"] == 400
        assert [(f["blockfile"], f["space"]) for f in status["failed"]] == [(first, "l2")]
        assert marker["error"] in status["failed"][0]["error"]
        warned = [r.getMessage() for r in caplog.records if "could not be built" in r.getMessage()]
        assert len(warned) == 1 and "index.log" in warned[0]
        assert open(os.path.join(folder, "index.log")).read() == log  # no builder ran again
    finally:
        if col._store.index._builder is not None:
            col._store.index._builder.kill()
            col._store.index._builder.wait()

    os.rmdir(in_the_way)  # the cause is gone: an explicit retry builds it
    params = IndexParams.from_configuration(col.configuration_json)
    assert build_missing(root, str(col.id), params) == 0  # still recorded: not retried by default
    assert build_missing(root, str(col.id), params, retry_failed=True) == 1
    assert not os.path.exists(os.path.join(folder, failure_path(first, "l2")))
    col = _reopen(root, "failing")
    col._store.index.auto_build = False
    status = col.index_status()
    assert (status["indexed_rows"], status["failed"]) == (800, [])
