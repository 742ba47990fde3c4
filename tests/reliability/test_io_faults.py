"""I/O faults at every write site, through a failing ``pyarrow.fs`` filesystem (tests/reliability/faultfs.py).

For each write site (log entry, compaction blockfile, manifest, catalog, graph, postings) and each
fault (no space, EIO, a short write, a failed rename, a failed fsync of the file or of its folder)
the API call either succeeds, its data durable, or raises a Chroma error that names the file; in
both cases no ``.tmp`` file is left, the state is the one before the call plus every acknowledged
write, read again from disk by a fresh client, and writes work again once the fault is gone.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

import chroma_frame
from chroma_frame import Knn, Search
from chroma_frame.errors import ChromaError, DiskFullError, InternalError, StorageWriteError
from chroma_frame.index.graph import Graph, load_graph, save_graph
from tests.reliability.faultfs import FaultHandler, faulty_client, fresh_client, tmp_files

FAULTS = {  # name -> (operation, kind)
    "enospc": ("write", "enospc"),
    "eio": ("write", "eio"),
    "short-write": ("write", "short"),
    "rename": ("move", "eio"),
    "fsync": ("fsync", "eio"),
    "dir-fsync": ("dirsync", "eio"),
}
PATTERNS = {
    "log": r"/log/\d{20}\.arrow",
    "blockfile": r"/blocks/[0-9a-f]{32}\.arrow(\.|$)",
    "manifest": r"/manifests/\d{20}\.json",
    "catalog": r"/catalog(/\d{20}\.json|$)",  # a version (its temporary file), or their folder (dirsync)
    "graph": r"\.graph\.npz",
    "postings": r"\.sparse\.[0-9a-f]{16}\.arrow",
}
DIM = 4
THRESHOLD = 8  # rows: the second batch of 5 triggers a compaction


def batch(prefix: str, n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"ids": [f"{prefix}{i}" for i in range(n)],
            "embeddings": rng.random((n, DIM), dtype=np.float32).tolist(),
            "documents": [f"{prefix} document {i}" for i in range(n)],
            "metadatas": [{"n": i, "batch": prefix} for i in range(n)]}


def records(data: dict) -> dict:
    return {i: (d, m, tuple(np.float32(e).tolist()))
            for i, d, m, e in zip(data["ids"], data["documents"], data["metadatas"], data["embeddings"])}


def state(collection) -> dict:
    got = collection.get(include=["documents", "metadatas", "embeddings"])
    return {i: (d, m, tuple(np.asarray(e, np.float32).tolist()))
            for i, d, m, e in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"])}


def check_error(exc: BaseException, fault: str, names: str, *, created: bool = False) -> None:
    """A Chroma error (InternalError on the wire) that says what happened to which file.

    ``created``: the file was made by a create-if-absent link (a commit others may see at once),
    so a failed sync of its folder cannot be taken back: the error says it may be committed."""
    assert isinstance(exc, InternalError) and isinstance(exc, ChromaError), type(exc)
    message = str(exc)
    assert names in message, message
    if fault in ("enospc", "short-write"):
        assert isinstance(exc, DiskFullError)
        assert message.startswith("No space left on device while writing "), message
    else:
        assert isinstance(exc, StorageWriteError) and not isinstance(exc, DiskFullError)
        assert message.startswith("I/O error while writing ") and "Input/output error" in message, message
    if created and fault == "dir-fsync":
        assert message.endswith("the write may have been committed"), message
    else:
        assert message.endswith("the write was not committed"), message


def collection_dir(collection) -> str:
    store = collection._store
    return store.storage.path(store.prefix)


def read_or_none(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def newest_manifest(folder: str) -> bytes | None:
    names = sorted(n for n in os.listdir(f"{folder}/manifests") if n.endswith(".json"))
    return read_or_none(f"{folder}/manifests/{names[-1]}")


@pytest.fixture
def db(tmp_path):
    yield str(tmp_path / "db")
    chroma_frame.Client.clear_system_cache()  # drop the System that holds the fault handler


# -- the sites -------------------------------------------------------------------------------
def log_site(path: str, handler: FaultHandler, fault: str, caplog) -> None:
    client = faulty_client(path, handler)
    col = client.create_collection("faults")
    first = batch("a", 5, 1)
    col.add(**first)
    handler.inject(*_op(fault, "log"))
    with pytest.raises(ChromaError) as info:
        col.add(**batch("b", 5, 2))
    check_error(info.value, fault, "/log/", created=True)
    maybe = records(batch("b", 5, 2)) if fault == "dir-fsync" else {}  # linked whole, its folder not synced
    assert state(col) == records(first) | maybe  # the failed write is not there (unless it may be)
    assert not tmp_files(path)
    handler.clear()
    second = batch("b", 5, 3)
    col.add(**second)
    # an add keeps the records already there: those of the write that may have been committed win
    assert state(fresh_client(path).get_collection("faults")) == records(first) | records(second) | maybe


def compaction_site(site: str):
    def run(path: str, handler: FaultHandler, fault: str, caplog) -> None:
        client = faulty_client(path, handler, compaction_threshold_rows=THRESHOLD)
        col = client.create_collection("faults")
        first, second = batch("a", 5, 1), batch("b", 5, 2)
        col.add(**first)
        folder = collection_dir(col)
        manifest = newest_manifest(folder)
        handler.inject(*_op(fault, site), times=None)
        with caplog.at_level(logging.WARNING, logger="chroma_frame.engine.store"):
            col.add(**second)  # committed; the compaction after it fails: logged, not raised
        assert handler.injected and "compaction" in caplog.text and "will retry" in caplog.text
        if site == "manifest" and fault == "dir-fsync":  # linked whole: it stands, with its blockfile
            assert newest_manifest(folder) != manifest
            assert state(col) == records(first) | records(second)
            return
        assert newest_manifest(folder) == manifest  # the previous manifest stays
        assert len(os.listdir(f"{folder}/log")) == 2  # and every log entry
        assert not [n for n in os.listdir(f"{folder}/blocks") if n.endswith(".arrow")] if os.path.isdir(
            f"{folder}/blocks") else True  # the new blockfile is removed
        assert not tmp_files(path)
        assert state(col) == records(first) | records(second)
        with pytest.raises(ChromaError) as info:
            col.compact()  # an explicit compaction reports the failure
        check_error(info.value, fault, "/blocks/" if site == "blockfile" else "/manifests/")
        assert not tmp_files(path) and newest_manifest(folder) == manifest
        handler.clear()
        col.compact()
        third = batch("c", 3, 3)
        col.add(**third)
        assert state(col) == records(first) | records(second) | records(third)
        fresh = fresh_client(path).get_collection("faults")
        assert state(fresh) == records(first) | records(second) | records(third)
        assert len(fresh._store.snapshot().base) == 1  # the retried compaction did fold the log
    return run


def current_catalog(path: str) -> bytes | None:
    """The bytes of the current catalog version."""
    versions = sorted(os.listdir(f"{path}/catalog"))
    return read_or_none(f"{path}/catalog/{versions[-1]}") if versions else None


def catalog_site(path: str, handler: FaultHandler, fault: str, caplog) -> None:
    client = faulty_client(path, handler)
    client.create_collection("kept").add(**batch("a", 3, 1))
    catalog = current_catalog(path)
    handler.inject(*_op(fault, "catalog"))
    with pytest.raises(ChromaError) as info:
        client.create_collection("added")
    check_error(info.value, fault, "/catalog/")
    assert current_catalog(path) == catalog
    assert [c.name for c in client.list_collections()] == ["kept"]
    assert not tmp_files(path)
    handler.clear()
    client.create_collection("added")
    fresh = fresh_client(path)
    assert sorted(c.name for c in fresh.list_collections()) == ["added", "kept"]
    assert state(fresh.get_collection("kept")) == records(batch("a", 3, 1))


def graph_site(path: str, handler: FaultHandler, fault: str, caplog) -> None:
    # Graphs are saved by the builder process (python -m chroma_frame.index.build) through
    # save_graph; here it runs in-process over the faulty filesystem, with a small valid graph.
    client = faulty_client(path, handler)
    col = client.create_collection("faults")
    data = batch("a", 12, 1)
    col.add(**data)
    col.compact()
    store = col._store
    (block,) = store.snapshot().base
    n = block.table.num_rows
    graph = Graph(np.arange(n + 1, dtype=np.int64), ((np.arange(n) + 1) % n).astype(np.int32),
                  np.arange(min(n, 4), dtype=np.int64), "l2", n, DIM)
    before = col.query(query_embeddings=[[0.5] * DIM], n_results=3)
    handler.inject(*_op(fault, "graph"))
    with pytest.raises(ChromaError) as info:
        save_graph(store.storage, store.prefix, block.name, graph)
    check_error(info.value, fault, ".graph.npz")
    assert load_graph(store.storage, store.prefix, block.name, rows=n, dimension=DIM, space="l2") is None
    assert not tmp_files(path)
    assert col.query(query_embeddings=[[0.5] * DIM], n_results=3) == before  # exact scan meanwhile
    handler.clear()
    save_graph(store.storage, store.prefix, block.name, graph)
    assert load_graph(store.storage, store.prefix, block.name, rows=n, dimension=DIM, space="l2") is not None
    assert state(fresh_client(path).get_collection("faults")) == records(data)


def postings_site(path: str, handler: FaultHandler, fault: str, caplog) -> None:
    # Postings are stored on first use by a sparse search: a failure to store them is logged and
    # the search answers from the postings built in memory.
    client = faulty_client(path, handler)
    schema = chroma_frame.Schema().create_index(chroma_frame.SparseVectorIndexConfig(), key="sp")
    col = client.create_collection("faults", schema=schema, embedding_function=None)
    n = 16
    data = batch("a", n, 1)
    data["metadatas"] = [{"sp": chroma_frame.SparseVector(indices=[i % 5, 5 + i % 3], values=[1.0 + i, 2.0])}
                         for i in range(n)]
    col.add(**data)
    col.compact()
    search = Search().rank(Knn(query=chroma_frame.SparseVector(indices=[1, 6], values=[1.0, 1.0]), key="sp",
                               limit=4)).select("#score")
    handler.inject(*_op(fault, "postings"))
    with caplog.at_level(logging.WARNING):
        found = col.search(search)  # succeeds
    assert handler.injected and "could not store" in caplog.text
    assert not tmp_files(path)
    assert not [name for name in os.listdir(f"{collection_dir(col)}/blocks") if ".sparse." in name]
    handler.clear()
    fresh = fresh_client(path).get_collection("faults")
    assert fresh.search(search)["ids"] == found["ids"] and found["ids"][0][0] == "a11"  # 1.0 + 11 + 2.0
    assert [name for name in os.listdir(f"{collection_dir(fresh)}/blocks") if ".sparse." in name]


SITES = {
    "log": log_site,
    "blockfile": compaction_site("blockfile"),
    "manifest": compaction_site("manifest"),
    "catalog": catalog_site,
    "graph": graph_site,
    "postings": postings_site,
}


def _op(fault: str, site: str) -> tuple[str, str, str]:
    op, kind = FAULTS[fault]
    return op, PATTERNS[site], kind


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("site", list(SITES))
def test_fault_at_write_site(db, site, fault, caplog):
    handler = FaultHandler()
    SITES[site](db, handler, fault, caplog)
    assert handler.injected, "the fault never fired: the test did not reach its write site"
    assert not tmp_files(db)


def test_failed_folder_sync_takes_a_replaced_file_back(db):
    """A collection's description renamed into place but its folder not synced: the old description
    is put back, and the failed rename is not half there."""
    handler = FaultHandler()
    client = faulty_client(db, handler)
    client.create_collection("kept")
    handler.inject("dirsync", r"/collection\.json$", "eio")
    with pytest.raises(StorageWriteError):
        client.get_collection("kept").modify(name="added")
    assert [c.name for c in fresh_client(db).list_collections()] == ["kept"]


def test_read_fault_is_an_error_and_leaves_data_readable(db):
    handler = FaultHandler()
    client = faulty_client(db, handler)
    col = client.create_collection("faults")
    data = batch("a", 6, 1)
    col.add(**data)
    col.compact()
    chroma_frame.Client.clear_system_cache()  # a new process: the blockfile is not mapped yet
    handler.inject("read", r"/blocks/[0-9a-f]{32}\.arrow$", "eio", times=None)
    with pytest.raises(InternalError, match=r"I/O error while reading .*/blocks/.*\.arrow \(Input/output error\)"):
        faulty_client(db, handler).get_collection("faults").get()
    handler.clear()
    assert state(faulty_client(db, handler).get_collection("faults")) == records(data)
