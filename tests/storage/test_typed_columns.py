"""Typed metadata columns stored next to each blockfile: written at compaction, sealed, and
optional (collections without them, or with a damaged one, derive them and answer the same)."""

from __future__ import annotations

import glob
import os

import pytest

import chroma_frame
from chroma_frame.engine.collection import CollectionEngine
from chroma_frame.engine.store import CollectionStore
from chroma_frame.filters import compile_filter, parse_filter
from chroma_frame.storage.fs import Storage
from chroma_frame.storage.records import PUT, build_rows
from chroma_frame.storage.typed import TYPED_SUFFIX, read_typed, typed_columns, typed_path, write_typed

WHERE = {"$and": [{"n": {"$gte": 3}}, {"kind": {"$in": ["a", "c"]}}]}


def _collection(path):
    client = chroma_frame.PersistentClient(path=str(path))
    col = client.get_or_create_collection("typed-columns")
    return client, col


def _fill(col):
    col.add(ids=[f"r{i}" for i in range(12)], embeddings=[[float(i), 1.0] for i in range(12)],
            metadatas=[{"n": i, "kind": "abc"[i % 3], "mixed": i if i % 2 else "s", "tags": [i]} for i in range(12)])
    col._engine.compact()


def _expected():
    return [f"r{i}" for i in range(12) if i >= 3 and "abc"[i % 3] in ("a", "c")]


def test_compaction_writes_them_and_filters_read_them(tmp_path):
    _, col = _collection(tmp_path)
    _fill(col)
    files = glob.glob(str(tmp_path / "collections" / "*" / "blocks" / f"*{TYPED_SUFFIX}"))
    assert len(files) == 1
    snap = col._engine.snapshot()
    (seg,) = snap.base
    assert seg.typed is not None
    columns, others = seg.typed
    assert {k: c.kind for k, c in columns.items()} == {"n": "int", "kind": "str"}
    assert others == {"mixed", "tags"}
    assert (columns["n"].min, columns["n"].max) == (0, 11)
    assert col.get(where=WHERE)["ids"] == _expected()
    assert col.get(where=WHERE, limit=2, offset=1)["ids"] == _expected()[1:3]
    assert col.get(where={"mixed": {"$gt": 4}})["ids"] == ["r5", "r7", "r9", "r11"]  # the long form


@pytest.mark.parametrize("damage", ["remove", "flip"])
def test_missing_or_damaged_companion_is_derived(tmp_path, damage, caplog):
    _, col = _collection(tmp_path)
    _fill(col)
    (path,) = glob.glob(str(tmp_path / "collections" / "*" / "blocks" / f"*{TYPED_SUFFIX}"))
    if damage == "remove":
        os.remove(path)
    else:
        with open(path, "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0xFF]))
    old = col._engine.store
    snap = CollectionStore(Storage.local(old.storage.root), old.collection_id).snapshot()  # read again
    assert snap.base[0].typed is None
    positions = CollectionEngine.select(snap, None, compile_filter(parse_filter(WHERE, None)))
    assert snap.rows(positions, ["id"]).column("id").to_pylist() == _expected()
    if damage == "flip":
        assert "ignoring" in caplog.text


def test_round_trip_and_row_count_check(tmp_path):
    storage = Storage.local(str(tmp_path))
    rows = build_rows(dimension=1, seqs=0, rowids=[0, 1], ops=PUT, ids=["a", "b"],
                      metadatas=[{"x": 1.5, "b": True}, {"x": -2.0}])
    typed = typed_columns(rows.column("metadata"))
    storage.makedirs("p/blocks")
    write_typed(storage, "p", "blocks/u.arrow", typed)
    assert typed_path("blocks/u.arrow") == "blocks/u.typed.ipc"
    columns, others = read_typed(storage, "p", "blocks/u.arrow", 2)
    assert others == frozenset()
    assert columns["x"].values.to_pylist() == [1.5, -2.0] and (columns["x"].min, columns["x"].max) == (-2.0, 1.5)
    assert columns["b"].values.to_pylist() == [True, None] and columns["b"].kind == "bool"
    assert read_typed(storage, "p", "blocks/u.arrow", 3) is None  # not this blockfile's row count
