"""Filters cost time linear in their size, are refused past Chroma's depth and our size limit, and
every DuckDB statement has a deadline. Chroma 1.5.9 runs side by side where it has an answer."""

from __future__ import annotations

import time

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings

import chroma_frame
from chroma_frame.engine import duck
from chroma_frame.errors import InternalError, InvalidArgumentError
from chroma_frame.filters import compile_filter, matches, parse_filter
from chroma_frame.filters.limits import MAX_FILTER_OBJECTS
from tests.filters.filter_strategies import FILTERS, records
from tests.filters.filter_support import run_sql

RECORDS = dict(ids=["a", "b", "c"], embeddings=[[1.0, 2.0], [2.0, 3.0], [3.0, 4.0]],
               metadatas=[{"n": 1}, {"n": 2}, {"n": 3}], documents=["x", "y", "z"])


@pytest.fixture(scope="module")
def ours():
    col = chroma_frame.EphemeralClient().create_collection("limits", embedding_function=None)
    col.add(**RECORDS)
    col.get(where={"n": 1})  # warm: DuckDB connection and the snapshot's relations
    return col


@pytest.fixture(scope="module")
def chroma():
    chromadb = pytest.importorskip("chromadb")
    col = chromadb.EphemeralClient().get_or_create_collection("limits", embedding_function=None)
    col.add(**RECORDS)
    return col


def nested(depth: int, leaf: dict, op: str = "$and") -> dict:
    where = leaf
    for _ in range(depth):
        where = {op: [where, leaf]}
    return where


def outcome(fn):
    try:
        return sorted(fn()["ids"])
    except Exception as exc:  # noqa: BLE001 - compared across implementations
        return type(exc).__name__


def timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    result = outcome(fn)
    return result, time.perf_counter() - start


def test_wide_and_is_fast(ours):
    """150 copies of one condition took 4-15 s (one IN-subquery each); now well under a second."""
    result, seconds = timed(lambda: ours.get(where={"$and": [{"n": {"$gte": 0}}] * 150}))
    assert result == ["a", "b", "c"] and seconds < 1.0
    result, seconds = timed(lambda: ours.get(where={"$and": [{"n": {"$gte": -i}} for i in range(150)]}))
    assert result == ["a", "b", "c"] and seconds < 1.0


def test_largest_filter_allowed_stays_fast(ours):
    """~1,000 distinct conditions (Chroma's own ceiling) in about a second, not minutes."""
    where = {"$or": [{"n": {"$gt": 10 + i}} for i in range(1000)] + [{"n": {"$lte": 3}}]}
    result, seconds = timed(lambda: ours.get(where=where))
    assert result == ["a", "b", "c"] and seconds < 5.0


@pytest.mark.parametrize("depth", [61, 62, 63, 200])
def test_where_depth_limit_is_chromas(ours, chroma, depth):
    """Chroma reads 62 nested $and around a condition and refuses 63 ("Invalid where clause");
    200 used to run for minutes here."""
    where = nested(depth, {"n": {"$gte": 0}})
    expected = outcome(lambda: chroma.get(where=where))
    result, seconds = timed(lambda: ours.get(where=where))
    assert result == expected and seconds < 1.0
    assert (result == "InvalidArgumentError") == (depth >= 63)


@pytest.mark.parametrize("depth", [63, 64])
def test_where_document_depth_limit_is_chromas(ours, chroma, depth):
    where_document = nested(depth, {"$contains": "x"}, "$or")
    expected = outcome(lambda: chroma.get(where_document=where_document))
    assert outcome(lambda: ours.get(where_document=where_document)) == expected


def test_depth_error_names_the_limit(ours):
    with pytest.raises(InvalidArgumentError, match=r"^Invalid where clause: .*nested more than 127 levels"):
        ours.get(where=nested(63, {"n": {"$eq": 1}}))
    with pytest.raises(InvalidArgumentError, match=r"^Invalid where document clause: .*127"):
        ours.get(where_document=nested(64, {"$contains": "x"}))


def test_hostile_depth_does_not_recurse(ours):
    """10,000 levels: refused in a loop, not a RecursionError from the validators."""
    where: dict = {"n": 1}
    for _ in range(10_000):
        where = {"$and": [where, {"n": 1}]}
    start = time.perf_counter()
    with pytest.raises(InvalidArgumentError, match="nested more than"):
        ours.get(where=where)
    assert time.perf_counter() - start < 2.0


def test_size_limit(ours):
    too_many = {"$or": [{"n": i} for i in range(MAX_FILTER_OBJECTS)]}  # plus the outer object
    with pytest.raises(InvalidArgumentError, match=f"more than {MAX_FILTER_OBJECTS} conditions"):
        ours.get(where=too_many)
    with pytest.raises(InvalidArgumentError, match="Invalid where document clause: .*conditions"):
        ours.get(where_document={"$or": [{"$contains": str(i)} for i in range(MAX_FILTER_OBJECTS)]})


def test_large_in_list_is_a_hash_lookup(ours):
    """$in of 100,000 values: one hash join (list_contains was O(list) per metadata entry)."""
    result, seconds = timed(lambda: ours.get(where={"n": {"$in": list(range(2, 100_002))}}))
    assert result == ["b", "c"] and seconds < 2.0
    assert outcome(lambda: ours.get(where={"n": {"$nin": [float(i) for i in range(3, 50_000)]}})) == ["a", "b"]


def test_or_of_equalities_is_one_set_lookup(ours):
    """2,000 ``$eq`` on one key are one ``$in`` (a hash lookup), not 2,000 conditions."""
    result, seconds = timed(lambda: ours.get(where={"$or": [{"n": i} for i in range(2, 2000)]}))
    assert result == ["b", "c"] and seconds < 1.0
    where = {"$and": [{"n": {"$ne": i}} for i in range(2, 1000)] + [{"n": {"$ne": 1.0}}]}
    assert outcome(lambda: ours.get(where=where)) == []


def test_flattening_keeps_types_apart(ours):
    """Deduplicating repeated conditions must not merge True with 1 (equal in Python)."""
    col = chroma_frame.EphemeralClient().create_collection("types", embedding_function=None)
    col.add(ids=["i", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], metadatas=[{"v": 1}, {"v": True}])
    assert col.get(where={"$or": [{"v": True}, {"v": True}, {"v": 1}]})["ids"] == ["i", "b"]
    assert col.get(where={"$and": [{"v": True}, {"$and": [{"v": True}, {"v": {"$ne": 1}}]}]})["ids"] == ["b"]


def test_statement_deadline_interrupts_duckdb():
    """DuckDB has no statement timeout: the watchdog interrupts it, as Chroma's InternalError."""
    con = duckdb.connect()
    duck.set_statement_timeout(0.2)
    try:
        start = time.perf_counter()
        with pytest.raises(InternalError, match=r"longer than the 0.2 s deadline \(CHROMA_FRAME_QUERY_TIMEOUT\)"):
            with duck.deadline(con):
                con.execute("SELECT count(*) FROM range(100000000000) t WHERE t.range % 7 = 3").fetchall()
        assert time.perf_counter() - start < 3.0
        with duck.deadline(con):  # the connection still works, and a quick statement is not hit
            assert con.execute("SELECT 42").fetchall() == [(42,)]
        time.sleep(0.3)  # a late timer never interrupts the next statement
        assert con.execute("SELECT 43").fetchall() == [(43,)]
    finally:
        duck.set_statement_timeout(None)


def test_statement_deadline_from_environment(monkeypatch):
    monkeypatch.setenv(duck.TIMEOUT_ENV, "2.5")
    assert duck.statement_timeout() == 2.5
    monkeypatch.setenv(duck.TIMEOUT_ENV, "0")
    assert duck.statement_timeout() == 0
    monkeypatch.delenv(duck.TIMEOUT_ENV)
    assert duck.statement_timeout() == duck.DEFAULT_TIMEOUT


# -- the grouped-scan shape (filters past SUBQUERY_LIMIT conditions) means what the subqueries mean --


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(records_=records(), filters=FILTERS)
def test_grouped_scan_matches_reference(con, records_, filters):
    node = parse_filter(*filters)
    expected = {r["id"] for r in records_ if matches(node, r)}
    compiled = compile_filter(node, subquery_limit=0)
    assert run_sql(con, records_, compiled) == expected
    if compiled is not None:  # never NULL: NOT (filter) selects exactly the other records
        assert run_sql(con, records_, compiled, negate=True) == {r["id"] for r in records_} - expected


def test_grouped_scan_shape():
    compiled = compile_filter(parse_filter({"$or": [{"i": 1}, {"i": {"$ne": 1}}, {"s": {"$in": ["a"]}}]}, None),
                              subquery_limit=0)
    assert compiled.sql == (
        "rowid IN (SELECT records.rowid FROM records LEFT JOIN (SELECT rowid, "
        "bool_or(1 > 0 AND key = $1 AND NOT is_array AND (int_value = (1)::BIGINT OR float_value = (1.0e0)::DOUBLE)) AS f1, "
        "bool_or(2 > 0 AND key = $2 AND NOT is_array AND list_contains($3::VARCHAR[], str_value)) AS f2 "
        "FROM metadata GROUP BY rowid) AS flags ON records.rowid = flags.rowid "
        "WHERE (f1 IS TRUE OR f1 IS NOT TRUE OR f2 IS TRUE))"
    )
    assert compiled.params == ("i", "s", ("a",))
