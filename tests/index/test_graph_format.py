"""Graph files: format 3 is memory-mapped; a format 2 file (sealed ``.npz``, what stores built
before it hold) is converted on first open, not rebuilt, and answers the same; a check that
passed is remembered, and a file damaged since is still refused."""

from __future__ import annotations

import io
import os
import time

import numpy as np
import pytest

import chroma_frame
from chroma_frame.index.graph import MAGIC, CorruptIndex, Graph, graph_nodes, index_path, load_graph
from chroma_frame.index.manager import kernels
from chroma_frame.storage import integrity
from chroma_frame.storage.integrity import VERIFIED_SUFFIX, seal
from tests.reliability.test_index_reliability import DIM, ROWS, _data, _indexed_collection


def _format_2(graph: Graph) -> bytes:
    """What chroma-frame wrote before format 3: a sealed ``.npz``."""
    buf = io.BytesIO()
    np.savez(buf, indptr=graph.indptr, indices=graph.indices, pivots=graph.pivots, nodes=graph.node_rows(),
             meta=np.array([2, graph.rows, graph.dimension], np.int64),
             space=np.frombuffer(graph.space.encode(), np.uint8))
    return buf.getvalue() + seal(buf.getvalue())


def _reopen(root: str):
    chroma_frame.Client.clear_system_cache()
    col = chroma_frame.PersistentClient(path=root).get_collection("graphs", embedding_function=None)
    col._store.index.auto_build = False
    return col


def test_a_format_2_graph_is_converted_not_rebuilt_and_answers_the_same(tmp_path):
    root = str(tmp_path)
    col, block = _indexed_collection(root)
    kernels(wait=True)
    queries = _data(7, 5)
    want = col.query(query_embeddings=queries, n_results=10, include=["distances"])
    assert col.index_status()["indexed_rows"] == ROWS
    path = os.path.join(root, "collections", str(col.id), index_path(block, "l2"))
    with open(path, "rb") as f:
        current = f.read()
    assert current.startswith(MAGIC)
    graph = Graph.from_bytes(current, rows=ROWS, dimension=DIM, space="l2")
    with open(path, "wb") as f:
        f.write(_format_2(graph))

    col = _reopen(root)
    got = col.query(query_embeddings=queries, n_results=10, include=["distances"])
    assert col.index_status()["indexed_rows"] == ROWS  # the old file was used...
    assert col._store.index.builds_started == 0  # ...not rebuilt
    assert got["ids"] == want["ids"] and np.allclose(got["distances"], want["distances"])
    with open(path, "rb") as f:
        converted = f.read()
    # rewritten in format 3: the same graph, byte for byte (format 2 had no upper layer)
    assert converted == Graph(graph.indptr, graph.indices, graph.pivots, graph.space, graph.rows, graph.dimension,
                              graph.nodes).to_bytes()


def test_a_graph_damaged_after_a_remembered_check_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(integrity, "_SETTLED_NS", 0)
    col, block = _indexed_collection(str(tmp_path))
    storage, prefix = col._store.storage, col._store.prefix
    (seg,) = col._store.snapshot().base
    nodes = graph_nodes(seg.table)
    args = dict(rows=ROWS, dimension=DIM, space="l2", nodes=nodes)
    first = load_graph(storage, prefix, block, **args)
    path = storage.path(f"{prefix}/{index_path(block, 'l2')}")
    assert os.path.exists(path + VERIFIED_SUFFIX)
    again = load_graph(storage, prefix, block, **args)  # trusted: no checksum, no array checks
    assert np.array_equal(again.indices, first.indices) and np.array_equal(again.indptr, first.indptr)

    time.sleep(0.05)
    with open(path, "r+b") as f:  # a neighbour out of range: the kernel would read out of bounds
        data = bytearray(f.read())
        offset = data.index(np.asarray(first.indices[:4]).tobytes())
        data[offset:offset + 4] = np.int32(ROWS + 1000).tobytes()
        f.seek(0)
        f.write(bytes(data))
    with pytest.raises(CorruptIndex, match="checksum"):
        load_graph(storage, prefix, block, **args)
