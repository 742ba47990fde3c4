"""The write path (engine/writes.py): columnar after-images against a pure-Python model of Chroma's
record semantics, through ``Collection`` and through ``ingest``."""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chroma_frame
from chroma_frame import SparseVector
from chroma_frame.engine.writes import Records, find_live, merge_metadata, plan_add, plan_update, plan_upsert
from chroma_frame.errors import InvalidArgumentError
from chroma_frame.storage.records import METADATA, decode_metadata, encode_metadata, removals

DIM = 2
IDS = ["a", "b", "c", "d", "e", "f"]

# One type per key, so that ingest can carry them as typed columns (a null cell: the key is absent).
_sparse = st.lists(st.integers(0, 50), unique=True, min_size=1, max_size=3).map(sorted).flatmap(
    lambda idx: st.builds(SparseVector, st.just(idx),
                          st.lists(st.sampled_from([0.5, -1.0, 2.25]), min_size=len(idx), max_size=len(idx))))
VALUES = {
    "n": st.integers(-5, 5),
    "s": st.sampled_from(["x", "yé", ""]),
    "f": st.sampled_from([0.5, -2.0, 1e300]),
    "b": st.booleans(),
    "l": st.lists(st.integers(0, 3), min_size=1, max_size=3),
    "sp": _sparse,
}
COLUMN_TYPES = {"n": pa.int64(), "s": pa.string(), "f": pa.float64(), "b": pa.bool_(), "l": pa.list_(pa.int64()),
                "sp": pa.struct([("indices", pa.list_(pa.int64())), ("values", pa.list_(pa.float32()))])}


def _metadata(removal: bool, ordered: bool):
    """A metadata dict (or None); ``removal``: values may be None; ``ordered``: keys in a fixed order."""
    value = {k: st.one_of(st.none(), v) if removal else v for k, v in VALUES.items()}
    pairs = st.dictionaries(st.sampled_from(sorted(VALUES)), st.none(), min_size=1, max_size=4).flatmap(
        lambda d: st.tuples(*(st.tuples(st.just(k), value[k]) for k in d)))
    if not ordered:
        pairs = pairs.flatmap(st.permutations)
    else:
        pairs = pairs.map(lambda kv: sorted(kv, key=lambda p: list(VALUES).index(p[0])))
    return st.one_of(st.none(), pairs.map(dict))


class LengthEF:
    """Embeds a text as (its length, 2)."""

    def __call__(self, input):
        return [[float(len(t)), 2.0] for t in input]

    @staticmethod
    def name():
        return "length"

    def is_legacy(self):
        return False

    def get_config(self):
        return {}

    @staticmethod
    def build_from_config(config):
        return LengthEF()


# -- the model -----------------------------------------------------------------------------------


def merged(old: dict | None, new: dict | None) -> dict | None:
    """Chroma's update: key by key, None removes, a record without keys has no metadata."""
    if new is None:
        return old
    out = dict(old or {})
    for key, value in new.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out or None


class Model:
    def __init__(self) -> None:
        self.records: dict[str, dict] = {}  # in insertion order (Chroma's get order)

    def write(self, op: str, ids, embeddings, metadatas, documents, uris) -> None:
        for i, id_ in enumerate(ids):
            new = {"embedding": None if embeddings is None else list(embeddings[i]),
                   "metadata": None if metadatas is None else metadatas[i],
                   "document": None if documents is None else documents[i],
                   "uri": None if uris is None else uris[i]}
            old = self.records.get(id_)
            if (op == "add" and old is not None) or (op == "update" and old is None):
                continue
            if old is None:
                new["metadata"] = merged(None, new["metadata"])
                self.records[id_] = new
            else:
                self.records[id_] = {
                    "embedding": old["embedding"] if new["embedding"] is None else new["embedding"],
                    "metadata": merged(old["metadata"], new["metadata"]),
                    "document": old["document"] if new["document"] is None else new["document"],
                    "uri": old["uri"] if new["uri"] is None else new["uri"],
                }

    def delete(self, ids) -> None:
        for id_ in ids:
            self.records.pop(id_, None)


def check(col, model: Model) -> None:
    got = col.get(include=["embeddings", "metadatas", "documents", "uris"])
    assert got["ids"] == list(model.records)
    want = list(model.records.values())
    assert got["documents"] == [r["document"] for r in want]
    assert got["uris"] == [r["uri"] for r in want]
    # key order too: a replaced key keeps its place, a new key comes last
    assert [None if m is None else list(m.items()) for m in got["metadatas"]] == \
        [None if r["metadata"] is None else list(r["metadata"].items()) for r in want]
    assert np.asarray(got["embeddings"]).reshape(-1, DIM).tolist() == [r["embedding"] for r in want]


# -- operations ----------------------------------------------------------------------------------

_ids = st.lists(st.sampled_from(IDS), min_size=1, max_size=4, unique=True)
_op = st.one_of(
    st.tuples(st.sampled_from(["add", "upsert", "update"]), _ids, st.data()),
    st.tuples(st.just("delete"), _ids, st.none()),
    st.tuples(st.just("compact"), st.none(), st.none()),
)


def _fields(data, op: str, n: int, ordered: bool, through_ingest: bool) -> dict:
    removal = not through_ingest and op != "add"
    maybe = (lambda s: s) if through_ingest else (lambda s: st.one_of(st.none(), s))
    embeddings = st.just([[float(x), 1.0] for x in range(n)]) if through_ingest or op != "update" else maybe(
        st.lists(st.lists(st.integers(-3, 3).map(float), min_size=DIM, max_size=DIM), min_size=n, max_size=n))
    embeddings = data.draw(embeddings)
    document = st.sampled_from(["d1", "d2"])
    if embeddings is not None:  # Chroma allows a None document only next to an embedding
        document = st.one_of(st.none(), document)
    return {
        "embeddings": embeddings,
        "metadatas": data.draw(maybe(st.lists(_metadata(removal, ordered), min_size=n, max_size=n))),
        "documents": data.draw(maybe(st.lists(document, min_size=n, max_size=n))),
        "uris": data.draw(maybe(st.lists(st.one_of(st.none(), st.sampled_from(["u1", "u2"])), min_size=n, max_size=n))),
    }


def ingest_table(ids, fields) -> pa.Table:
    """The records as ingest's source: one typed column per metadata key."""
    metas = fields["metadatas"] or [None] * len(ids)
    columns = {"id": pa.array(ids, pa.string()),
               "embedding": pa.array(fields["embeddings"], pa.list_(pa.float32(), DIM)),
               "document": pa.array(fields["documents"], pa.string()), "uri": pa.array(fields["uris"], pa.string())}
    for key, typ in COLUMN_TYPES.items():
        cells = [None if m is None else m.get(key) for m in metas]
        if key == "sp":
            cells = [None if c is None else {"indices": c.indices, "values": c.values} for c in cells]
        columns[key] = pa.array(cells, typ)
    return pa.table(columns)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_op, min_size=1, max_size=8), through_ingest=st.booleans())
def test_writes_match_the_model(tmp_path_factory, ops, through_ingest):
    """add / upsert / update / delete (and compactions between them) give the model's records,
    with add and upsert through ``Collection`` or through ``ingest``."""
    client = chroma_frame.PersistentClient(path=str(tmp_path_factory.mktemp("w")))
    col = client.create_collection(f"c-{uuid.uuid4().hex[:8]}", embedding_function=LengthEF())
    model = Model()
    for op, ids, data in ops:
        if op == "compact":
            col.compact()
            continue
        if op == "delete":
            col.delete(ids=ids)
            model.delete(ids)
            check(col, model)
            continue
        ingest = through_ingest and op != "update"
        fields = _fields(data, op, len(ids), ordered=ingest, through_ingest=ingest)
        if ingest:
            summary = col.ingest(ingest_table(ids, fields), mode=op, progress=False)
            fresh = sum(id_ not in model.records for id_ in ids)
            assert summary.rows_written == (fresh if op == "add" else len(ids))
            assert summary.rows_skipped == (len(ids) - fresh if op == "add" else 0)
        else:
            getattr(col, op)(ids=ids, **fields)
            if fields["embeddings"] is None and fields["documents"] is not None:
                fields["embeddings"] = LengthEF()(fields["documents"])  # what the collection computed
        model.write(op, ids, **fields)
        check(col, model)


# -- the metadata merge --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_metadata(False, False), _metadata(True, False)), max_size=6))
def test_merge_metadata_is_chromas_merge(pairs):
    old = encode_metadata([o for o, _ in pairs])
    new = encode_metadata([n for _, n in pairs], removals=True)
    def items(metadatas):  # key order too
        return [None if m is None else list(m.items()) for m in metadatas]

    assert items(decode_metadata(merge_metadata(old, new))) == items(merged(o, n) for o, n in pairs)
    assert items(decode_metadata(merge_metadata(None, new))) == items(merged(None, n) for _, n in pairs)


def test_removals_are_entries_without_a_value_and_never_stored():
    new = encode_metadata([{"a": None, "b": 1}, {"a": None}, None, {}], removals=True)
    flat = new.flatten()
    assert removals(flat).tolist() == [True, False, True]
    assert new.is_valid().to_pylist() == [True, True, False, False]
    assert encode_metadata([{"a": None}]).to_pylist() == [None]  # without removals: dropped
    assert decode_metadata(merge_metadata(None, new)) == [{"b": 1}, None, None, None]


def test_merge_keeps_sliced_and_chunk_offsets():
    old = encode_metadata([{"x": 0}, {"a": 1, "l": [1, 2], "b": 2}, {"c": 3}]).slice(1)
    new = encode_metadata([None, {"q": 0}, {"l": [5], "a": None, "z": "n"}, {"c": None}], removals=True).slice(2)
    assert decode_metadata(merge_metadata(old, new)) == [{"l": [5], "b": 2, "z": "n"}, None]
    assert list(decode_metadata(merge_metadata(old, new))[0]) == ["l", "b", "z"]


def test_a_row_holding_nan_counts_as_no_metadata():
    """``decode_metadata`` reads such a row as None; ingest may carry NaN floats."""
    nan = pa.array([[{"key": "f", "float_value": float("nan"), "is_array": False}], None], METADATA)
    old = encode_metadata([{"a": 1}, {"b": 2}])
    assert decode_metadata(merge_metadata(old, nan)) == [{"a": 1}, {"b": 2}]
    assert decode_metadata(merge_metadata(nan, old)) == [{"a": 1}, {"b": 2}]


# -- plans ---------------------------------------------------------------------------------------


def _collection(client):
    col = client.create_collection("writes", embedding_function=None)
    col.add(ids=["a", "b", "c"], embeddings=[[1, 0], [0, 1], [1, 1]], documents=["da", "db", "dc"],
            metadatas=[{"k": 1, "sp": SparseVector([1], [0.5])}, None, {"k": 3}])
    return col


def test_rowids_kept_and_new_ids_after(client):
    col = _collection(client)
    snap = col._store.snapshot()
    records = Records.from_lists(["c", "z", "a"], np.array([[2, 2], [3, 3], [4, 4]], np.float32),
                                 [{"k": None}, None, {"n": 1}], ["x", None, None], None)
    rows = plan_upsert(snap, 9, records)
    assert rows.column("id").to_pylist() == ["c", "a", "z"]  # updates, then new records
    assert rows.column("rowid").to_pylist() == [2, 0, 3]
    assert rows.column("seq").to_pylist() == [9, 9, 9]
    assert rows.column("document").to_pylist() == ["x", "da", None]
    assert decode_metadata(rows.column("metadata")) == [None, {"k": 1, "sp": SparseVector([1], [0.5]), "n": 1}, None]
    assert rows.column("embedding").to_pylist() == [[2, 2], [4, 4], [3, 3]]
    assert plan_add(snap, 9, records).column("id").to_pylist() == ["z"]
    assert plan_update(snap, 9, records).column("id").to_pylist() == ["c", "a"]
    assert find_live(snap, pa.array(["b", "q", "a"])).tolist() == [1, -1, 0]
    skip = np.array([False, True, False])
    assert plan_add(snap, 9, records, skip) is None


def test_update_keeps_what_it_does_not_replace(client):
    col = _collection(client)
    col.update(ids=["a", "zz"], metadatas=[{"k": 2}, {"k": 9}])
    got = col.get(ids=["a"], include=["embeddings", "documents", "metadatas"])
    assert got["documents"] == ["da"] and got["embeddings"].tolist() == [[1, 0]]
    assert got["metadatas"] == [{"k": 2, "sp": SparseVector([1], [0.5])}]  # the sparse vector survives
    assert col.count() == 3


def test_errors_are_chromas(client):
    col = client.create_collection("empty", embedding_function=None)
    snap = col._store.snapshot()
    with pytest.raises(InvalidArgumentError, match="^Embeddings are required to add records to an empty collection$"):
        plan_upsert(snap, 1, Records.from_lists(["a"]))
    assert plan_update(snap, 1, Records.from_lists(["a"])) is None
    col = _collection(client)
    with pytest.raises(InvalidArgumentError, match=r"^Collection expecting embedding with dimension of 2, got 3$"):
        plan_add(col._store.snapshot(), 1, Records.from_lists(["q"], np.ones((1, 3), np.float32)))
    with pytest.raises(InvalidArgumentError, match="^Embeddings are required to insert new records$"):
        plan_upsert(col._store.snapshot(), 1, Records.from_lists(["a", "new"], metadatas=[{"k": 1}, {"k": 2}]))


def test_ingest_add_of_existing_ids_without_embeddings_skips_them(client):
    """Rerunning an add ingest whose rows are embedded from documents: nothing to embed or write
    (this failed with "expecting embedding with dimension of 2, got 0")."""
    col = client.create_collection("docs", embedding_function=LengthEF())
    table = pa.table({"id": ["a", "b"], "document": ["x", "yy"]})
    assert col.ingest(table, progress=False).rows_written == 2
    again = col.ingest(table, progress=False)
    assert (again.rows_written, again.rows_skipped, again.rows_embedded, again.batches) == (0, 2, 0, 0)
    assert col.get(include=["embeddings"])["embeddings"].tolist() == [[1, 2], [2, 2]]
