"""Differential tests against chromadb 1.5.9 itself (skipped when it is not installed)."""

from __future__ import annotations

import itertools
import random

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chroma_frame.filters import compile_filter, matches, parse_filter

from .filter_cases import ALL_BAD, FACTS, FIXED
from .filter_strategies import FILTERS, LEAVES, records
from .filter_support import run_sql

chromadb = pytest.importorskip("chromadb")

_names = itertools.count()


@pytest.fixture(scope="module")
def client():
    return chromadb.EphemeralClient()


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def _collection(client, records_):
    collection = client.create_collection(f"filters-{next(_names)}", embedding_function=None)
    if records_:
        rng = random.Random(0)
        collection.add(
            ids=[r["id"] for r in records_],
            documents=[r["document"] for r in records_],
            metadatas=[r["metadata"] for r in records_],
            embeddings=[[rng.random(), rng.random()] for _ in records_],
        )
    return collection


def _drop(client, collection, records_):
    """Delete the records, then the collection. Chroma 1.5.9's delete_collection leaves the rows of
    list-valued metadata behind, and a later collection whose records reuse those internal ids
    then matches them in $contains / $not_contains; deleting the records first avoids that."""
    if records_:
        collection.delete(ids=[r["id"] for r in records_])
    client.delete_collection(collection.name)


def _chroma_error(client, where, where_document):
    collection = client.get_or_create_collection("filters-errors", embedding_function=None)
    with pytest.raises(Exception) as info:
        collection.get(where=where, where_document=where_document)
    message = str(info.value)
    if isinstance(info.value, ValueError):  # Python-side validation adds the context
        message = message.removesuffix(" in get.")
    return type(info.value).__name__, message


@pytest.mark.parametrize("where, where_document, cls, message", ALL_BAD, ids=[repr(c[:2])[:60] for c in ALL_BAD])
def test_error_battery_is_what_chroma_raises(client, where, where_document, cls, message):
    assert _chroma_error(client, where, where_document) == (cls, message)


@pytest.fixture(scope="module")
def fixed_collection(client):
    collection = _collection(client, FIXED)
    yield collection
    _drop(client, collection, FIXED)


@pytest.mark.parametrize("where, where_document, expected", FACTS)
def test_facts_are_what_chroma_returns(fixed_collection, where, where_document, expected):
    assert set(fixed_collection.get(where=where, where_document=where_document)["ids"]) == expected


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(records_=records(), queries=st.lists(st.one_of(LEAVES, LEAVES, FILTERS), min_size=4, max_size=12))
def test_same_ids_as_chroma(client, con, records_, queries):
    collection = _collection(client, records_)
    try:
        for where, where_document in queries:
            node = parse_filter(where, where_document)
            chroma = set(collection.get(where=where, where_document=where_document)["ids"])
            reference = {r["id"] for r in records_ if matches(node, r)}
            assert reference == chroma, (where, where_document)
            assert run_sql(con, records_, compile_filter(node)) == chroma, (where, where_document)
    finally:
        _drop(client, collection, records_)
