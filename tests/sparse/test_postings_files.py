"""Postings: the inversion, the Arrow file beside each blockfile, rebuilding bad files, and the
files' life cycle with compaction."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest

from chroma_frame.sparse.files import load_postings, postings_path, save_postings
from chroma_frame.sparse.postings import CorruptPostings, Postings, build_postings
from chroma_frame.sparse.provider import SparseIndexes
from chroma_frame.sparse.rows import SparseRows
from chroma_frame.storage.fs import Storage
from tests.engine.sparse_support import engine_top_k, wire

KEY = "sparse key/ü"  # any string: the file name carries its hash

ROWS = SparseRows(  # row 0: {3: 1, 7: 2}; row 1: none; row 2: {3: 4}; row 3: {1: 5, 7: 6}
    offsets=np.array([0, 2, 2, 3, 5], np.int64),
    indices=np.array([3, 7, 3, 1, 7], np.uint32),
    values=np.array([1, 2, 4, 5, 6], np.float32),
)


def _storage(tmp_path) -> Storage:
    storage = Storage.local(str(tmp_path))
    storage.makedirs("c/blocks")
    return storage


def test_build_inverts_rows():
    p = build_postings(ROWS)
    assert p.dims.tolist() == [1, 3, 7] and p.starts.tolist() == [0, 1, 3, 5]
    assert p.rows.tolist() == [3, 0, 2, 0, 3] and p.values.tolist() == [5, 1, 4, 2, 6]
    slots, rows, values = p.gather(np.array([0, 3, 7, 9], np.uint32))
    assert slots.tolist() == [1, 1, 2, 2] and rows.tolist() == [0, 2, 0, 3] and values.tolist() == [1, 4, 2, 6]
    empty = build_postings(SparseRows.empty(4))
    assert empty.n_rows == 4 and len(empty.gather(np.array([3], np.uint32))[0]) == 0


def test_arrow_round_trip(tmp_path):
    storage = _storage(tmp_path)
    save_postings(storage, "c", "blocks/abc.arrow", KEY, build_postings(ROWS))
    path = tmp_path / "c" / postings_path("blocks/abc.arrow", KEY)
    assert path.name.startswith("abc.sparse.") and path.suffix == ".arrow"
    table = pa.ipc.open_file(pa.py_buffer(path.read_bytes()[:-16])).read_all()  # Arrow, then a 16-byte seal
    assert table.column("dim").to_pylist() == [1, 3, 7]
    assert table.column("row").to_pylist() == [[3], [0, 2], [0, 3]]
    loaded = load_postings(storage, "c", "blocks/abc.arrow", KEY, n_rows=4)
    for name in ("dims", "starts", "rows", "values"):
        assert np.array_equal(getattr(loaded, name), getattr(build_postings(ROWS), name))
    assert load_postings(storage, "c", "blocks/other.arrow", KEY, n_rows=4) is None
    with pytest.raises(CorruptPostings):  # written for a blockfile of another size
        load_postings(storage, "c", "blocks/abc.arrow", KEY, n_rows=5)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_key", "bad_rows"])
def test_unusable_file_raises(tmp_path, damage):
    storage = _storage(tmp_path)
    rel = "c/" + postings_path("blocks/abc.arrow", KEY)
    good = build_postings(ROWS)
    save_postings(storage, "c", "blocks/abc.arrow", KEY, good)
    data = (tmp_path / rel).read_bytes()
    if damage == "truncate":
        (tmp_path / rel).write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        (tmp_path / rel).write_bytes(b"\x00" * 64)
    elif damage == "other_key":
        save_postings(storage, "c", "blocks/abc.arrow", "other", good)
        os.replace(tmp_path / "c" / postings_path("blocks/abc.arrow", "other"), tmp_path / rel)
    else:
        bad = Postings(good.dims, good.starts, good.rows + 10, good.values, good.n_rows)
        save_postings(storage, "c", "blocks/abc.arrow", KEY, bad)
    with pytest.raises(CorruptPostings):
        load_postings(storage, "c", "blocks/abc.arrow", KEY, n_rows=4)


def _collection(client, n: int = 60):
    collection = client.create_collection("postings-files")
    rng = np.random.default_rng(3)
    collection.add(ids=[f"r{i}" for i in range(n)], embeddings=rng.random((n, 2)).tolist(),
                   metadatas=[{KEY: wire({int(d): 1.0 + i for d in rng.choice(6, 2, replace=False)})}
                              for i in range(n)])
    return collection


def _block_files(collection) -> list[str]:
    prefix = collection._store.storage.path(f"{collection._store.prefix}/blocks")
    return sorted(os.listdir(prefix))


def test_corrupt_file_is_rebuilt_and_results_unchanged(client):
    collection = _collection(client)
    collection.compact()
    store = collection._store
    before = engine_top_k(collection, KEY, {1: 1.0, 4: 2.0}, 5, bm25=True)
    (block,) = store.snapshot().base
    path = store.storage.path(f"{store.prefix}/{postings_path(block.name, KEY)}")
    assert os.path.exists(path)  # built on first use, and kept
    with open(path, "wb") as f:
        f.write(b"not arrow")
    store.sparse_index = SparseIndexes(store.storage, store.prefix)  # as a new process finds it
    assert engine_top_k(collection, KEY, {1: 1.0, 4: 2.0}, 5, bm25=True) == before
    assert load_postings(store.storage, store.prefix, block.name, KEY, n_rows=block.table.num_rows) is not None


def test_files_follow_their_blockfile(client):
    collection = _collection(client)
    collection.compact()
    engine_top_k(collection, KEY, {1: 1.0}, 3, bm25=False)  # the key is now in use: indexed at compaction
    first = _block_files(collection)
    assert len(first) == 2 and any(".sparse." in name for name in first)
    stem = first[0].split(".")[0]
    graph = collection._store.storage.path(f"{collection._store.prefix}/blocks/{stem}.cosine.graph.npz")
    open(graph, "wb").close()  # stands for a graph file of the kept blockfile
    collection.add(ids=["new"], embeddings=[[0.5, 0.5]], metadatas=[{KEY: wire({1: 100.0})}])
    collection.compact()  # size-tiered: the first blockfile stays, with its companions
    second = _block_files(collection)
    assert set(first) <= set(second) and os.path.exists(graph)
    assert sum(".sparse." in name for name in second) == 2  # the new blockfile was indexed at compaction
    collection.delete(ids=[f"r{i}" for i in range(40)])
    collection.compact()  # many dead rows: everything merges into one blockfile
    client.vacuum(older_than=0)  # the merged-away files were kept as history until now
    third = _block_files(collection)
    assert len(third) == 2 and not set(third) & set(second)
    assert engine_top_k(collection, KEY, {1: 1.0}, 100, bm25=False)[0][0] == "new"
