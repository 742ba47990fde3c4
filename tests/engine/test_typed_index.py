"""Typed filters answered from the sorted column indexes (``engine.typed_index``), with document
substring conditions, agree with the pure-Python reference and with DuckDB's typed path,
whichever way the index evaluates them (slices of the sorted rows, or a test of every row)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chroma_frame.engine import duck, typed_index, word_index
from chroma_frame.engine.collection import CollectionEngine
from chroma_frame.filters import compile_filter, parse_filter
from tests.filters.filter_strategies import FILTERS, LEAVES, WHERES
from tests.filters.test_typed import _expected, _ids, _snapshot, segments


@pytest.mark.parametrize("share", [0.0, 1.0])  # 0: slices and row tests; 1: every row tested
@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(parts=segments(), filters=st.one_of(FILTERS, LEAVES, st.tuples(WHERES, st.none())),
       blockfiles=st.integers(0, 3), limit=st.one_of(st.none(), st.integers(0, 4)))
def test_index_matches_reference_and_duckdb(monkeypatch, share, parts, filters, blockfiles, limit):
    monkeypatch.setattr(typed_index, "MASK_SHARE", share)
    snap = _snapshot(parts, blockfiles)
    node = parse_filter(*filters)
    if node is None:
        return
    found = typed_index.typed_matches(snap, node)
    sql = duck.typed_matches(snap, node)
    if found is not None and sql is not None:
        assert found.tolist() == sorted(sql.tolist())
    if found is not None:
        assert typed_index.estimate(snap, node) >= len(found)
    positions = CollectionEngine.select(snap, None, compile_filter(node), limit)
    assert _ids(snap, positions) == _expected(parts, node)[:limit]


_POOLS = {"int": [-1, 0, 1, 2], "float": [-1.5, 0.0, 1.0, 1.5, 2.0], "str": ["", "x", "y"], "bool": [True, False]}


@st.composite
def _typed_parts(draw) -> list[list[dict]]:
    """Segments whose keys are typed (one kind per key: the log tail joins segments), values from
    small pools, so that filters often meet equal values (where > and >= differ)."""
    out, n = [], 0
    kinds = {key: draw(st.sampled_from(list(_POOLS))) for key in ("a", "b")}
    for _ in range(draw(st.integers(1, 3))):
        rows = []
        for _ in range(draw(st.integers(1, 12))):
            md = {key: draw(st.sampled_from(_POOLS[kind])) for key, kind in kinds.items() if draw(st.integers(0, 4))}
            rows.append({"rowid": n, "id": f"r{n}", "op": 0, "metadata": md or None,
                         "document": draw(st.sampled_from([None, "", "ab", "ba", "xab"]))})
            n += 1
        out.append(rows)
    return out


_OPERAND = st.sampled_from([v for pool in _POOLS.values() for v in pool])
_NUMBER = st.sampled_from(_POOLS["int"] + _POOLS["float"])
_LEAF = st.one_of(
    st.builds(lambda k, op, v: {k: {op: v}}, st.sampled_from("ab"), st.sampled_from(["$eq", "$ne"]), _OPERAND),
    st.builds(lambda k, op, v: {k: {op: v}}, st.sampled_from("ab"), st.sampled_from(["$gt", "$gte", "$lt", "$lte"]),
              _NUMBER),
    st.builds(lambda k, op, pool, i: {k: {op: _POOLS[pool][:i]}}, st.sampled_from("ab"), st.sampled_from(["$in", "$nin"]),
              st.sampled_from(list(_POOLS)), st.integers(1, 3)),
)
_WHERE = st.recursive(_LEAF, lambda inner: st.builds(lambda op, cs: {op: cs}, st.sampled_from(["$and", "$or"]),
                                                     st.lists(inner, min_size=2, max_size=3)), max_leaves=4)


@pytest.mark.parametrize("share", [0.0, 0.3, 1.0])
@settings(max_examples=100, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(parts=_typed_parts(), where=_WHERE, blockfiles=st.integers(0, 3),
       document=st.sampled_from([None, {"$contains": "a"}, {"$contains": "ab"}, {"$not_contains": "ab"}]))
def test_index_on_typed_columns_matches_reference(monkeypatch, share, parts, where, blockfiles, document):
    monkeypatch.setattr(typed_index, "MASK_SHARE", share)
    snap = _snapshot(parts, blockfiles)
    node = parse_filter(where, document)
    found = typed_index.typed_matches(snap, node)
    assert found is not None or document is not None  # typed keys only: the index answers
    if found is None:
        return
    assert _ids(snap, found) == _expected(parts, node)


def test_document_conditions_are_read_on_the_rows_of_metadata_conditions():
    parts = [[{"rowid": i, "id": f"r{i}", "op": 0, "metadata": {"s": i % 4}, "document": f"w{i % 3} x"}
              for i in range(12)]]
    snap = _snapshot(parts, 1)
    mixed = parse_filter({"s": 1}, {"$contains": "w1"})
    assert [int(i[1:]) for i in _ids(snap, typed_index.typed_matches(snap, mixed))] == [1]
    alone = parse_filter(None, {"$contains": "w1"})
    typed_index.typed_matches(snap, alone)  # asks for the word index
    word_index.wait_for_builds()
    assert [int(i[1:]) for i in _ids(snap, typed_index.typed_matches(snap, alone))] == [1, 4, 7, 10]
    with pytest.MonkeyPatch.context() as patch:  # alone and no word index (yet): DuckDB answers
        patch.setattr(typed_index, "word_index", lambda table: None)
        assert typed_index.typed_matches(_snapshot(parts, 1), alone) is None
    assert typed_index.typed_matches(snap, parse_filter({"s": 1}, {"$regex": "w1"})) is None  # regex: DuckDB


def test_index_answers_the_benchmark_filters_by_slices():
    parts = [[{"rowid": i, "id": f"r{i}", "op": 0, "metadata": {"shard": i % 20, "year": 2000 + i % 25},
               "document": None} for i in range(s * 400, s * 400 + 400)] for s in range(3)]
    snap = _snapshot(parts, 2)
    node = parse_filter({"$and": [{"shard": 3}, {"year": {"$gte": 2016}}, {"year": {"$lte": 2019}}]}, None)
    seg = typed_index.segment_index(snap.segments[0])
    assert seg.count(node) == 20  # the smallest child: shard == 3, counted by binary search
    found = typed_index.typed_matches(snap, node)
    assert [int(i[1:]) for i in _ids(snap, found)] == [i for i in range(1200) if i % 20 == 3 and 16 <= i % 25 <= 19]
