"""compile_filter: SQL snapshots, Chroma's observed semantics, and SQL == reference on random data."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings

from chroma_frame.filters import CompiledFilter, compile_filter, matches, parse_filter

from .filter_cases import FACTS, FIXED
from .filter_strategies import FILTERS, LEAVES, records
from .filter_support import run_sql


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def reference_ids(records_, node) -> set[str]:
    return {r["id"] for r in records_ if matches(node, r)}


# -- snapshots ------------------------------------------------------------------------------

SNAPSHOTS = [
    (
        {"i": 1},
        None,
        "rowid IN (SELECT rowid FROM metadata WHERE key = $1 AND NOT is_array"
        " AND (int_value = $2::BIGINT OR float_value = $2::DOUBLE))",
        ("i", 1),
    ),
    (
        {"i": {"$ne": 1.5}},
        None,
        "rowid NOT IN (SELECT rowid FROM metadata WHERE key = $1 AND NOT is_array"
        " AND (int_value = $2::BIGINT OR float_value = $3::DOUBLE))",
        ("i", 1, 1.5),
    ),
    (
        {"$or": [{"s": {"$in": ["a", "b"]}}, {"l": {"$not_contains": True}}]},
        None,
        "(rowid IN (SELECT rowid FROM metadata WHERE key = $1 AND NOT is_array"
        " AND list_contains($2::VARCHAR[], str_value))"
        " OR rowid NOT IN (SELECT rowid FROM metadata WHERE key = $3 AND is_array AND bool_value = $4))",
        ("s", ("a", "b"), "l", True),
    ),
    (
        {"n": {"$nin": [1, 2]}},
        {"$not_regex": "^a."},
        "(rowid NOT IN (SELECT rowid FROM metadata WHERE key = $1 AND NOT is_array"
        " AND (list_contains($2::BIGINT[], int_value) OR list_contains($2::DOUBLE[], float_value)))"
        " AND NOT coalesce(regexp_matches(document, $3), false))",
        ("n", (1, 2), "^a."),
    ),
    (
        {"#document": {"$contains": "it's"}},
        None,
        "coalesce(contains(document, $1), false)",
        ("it's",),
    ),
]


@pytest.mark.parametrize("where, where_document, sql, params", SNAPSHOTS)
def test_sql_snapshot(where, where_document, sql, params):
    compiled = compile_filter(parse_filter(where, where_document))
    assert compiled == CompiledFilter(sql, params)


def test_none_compiles_to_none():
    assert compile_filter(None) is None


def test_nothing_user_written_reaches_the_sql_text():
    evil = "x') OR 1=1 --"
    compiled = compile_filter(parse_filter({"$and": [{evil: evil}, {"#document": {"$contains": evil}}]}, {"$regex": "'"}))
    assert evil not in compiled.sql and "'" not in compiled.sql


# -- Chroma 1.5.9's observed behaviour (FACTS; test_against_chroma.py replays them on Chroma) --


@pytest.mark.parametrize("where, where_document, expected", FACTS)
def test_chroma_semantics(con, where, where_document, expected):
    node = parse_filter(where, where_document)
    assert reference_ids(FIXED, node) == expected
    assert run_sql(con, FIXED, compile_filter(node)) == expected


# -- property: the SQL agrees with the reference -------------------------------------------


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(records_=records(), filters=LEAVES)
def test_sql_matches_reference_single_operator(con, records_, filters):
    node = parse_filter(*filters)
    assert run_sql(con, records_, compile_filter(node)) == reference_ids(records_, node)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(records_=records(), filters=FILTERS)
def test_sql_matches_reference(con, records_, filters):
    node = parse_filter(*filters)
    compiled = compile_filter(node)
    expected = reference_ids(records_, node)
    assert run_sql(con, records_, compiled) == expected
    if compiled is not None:  # never NULL: NOT (filter) selects exactly the other records
        assert run_sql(con, records_, compiled, negate=True) == {r["id"] for r in records_} - expected
