"""``SparseVector`` against chromadb's: same validation (class and message), same wire dicts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chroma_frame import SparseVector
from chroma_frame.base_types import deserialize_metadata, serialize_metadata, wire_metadatas
from chroma_frame.storage.records import f32_floats

cbase = pytest.importorskip("chromadb.base_types")

_values = st.one_of(st.integers(-3, 2**33), st.floats(allow_nan=False), st.booleans(), st.text(max_size=2), st.none())
_lists = st.one_of(st.lists(_values, max_size=5), st.tuples(st.integers(0, 9)), st.none(), st.integers())


def _outcome(cls, *args):
    try:
        v = cls(*args)
    except Exception as e:  # noqa: BLE001 - comparing whatever is raised
        return type(e).__name__, str(e)
    return "ok", v.to_dict()


@settings(max_examples=300, deadline=None)
@given(_lists, _lists, st.one_of(st.none(), st.lists(st.text(max_size=3), max_size=5), st.integers()))
def test_validation_matches_chromadb(indices, values, labels):
    ours = _outcome(SparseVector, indices, values, labels)
    theirs = _outcome(cbase.SparseVector, indices, values, labels)
    assert ours == theirs


@given(st.lists(st.integers(0, 2**32 - 1), unique=True, max_size=8).map(sorted), st.data())
def test_wire_round_trip(indices, data):
    values = data.draw(st.lists(st.floats(-1e6, 1e6), min_size=len(indices), max_size=len(indices)))
    labels = data.draw(st.one_of(st.none(), st.lists(st.text(max_size=3), min_size=len(indices), max_size=len(indices))))
    ours = SparseVector(indices, values, labels)
    theirs = cbase.SparseVector(indices, values, labels)
    assert ours.to_dict() == theirs.to_dict()
    assert SparseVector.from_dict(theirs.to_dict()) == ours
    assert serialize_metadata({"s": ours, "k": 1}) == {"s": theirs.to_dict(), "k": 1}
    assert deserialize_metadata({"s": theirs.to_dict()}) == {"s": ours}


def test_from_dict_needs_the_type_tag():
    with pytest.raises(ValueError, match="Expected #type='sparse_vector', got None"):
        SparseVector.from_dict({"indices": [], "values": []})


def test_wire_metadatas_keeps_plain_results_untouched():
    plain = [{"a": 1}, None]
    assert wire_metadatas(plain) is plain
    nested = [[{"s": SparseVector([1], [0.5])}], [None]]
    assert wire_metadatas(nested) == [[{"s": {"#type": "sparse_vector", "indices": [1], "values": [0.5]}}], [None]]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), max_size=50))
def test_f32_floats_are_the_shortest_decimal(values):
    x = np.asarray(values, dtype=np.float32)
    got = f32_floats(x)
    assert np.array_equal(np.asarray(got, dtype=np.float32), x)  # round-trips
    normal = np.abs(x) >= np.finfo(np.float32).tiny
    expected = x.astype(str).astype(np.float64)  # numpy prints the shortest float32 repr
    assert np.array_equal(np.asarray(got)[normal], expected[normal])
