"""Sparse vectors as stored data: writes, reads, compaction, reopen, old files, CSR rows, filters."""

from __future__ import annotations

import json
import uuid
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chroma_frame
from chroma_frame import SparseVector
from chroma_frame.storage.records import decode_metadata, f32_floats

OLD_ENTRY = pa.struct([("key", pa.string()), ("str_value", pa.string()), ("int_value", pa.int64()),
                       ("float_value", pa.float64()), ("bool_value", pa.bool_()), ("is_array", pa.bool_())])


def stored(vector: SparseVector) -> SparseVector:
    """What reading gives back: values are float32, shown by their shortest decimal."""
    return SparseVector(list(vector.indices), f32_floats(np.asarray(vector.values, np.float32)), vector.labels)


def csr_reference(segment, key: str) -> tuple[list, list, list]:
    """The CSR of a segment computed from its decoded Python metadata (the oracle)."""
    offsets, indices, values = [0], [], []
    for metadata in decode_metadata(segment.table.column("metadata")):
        value = (metadata or {}).get(key)
        if isinstance(value, SparseVector):
            indices += value.indices
            values += value.values
        offsets.append(len(indices))
    return offsets, indices, values


def check_csr(snap, key: str) -> None:
    for segment in snap.segments:
        rows = segment.sparse_rows(key)
        offsets, indices, values = csr_reference(segment, key)
        assert rows.offsets.dtype == np.int64 and rows.indices.dtype == np.uint32 and rows.values.dtype == np.float32
        assert rows.offsets.tolist() == offsets
        assert rows.indices.tolist() == indices
        assert np.array_equal(rows.values, np.asarray(values, np.float32))
        assert segment.sparse_rows(key) is rows  # cached


_sparse = st.lists(st.integers(0, 2**32 - 1), unique=True, max_size=6).map(sorted).flatmap(
    lambda idx: st.builds(
        SparseVector,
        st.just(idx),
        st.lists(st.floats(-1e6, 1e6, width=32), min_size=len(idx), max_size=len(idx)),
        st.one_of(st.none(), st.lists(st.sampled_from(["a", "bé", "c"]), min_size=len(idx), max_size=len(idx))),
    )
)
_metadata = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={"sp": _sparse, "other": _sparse, "k": st.integers(0, 3)}).map(lambda d: d or None),
)
_ids = st.sampled_from(["a", "b", "c", "d", "e"])
_op = st.one_of(
    st.tuples(st.sampled_from(["add", "upsert", "update"]), st.lists(_ids, min_size=1, max_size=3, unique=True),
              st.data()),
    st.tuples(st.just("delete"), st.lists(_ids, min_size=1, max_size=2, unique=True), st.none()),
    st.tuples(st.just("compact"), st.none(), st.none()),
)


def _apply(model: dict, op: str, ids: list, metas: list) -> None:
    for id_, meta in zip(ids, metas):
        present = id_ in model
        if (op == "add" and present) or (op == "update" and not present):
            continue
        if op == "add" or (op == "upsert" and not present):
            model[id_] = {k: v for k, v in (meta or {}).items() if v is not None} or None
        elif meta is not None:
            merged = dict(model[id_] or {})
            merged.update(meta)
            model[id_] = {k: v for k, v in merged.items() if v is not None} or None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_op, min_size=1, max_size=8))
def test_writes_compaction_and_csr_rows_match_a_model(tmp_path_factory, ops):
    client = chroma_frame.PersistentClient(path=str(tmp_path_factory.mktemp("sp")))
    col = client.create_collection(f"c-{uuid.uuid4().hex[:8]}", embedding_function=None)
    model: dict = {}
    for op, ids, data in ops:
        if op == "compact":
            col.compact()
        elif op == "delete":
            col.delete(ids=ids)
            for id_ in ids:
                model.pop(id_, None)
        else:
            metas = data.draw(st.lists(_metadata, min_size=len(ids), max_size=len(ids)))
            col.__getattribute__(op)(ids=ids, embeddings=[[float(i), 1.0] for i in range(len(ids))], metadatas=metas)
            _apply(model, op, ids, metas)
        got = col.get(include=["metadatas"])
        expected = {i: None if m is None else {k: stored(v) if isinstance(v, SparseVector) else v for k, v in m.items()}
                    for i, m in model.items()}
        assert dict(zip(got["ids"], got["metadatas"])) == expected
        check_csr(col._store.snapshot(), "sp")


def test_round_trip_survives_compaction_and_reopen(tmp_path):
    path = str(tmp_path / "db")
    col = chroma_frame.PersistentClient(path=path).create_collection("sparse", embedding_function=None)
    vectors = [SparseVector([1, 5, 2**32 - 1], [0.1, 2.5, -3.0], ["x", "y", "z"]), SparseVector([], []),
               {"#type": "sparse_vector", "indices": [7], "values": [1]}]
    col.add(ids=["a", "b", "c"], embeddings=[[1, 0], [0, 1], [1, 1]],
            metadatas=[{"sp": vectors[0], "n": 1}, {"sp": vectors[1]}, {"sp": vectors[2]}])
    col.upsert(ids=["d"], embeddings=[[2, 2]], metadatas=[{"sp": SparseVector([3], [0.3])}])
    col.update(ids=["a"], metadatas=[{"n": 2}])  # merge keeps the vector
    col.update(ids=["c"], metadatas=[{"sp": None, "n": 3}])  # None removes it
    col.delete(ids=["b"])
    expected = {
        "a": {"sp": SparseVector([1, 5, 2**32 - 1], [0.1, 2.5, -3.0], ["x", "y", "z"]), "n": 2},
        "c": {"n": 3},
        "d": {"sp": SparseVector([3], [0.3])},
    }
    assert dict(zip(*(col.get()[k] for k in ("ids", "metadatas")))) == expected
    col.compact()
    assert dict(zip(*(col.get()[k] for k in ("ids", "metadatas")))) == expected
    chroma_frame.Client.clear_system_cache()
    reopened = chroma_frame.PersistentClient(path=path).get_collection("sparse")
    got = reopened.get()
    assert dict(zip(got["ids"], got["metadatas"])) == expected
    assert isinstance(got["metadatas"][0]["sp"], SparseVector)
    check_csr(reopened._store.snapshot(), "sp")


def test_out_of_range_index_is_refused(client):
    col = client.create_collection("big", embedding_function=None)
    with pytest.raises(chroma_frame.errors.InvalidArgumentError, match="does not fit in u32"):
        col.add(ids=["a"], embeddings=[[1.0]], metadatas=[{"sp": SparseVector([2**32], [1.0])}])
    assert col.count() == 0


def _rewrite_in_old_format(storage, prefix: str) -> int:
    """Rewrite every blockfile and log entry without the sparse metadata fields (the old format)."""
    from chroma_frame.storage.log import LOG_DIR
    from chroma_frame.storage.manifest import read_manifest

    def old(table: pa.Table) -> pa.Table:
        i = table.schema.get_field_index("metadata")
        column = table.column(i).cast(pa.list_(OLD_ENTRY))
        return table.set_column(i, pa.field("metadata", pa.list_(OLD_ENTRY)), column)

    def rewrite(rel: str, read: Any, new: Any) -> None:
        table = old(read(storage.read_bytes(f"{prefix}/{rel}")).read_all())
        sink = pa.BufferOutputStream()
        with new(sink, table.schema) as writer:
            writer.write_table(table)
        storage.write_atomic(f"{prefix}/{rel}", sink.getvalue())

    manifest = read_manifest(storage, prefix)
    blocks = manifest.blockfiles
    logs = []
    for name in storage.list_names(f"{prefix}/{LOG_DIR}"):  # the old format kept only the unfolded entries
        if int(name.split(".")[0]) <= manifest.log_upto:
            storage.delete_file(f"{prefix}/{LOG_DIR}/{name}")
        else:
            logs.append(f"{LOG_DIR}/{name}")
    for rel in blocks:
        rewrite(rel, pa.ipc.open_file, pa.ipc.new_file)
    for rel in logs:
        rewrite(rel, pa.ipc.open_stream, pa.ipc.new_stream)
    storage.delete_dir(f"{prefix}/manifests")  # and the manifest of then: format 1, paths only, no checksum
    storage.write_atomic(f"{prefix}/manifest.json", json.dumps(
        {"version": manifest.version, "log_upto": manifest.log_upto, "dimension": manifest.dimension,
         "blockfiles": [str(b) for b in manifest.blockfiles], "format": 1}).encode())
    return len(blocks) + len(logs)


def test_collections_in_the_old_format_stay_readable_and_writable(tmp_path):
    path = str(tmp_path / "db")
    client = chroma_frame.PersistentClient(path=path)
    col = client.create_collection("old", embedding_function=None)
    col.add(ids=["a", "b"], embeddings=[[1, 0], [0, 1]], metadatas=[{"k": "x", "l": [1, 2]}, None], documents=["d1", "d2"])
    col.compact()
    col.add(ids=["c"], embeddings=[[1, 1]], metadatas=[{"k": "y", "f": 0.5}])
    before = col.get(include=["metadatas", "documents", "embeddings"])
    store = col._store
    assert _rewrite_in_old_format(store.storage, store.prefix) == 2
    chroma_frame.Client.clear_system_cache()

    col = chroma_frame.PersistentClient(path=path).get_collection("old")
    after = col.get(include=["metadatas", "documents", "embeddings"])
    assert after["ids"] == before["ids"] and after["metadatas"] == before["metadatas"]
    assert np.array_equal(after["embeddings"], before["embeddings"])
    assert col.get(where={"k": "y"})["ids"] == ["c"]
    assert col.to_arrow().column("k").to_pylist() == ["x", None, "y"]
    col.add(ids=["d"], embeddings=[[2, 2]], metadatas=[{"sp": SparseVector([4], [0.25])}])
    col.update(ids=["a"], metadatas=[{"sp": SparseVector([1], [1.0])}])
    check_csr(col._store.snapshot(), "sp")
    col.compact()
    got = col.get()
    assert got["metadatas"] == [{"k": "x", "l": [1, 2], "sp": SparseVector([1], [1.0])}, None,
                                {"k": "y", "f": 0.5}, {"sp": SparseVector([4], [0.25])}]
    check_csr(col._store.snapshot(), "sp")


def test_filters_arrow_and_sql_with_a_sparse_key(client):
    col = client.create_collection("mixed", embedding_function=None)
    col.add(ids=["a", "b", "c"], embeddings=[[1, 0], [0, 1], [1, 1]],
            metadatas=[{"sp": SparseVector([1, 2], [0.5, 1.5], ["p", "q"]), "k": 1}, {"k": 2}, {"sp": SparseVector([], [])}])
    assert col.get(where={"k": 1})["ids"] == ["a"]
    assert col.get(where={"sp": {"$ne": 1}})["ids"] == ["a", "b", "c"]  # no scalar value: never equal
    assert col.get(where={"sp": {"$in": [1, 2]}})["ids"] == []
    assert col.query(query_embeddings=[[1, 0]], n_results=1, where={"k": {"$gte": 1}})["ids"] == [["a"]]
    table = col.to_arrow()
    assert table.schema.field("sp").type == pa.struct([("indices", pa.list_(pa.uint32())),
                                                       ("values", pa.list_(pa.float32())),
                                                       ("tokens", pa.list_(pa.string()))])
    assert table.column("sp").to_pylist() == [{"indices": [1, 2], "values": [0.5, 1.5], "tokens": ["p", "q"]}, None,
                                              {"indices": [], "values": [], "tokens": None}]
    rows = client.sql("SELECT id, sp.indices AS i, len(sp.values) AS n FROM mixed ORDER BY id").fetchall()
    assert rows == [("a", [1, 2], 2), ("b", None, None), ("c", [], 0)]


def test_parquet_export_and_import_keep_sparse_vectors(client, tmp_path):
    col = client.create_collection("exp", embedding_function=None)
    col.add(ids=["a", "b"], embeddings=[[1, 0], [0, 1]],
            metadatas=[{"sp": SparseVector([1, 9], [0.5, 2.0])}, {"sp": SparseVector([3], [1.0], ["t"]), "k": "x"}])
    path = tmp_path / "exp.parquet"
    col.export_parquet(path)
    copy = client.import_parquet(path, name="exp-copy")
    assert copy.get()["metadatas"] == col.get()["metadatas"]


def test_ingest_a_sparse_struct_column(client):
    col = client.create_collection("ing", embedding_function=None)
    table = pa.table({
        "id": ["a", "b", "c"],
        "embedding": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
        "sp": pa.array([{"indices": [2, 7], "values": [0.5, 1.0]}, None, {"indices": [], "values": []}]),
    })
    col.ingest(table)
    assert col.get()["metadatas"] == [{"sp": SparseVector([2, 7], [0.5, 1.0])}, None, {"sp": SparseVector([], [])}]
    bad = pa.table({"id": ["z"], "embedding": [[1.0, 0.0]], "sp": pa.array([{"indices": [7, 2], "values": [0.5, 1.0]}])})
    with pytest.raises(Exception, match="ingest stopped after committing 0 source rows"):
        col.ingest(bad)  # unsorted indices: refused
    assert col.count() == 3


@pytest.mark.parametrize("where", [
    {"sp": 1}, {"sp": {"$ne": "x"}}, {"sp": {"$gt": 0}}, {"sp": {"$lte": 0.5}}, {"sp": {"$in": [1, 2]}},
    {"sp": {"$nin": [True]}}, {"sp": {"$contains": 1}}, {"sp": {"$not_contains": 1}},
    {"$or": [{"sp": {"$ne": 2}}, {"k": 1}]}, {"$and": [{"sp": {"$nin": [2]}}, {"k": {"$gte": 1}}]},
])
def test_filters_on_a_sparse_key_agree_with_the_reference(client, where):
    from chroma_frame.filters import parse_filter
    from chroma_frame.filters.reference import matches

    col = client.create_collection("ref", embedding_function=None)
    metadatas = [{"sp": SparseVector([1], [1.0]), "k": 1}, {"sp": 2, "k": 2}, {"k": 3}, None, {"sp": [1, 2]}]
    ids = [f"r{i}" for i in range(len(metadatas))]
    col.add(ids=ids, embeddings=[[float(i), 1.0] for i in range(len(ids))], metadatas=metadatas)
    node = parse_filter(where, None)
    expected = [i for i, m in zip(ids, metadatas) if matches(node, {"metadata": m, "document": None})]
    assert col.get(where=where)["ids"] == expected
