"""Results read only the rows of the answer: ``Snapshot.rows`` / ``embeddings`` against a take
over the whole snapshot table, on positions anywhere (several blockfiles of several record
batches each, and the log tail), with deleted rows and updated metadata."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chroma_frame
from chroma_frame.storage import blockfile

DIM = 4
COLUMNS = ["id", "document", "uri", "metadata", "rowid", "op"]


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """Three blockfiles in record batches of 7 rows, then a log tail, with updates and deletes."""
    patch = pytest.MonkeyPatch()
    patch.setattr(blockfile, "BATCH_ROWS", 7)
    try:
        client = chroma_frame.PersistentClient(path=str(tmp_path_factory.mktemp("rows")))
        col = client.create_collection("rows", embedding_function=None)
        rng = np.random.default_rng(1)
        for part in range(3):
            ids = [f"r{part}-{i}" for i in range(40)]
            col.add(ids=ids, embeddings=rng.normal(size=(40, DIM)).astype(np.float32),
                    documents=[f"doc {i}" if i % 3 else None for i in range(len(ids))],
                    uris=[f"u{i}" if i % 2 else None for i in range(len(ids))],
                    metadatas=[{"part": part, "i": i, "tag": f"t{i % 5}"} if i % 4 else None for i in range(len(ids))])
            col.update(ids=[f"r0-{i}" for i in range(part, 40, 5)],
                       metadatas=[{"updated": part, "list": [1, 2]} for _ in range(part, 40, 5)])
            col.delete(ids=[f"r{part}-{i}" for i in range(0, 40, 9)])
            col.compact()
        col.upsert(ids=["tail-0", "tail-1", "r1-3"], embeddings=rng.normal(size=(3, DIM)).astype(np.float32),
                   documents=["t0", None, "moved"], metadatas=[{"tail": True}, None, {"again": 1.5}])
        col.delete(ids=["r2-5"])
        yield col
    finally:
        patch.undo()


def _snapshot(col):
    snap = col._store.snapshot()
    assert len(snap.base) >= 2 and snap.tail is not None  # rows come from several segments
    assert any(len(seg.batches[0]) > 1 for seg in snap.base)  # and several record batches each
    return snap


def _reference(snap, positions, names):
    return snap.table.select(names).take(pa.array(positions, pa.int64())).combine_chunks()


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_rows_equal_a_take_over_the_whole_table(collection, data):
    snap = _snapshot(collection)
    n = len(snap.live)
    positions = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=150)), dtype=np.int64)
    names = data.draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=4, unique=True))
    got = snap.rows(positions, names)
    assert got.column_names == names
    assert got.combine_chunks().equals(_reference(snap, positions, names))


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_embeddings_equal_the_stored_vectors(collection, data):
    snap = _snapshot(collection)
    live = np.flatnonzero(snap.live)
    positions = np.array(data.draw(st.lists(st.sampled_from(live.tolist()), max_size=100)), dtype=np.int64)
    want = _reference(snap, positions, ["embedding"]).column("embedding").to_pylist()
    got = snap.embeddings(positions)
    assert got.shape == (len(positions), DIM)
    assert np.array_equal(got, np.array(want, np.float32).reshape(-1, DIM))


def test_results_show_the_latest_version_of_each_record(collection):
    """What a user sees: updated metadata, moved and deleted records, through get and query."""
    got = collection.get(ids=["r0-0", "r0-5", "r1-3", "r2-5", "r0-9", "tail-0"],
                         include=["documents", "metadatas", "uris", "embeddings"])
    by_id = dict(zip(got["ids"], got["metadatas"]))
    assert set(got["ids"]) == {"r0-5", "r1-3", "tail-0"}  # r0-0, r0-9 (i % 9 == 0) and r2-5 are deleted
    assert by_id["r0-5"] == {"part": 0, "i": 5, "tag": "t0", "updated": 0, "list": [1, 2]}  # update merges
    assert by_id["r1-3"]["again"] == 1.5 and by_id["tail-0"] == {"tail": True}
    docs = dict(zip(got["ids"], got["documents"]))
    assert docs["r1-3"] == "moved" and docs["r0-5"] == "doc 5"
    everything = collection.get(include=["embeddings"])
    for rid, vec in zip(got["ids"], got["embeddings"]):
        assert np.array_equal(vec, everything["embeddings"][everything["ids"].index(rid)])
    hit = collection.query(query_embeddings=got["embeddings"][:1], n_results=3,
                           include=["documents", "metadatas", "distances"])
    assert hit["ids"][0][0] == got["ids"][0] and hit["metadatas"][0][0] == got["metadatas"][0]
