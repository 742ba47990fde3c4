"""Compaction writes blockfiles of at most a full blockfile's rows and never rewrites a full one
(a graph is built per blockfile in memory, so a blockfile must not grow with the collection)."""

import numpy as np
import pytest

import chroma_frame
from chroma_frame.engine import store as store_module
from chroma_frame.storage.manifest import read_manifest

CAP = 1_000


@pytest.fixture
def small_cap(monkeypatch):
    monkeypatch.setattr(store_module, "FULL_BLOCKFILE_ROWS", CAP)


def _collection(tmp_path):
    client = chroma_frame.PersistentClient(path=str(tmp_path), settings=chroma_frame.Settings(
        compaction_threshold_rows=700, index_build_policy="manual"))
    return client.create_collection("runs", embedding_function=None)


def _manifest(col):
    store = col._engine.store
    return read_manifest(store.storage, store.prefix)


def test_blockfiles_stay_below_the_limit_and_full_ones_are_kept(tmp_path, small_cap):
    col = _collection(tmp_path)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((12_000, 8)).astype(np.float32)
    full_seen: set[str] = set()
    for start in range(0, len(vectors), 600):
        stop = start + 600
        col.add(ids=[f"r{i}" for i in range(start, stop)], embeddings=vectors[start:stop],
                metadatas=[{"i": i} for i in range(start, stop)])
        blockfiles = _manifest(col).blockfiles
        assert all(ref.rows <= CAP for ref in blockfiles)
        listed = {str(ref) for ref in blockfiles}
        assert full_seen <= listed, "a full blockfile was rewritten by a later compaction"
        full_seen |= {str(ref) for ref in blockfiles if ref.rows == CAP}
    col.compact()
    blockfiles = _manifest(col).blockfiles
    assert sum(ref.rows for ref in blockfiles) == 12_000
    assert len([ref for ref in blockfiles if ref.rows == CAP]) >= 10

    assert col.count() == 12_000
    got = col.get(ids=["r0", "r5999", "r11999"], include=["metadatas", "embeddings"])
    assert [m["i"] for m in got["metadatas"]] == [0, 5999, 11999]
    np.testing.assert_array_equal(np.asarray(got["embeddings"]), vectors[[0, 5999, 11999]])
    q = vectors[[3, 4500, 11000]]
    hits = col.query(query_embeddings=q, n_results=5, include=["distances"])
    exact = np.argsort(((vectors[None, :, :] - q[:, None, :]) ** 2).sum(-1), axis=1)[:, :5]
    assert hits["ids"] == [[f"r{i}" for i in row] for row in exact]


def test_updates_and_deletes_across_full_blockfiles(tmp_path, small_cap):
    col = _collection(tmp_path)
    rng = np.random.default_rng(1)
    col.add(ids=[f"r{i}" for i in range(5_000)], embeddings=rng.standard_normal((5_000, 4)).astype(np.float32),
            metadatas=[{"v": 0} for _ in range(5_000)])
    col.compact()
    assert len(_manifest(col).blockfiles) == 5
    col.update(ids=["r10", "r2500", "r4999"], metadatas=[{"v": 1}] * 3)
    col.delete(ids=["r11", "r2501"])
    col.compact()
    assert col.count() == 4_998
    assert sorted(col.get(where={"v": 1})["ids"]) == ["r10", "r2500", "r4999"]
    assert col.get(ids=["r11", "r2501"])["ids"] == []
    assert all(ref.rows <= CAP for ref in _manifest(col).blockfiles)


def test_an_ingest_ends_with_its_open_blockfiles_merged(tmp_path, small_cap):
    import pyarrow as pa

    client = chroma_frame.PersistentClient(path=str(tmp_path), settings=chroma_frame.Settings(
        compaction_threshold_rows=200, index_build_policy="manual"))
    col = client.create_collection("bulk", embedding_function=None)
    vectors = np.random.default_rng(2).standard_normal((2_500, 4)).astype(np.float32)
    table = pa.table({"id": [f"r{i}" for i in range(2_500)], "shard": np.arange(2_500) % 7,
                      "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 4)})
    col.ingest(table, batch_size=200, progress=False)
    rows = [ref.rows for ref in _manifest(col).blockfiles]
    assert rows == [CAP, CAP, 500]  # not the tiers the compactions on the way left
    assert col.count() == 2_500
    assert sorted(col.get(where={"shard": 3})["ids"]) == sorted(f"r{i}" for i in range(3, 2_500, 7))
    got = col.get(ids=["r2499"], include=["embeddings"])["embeddings"]
    np.testing.assert_array_equal(np.asarray(got)[0], vectors[2499])


def test_an_ingest_writes_each_row_to_the_log_and_one_blockfile(tmp_path, small_cap, monkeypatch):
    """A bulk load compacts only when its log holds a full blockfile: rows are written twice (log,
    then a blockfile no merge rewrites), not once more per tier of merges on the way there; and
    the log tail it keeps for readers is mapped from the log files, so the rows stay readable."""
    import pyarrow as pa

    from chroma_frame.storage import blockfile

    written: list[int] = []
    real = blockfile.write_blockfile

    def counting(storage, prefix, rows, schema=None):
        ref = real(storage, prefix, rows, schema)
        written.append(ref.rows)
        return ref

    monkeypatch.setattr(store_module, "write_blockfile", counting)
    client = chroma_frame.PersistentClient(path=str(tmp_path), settings=chroma_frame.Settings(
        compaction_threshold_rows=200, index_build_policy="manual"))
    col = client.create_collection("bulk", embedding_function=None)
    vectors = np.random.default_rng(3).standard_normal((2_500, 4)).astype(np.float32)
    table = pa.table({"id": [f"r{i}" for i in range(2_500)],
                      "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 4)})
    col.ingest(table, batch_size=200, progress=False)
    assert sum(written) == 2_500, written  # each row in exactly one blockfile write
    assert [ref.rows for ref in _manifest(col).blockfiles] == [CAP, CAP, 500]
    col.add(ids=["late"], embeddings=[[0.0, 0.0, 0.0, 1.0]])  # an ordinary write after it still compacts as before
    got = col.get(ids=["r0", "r2499", "late"], include=["embeddings"])
    assert got["ids"] == ["r0", "r2499", "late"]
    np.testing.assert_array_equal(np.asarray(got["embeddings"])[:2], vectors[[0, 2499]])
