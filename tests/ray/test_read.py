"""chroma_frame.ray.read against collection.to_arrow: same rows, same types, on a real Ray cluster."""

from __future__ import annotations

import pytest

from chroma_frame.errors import NotFoundError
from tests.ray.support import open_collection, records, rows

SETTINGS = {"compaction_threshold_rows": 300}


def same(got, expected):
    """Equal as sets of rows (read's order is per blockfile): same schema, same rows by id."""
    assert got.schema == expected.schema
    assert got.num_rows == expected.num_rows
    assert got.sort_by("id").equals(expected.sort_by("id"))


@pytest.fixture
def history(backend_kind, request, tmp_path, ray_cluster):
    """A collection with several blockfiles, upserts, deletes and an uncompacted tail; the
    versions it went through and to_arrow at each."""
    col, target = open_collection(backend_kind, request, tmp_path / "db", **SETTINGS)
    seen = {}

    def note():
        version = col.versions()[-1]["version"]
        seen[version] = col.to_arrow()

    col.add(**records(450, 16))  # a blockfile (threshold 300)
    note()
    col.add(**records(450, 16, start=450, seed=1))  # another
    col.upsert(ids=[f"r{i}" for i in range(0, 900, 5)], metadatas=[{"shard": "x"}] * 180,
               embeddings=records(180, 16, seed=2)["embeddings"])
    note()
    col.add(**records(150, 16, start=900, seed=3))  # a third blockfile; the first two keep replaced rows
    note()
    col.delete(ids=[f"r{i}" for i in range(0, 1050, 9)])  # tombstones in the log tail
    col.update(ids=[f"r{i}" for i in range(1, 300, 7)], metadatas=[{"tag": 3}] * 43, uris=["u"] * 43)
    col.add(**records(60, 16, start=1050, seed=4))
    note()
    return col, target, seen


def test_read_equals_to_arrow_at_every_version(history):
    from chroma_frame.ray import read
    from chroma_frame.ray.plan import engine_of, plan_version

    col, target, seen = history
    plan = plan_version(engine_of(col).store, None)
    assert plan.fast and len(plan.parts) >= 3  # blockfiles and the tail, planned without reading them
    same(rows(read(collection="records", **target)), col.to_arrow())
    for version, expected in seen.items():
        same(rows(read(collection="records", as_of=version, **target)), expected)
    col.compact()
    same(rows(read(collection="records", **target)), col.to_arrow())


def test_read_projection_and_filters(history):
    from chroma_frame.ray import read

    col, target, _ = history
    for columns in (["id", "document"], ["id", "shard", "labels"], ["embedding", "id", "metadata"]):
        got = rows(read(collection="records", columns=columns, **target))
        assert got.column_names == columns
        same(got, col.to_arrow(columns=columns))
    for where, where_document in [({"shard": {"$gte": 4}}, None), ({"$and": [{"tag": "t1"}, {"score": {"$lt": 50}}]}, None),
                                  (None, {"$contains": "cats"}), ({"labels": {"$contains": "a"}}, {"$not_contains": "9"})]:
        got = rows(read(collection="records", where=where, where_document=where_document, **target))
        same(got, col.to_arrow(where=where, where_document=where_document))
        assert got.num_rows == len(col.get(where=where, where_document=where_document)["ids"])


def test_read_errors_are_raised_by_the_driver(history):
    from chroma_frame.ray import read

    col, target, _ = history
    with pytest.raises(NotFoundError):
        read(collection="missing", **target)
    bad = {"shard": {"$gt": "x", "$lt": 3}}
    with pytest.raises(Exception) as expected:
        col.get(where=bad)
    with pytest.raises(type(expected.value)) as got:
        read(collection="records", where=bad, **target)
    assert str(got.value) == str(expected.value)
    with pytest.raises(ValueError, match="unknown column"):
        read(collection="records", columns=["id", "nope"], **target)
    with pytest.raises(ValueError, match="has no version 999"):
        read(collection="records", as_of=999, **target)


def test_read_falls_back_to_the_store(tmp_path, request, ray_cluster):
    """No remembered live mask, a restore in the tail, an empty collection: still to_arrow's rows."""
    from chroma_frame.ray import read
    from chroma_frame.ray.plan import engine_of, plan_version

    col, target = open_collection("local", request, tmp_path / "db", **SETTINGS)
    same(rows(read(collection="records", **target)), col.to_arrow())  # empty: one empty block, typed
    col.add(**records(900, 8))
    first = col.versions()[-1]["version"]
    col.delete(ids=[f"r{i}" for i in range(0, 900, 3)])
    col.restore(first)
    store = engine_of(col).store
    assert not plan_version(store, None).fast
    same(rows(read(collection="records", **target)), col.to_arrow())
    col.compact()
    for live in (tmp_path / "db").rglob("*.live"):
        live.unlink()
    assert not plan_version(store, None).fast
    same(rows(read(collection="records", **target)), col.to_arrow())
