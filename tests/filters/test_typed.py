"""Filters over typed metadata columns (``filters.typed`` through ``CollectionEngine.select``)
agree with the pure-Python reference, on snapshots of several segments (blockfiles and a log
tail) whose keys are typed in some segments and long-form in others, with updates and deletes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chroma_frame.engine import duck
from chroma_frame.engine.collection import CollectionEngine
from chroma_frame.engine.snapshot import Snapshot
from chroma_frame.filters import compile_filter, matches, parse_filter
from chroma_frame.filters.typed import can_match
from chroma_frame.storage.records import DELETE, PUT, build_rows
from chroma_frame.storage.typed import typed_columns
from tests.filters.filter_strategies import BOOLS, FILTERS, FLOATS, INTS, KEYS, LEAVES, SCALARS, STRS, WHERES

_KINDS = {"str": STRS, "int": INTS, "float": FLOATS, "bool": BOOLS, "any": SCALARS}


@st.composite
def typed_metadata(draw, kinds: dict) -> dict | None:
    """Each key missing, or a scalar of the key's kind in this segment."""
    values = {key: draw(st.one_of(st.none(), _KINDS[kinds[key]])) for key in KEYS}
    present = {key: value for key, value in values.items() if value is not None}
    return present or None


@st.composite
def segments(draw) -> list[list[dict]]:
    """1-3 segments of records; per segment each key has one kind (mostly) or any."""
    out, n = [], 0
    for _ in range(draw(st.integers(1, 3))):
        kinds = {key: draw(st.sampled_from(["str", "int", "float", "bool", "int", "any"])) for key in KEYS}
        size = draw(st.integers(1, 6))
        rows = []
        for _ in range(size):
            reuse = n and draw(st.booleans()) and draw(st.booleans())
            rid = draw(st.integers(0, n - 1)) if reuse else n
            n += 0 if reuse else 1
            op = DELETE if reuse and draw(st.booleans()) else PUT
            rows.append({"rowid": rid, "id": f"r{rid}", "op": op, "metadata": draw(typed_metadata(kinds)),
                         "document": draw(st.sampled_from([None, "ab", "ba"]))})
        out.append(rows)
    return out


def _snapshot(parts: list[list[dict]], blockfiles: int) -> Snapshot:
    tables = []
    for seq, rows in enumerate(parts):
        tables.append(pa.concat_tables([
            build_rows(dimension=2, seqs=seq, rowids=[r["rowid"]], ops=r["op"], ids=[r["id"]],
                       documents=[r["document"]], metadatas=[r["metadata"] if r["op"] == PUT else None],
                       embeddings=np.zeros((1, 2), np.float32))
            for r in rows]))
    blockfiles = min(blockfiles, len(tables))
    return Snapshot.build(manifest_version=1, last_seq=len(parts), dimension=2,
                          blockfiles=[(f"b{i}", t) for i, t in enumerate(tables[:blockfiles])],
                          tail=tables[blockfiles:])


def _expected(parts: list[list[dict]], node) -> list[str]:
    latest: dict[int, dict] = {}
    for rows in parts:
        for r in rows:
            latest[r["rowid"]] = r
    live = [latest[rid] for rid in sorted(latest) if latest[rid]["op"] == PUT]
    return [r["id"] for r in live if node is None or matches(node, r)]


def _ids(snap: Snapshot, positions: np.ndarray) -> list[str]:
    return snap.rows(positions, ["id"]).column("id").to_pylist()


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=segments(), filters=st.one_of(FILTERS, LEAVES, st.tuples(WHERES, st.none())),
       blockfiles=st.integers(0, 3), limit=st.one_of(st.none(), st.integers(0, 4)))
def test_select_matches_reference(parts, filters, blockfiles, limit):
    snap = _snapshot(parts, blockfiles)
    node = parse_filter(*filters)
    expected = _expected(parts, node)
    positions = CollectionEngine.select(snap, None, compile_filter(node), limit)
    assert _ids(snap, positions) == expected[:limit]


def test_typed_path_is_taken_and_skips_segments():
    parts = [[{"rowid": i, "id": f"r{i}", "op": PUT, "metadata": {"a": i, "b": "x"}, "document": None}
              for i in range(s * 3, s * 3 + 3)] for s in range(3)]
    snap = _snapshot(parts, 2)
    sql, params = duck.typed_sql(snap, parse_filter({"a": {"$gte": 7}}, None))
    assert sql.count("SELECT") == 1 and params == [7]  # only the tail can hold a >= 7
    assert duck.typed_sql(snap, parse_filter(None, {"$contains": "x"})) is None  # documents: the long form
    assert _ids(snap, CollectionEngine.select(snap, None, compile_filter(parse_filter({"a": {"$gte": 7}}, None)))) \
        == ["r7", "r8"]


def test_typed_columns_keep_only_single_typed_scalars():
    rows = build_rows(dimension=1, seqs=0, rowids=[0, 1, 2], ops=PUT, ids=["a", "b", "c"],
                      metadatas=[{"i": 1, "m": 1, "l": [1]}, {"i": 2, "m": 1.5, "s": "x"}, None])
    columns, others = typed_columns(rows.column("metadata"))
    assert {k: c.kind for k, c in columns.items()} == {"i": "int", "s": "str"}
    assert others == {"m", "l"}
    assert columns["i"].values.to_pylist() == [1, 2, None] and (columns["i"].min, columns["i"].max) == (1, 2)
    assert columns["s"].values.to_pylist() == [None, "x", None]


@pytest.mark.parametrize("where, possible", [
    ({"i": 5}, False), ({"i": 2}, True), ({"i": {"$gt": 2}}, False), ({"i": {"$gte": 2.5}}, True), ({"i": {"$gte": 3.5}}, False),
    ({"i": {"$lt": 1.5}}, False), ({"i": {"$lte": 1.5}}, True), ({"i": {"$in": [0, 3]}}, False), ({"i": {"$ne": 5}}, True),
    ({"$or": [{"i": 5}, {"s": "x"}]}, True), ({"$and": [{"i": 1}, {"s": "y"}]}, False), ({"zz": 1}, False),
    ({"i": "1"}, False), ({"i": True}, False),
])
def test_statistics_rule_out(where, possible):
    columns = {"i": ("c0", "int"), "s": ("c1", "str")}
    assert can_match(parse_filter(where, None), columns, {"i": (1, 2), "s": ("x", "x")}) is possible
