"""Search API expressions: the same constructor calls give chromadb 1.5.9's ``to_dict()`` exactly,
``from_dict`` reads chromadb's output, and bad input fails with chromadb's exception and message."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.execution import wire_recipes as r

CHROMA, FRAME = r.library("chromadb"), r.library("chroma_frame")
CHROMA_BUILT = lambda recipe: r.build_search(CHROMA, recipe)  # noqa: E731
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def strict(value: Any) -> Any:
    """``value`` with every scalar tagged by its type, so that 1, 1.0 and True differ."""
    if isinstance(value, dict):
        return ("dict", tuple((strict(k), strict(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(strict(v) for v in value))
    return (type(value).__name__, value)


def outcome(fn: Callable[[], Any]) -> Any:
    """The value (type-tagged), or (exception class name, message)."""
    try:
        return ("ok", strict(fn()))
    except Exception as exc:  # noqa: BLE001 - compared between the libraries
        return ("error", type(exc).__name__, str(exc))


def same(build: Callable[[Any], Any], then: Callable[[Any], Any] = lambda x: x.to_dict()) -> Any:
    theirs = outcome(lambda: then(build(CHROMA)))
    ours = outcome(lambda: then(build(FRAME)))
    assert ours == theirs
    return theirs


@SETTINGS
@given(r.wheres)
def test_where_to_dict(recipe):
    same(lambda lib: r.build_where(lib, recipe))


@SETTINGS
@given(r.ranks)
def test_rank_to_dict(recipe):
    same(lambda lib: r.build_rank(lib, recipe))


@SETTINGS
@given(r.searches)
def test_search_to_dict_and_back(recipe):
    result = same(lambda lib: r.build_search(lib, recipe))
    if result[0] != "ok":
        return
    payload = CHROMA_BUILT(recipe).to_dict()
    # chromadb's payload, read back by each library (the server's path) and written again
    same(lambda lib: lib.expr.Search(where=payload["filter"], rank=payload["rank"], group_by=payload["group_by"],
                                     limit=payload["limit"], select=payload["select"]))


@SETTINGS
@given(st.sampled_from(["Where", "Rank", "GroupBy", "Aggregate", "Limit", "Select"]), r.json_dicts)
def test_from_dict_errors_and_values(kind, data):
    def parse(lib):
        return getattr(lib.expr, kind).from_dict(data)

    same(parse, then=lambda x: x.to_dict())


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, path + (i,))
    return out


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: (_replaced(v, rest, new) if k == head else v) for k, v in value.items()}
    return [(_replaced(v, rest, new) if i == head else v) for i, v in enumerate(value)]


@SETTINGS
@given(r.searches, st.data())
def test_mutated_payloads(recipe, data):
    """chromadb's payload with one part replaced: both libraries accept or reject it alike."""
    try:
        payload = CHROMA_BUILT(recipe).to_dict()
    except Exception:  # noqa: BLE001 - an invalid recipe (checked by the test above)
        return
    path = data.draw(st.sampled_from(_paths(payload)[1:]))
    mutated = _replaced(payload, path, data.draw(r.json_values))
    same(lambda lib: lib.expr.Search(where=mutated["filter"], rank=mutated["rank"], group_by=mutated["group_by"],
                                     limit=mutated["limit"], select=mutated["select"]))


@SETTINGS
@given(r.json_dicts, r.json_dicts, r.json_values, r.json_values, r.json_values)
def test_search_constructor_errors(where, rank, group_by, limit, select):
    same(lambda lib: lib.expr.Search(where=where or None, rank=rank or None, group_by=group_by, limit=limit,
                                     select=select))


def test_documented_wire_examples():
    """The payloads in Chroma's docs (behaviour notes §6.2), as chromadb writes them."""
    for lib in (CHROMA, FRAME):
        e = lib.expr
        s = (e.Search().where((e.K("category") == "science") & (e.K("year") >= 2020) | e.K.DOCUMENT.contains("ml"))
             .rank(e.Knn(query=[0.1, 0.2]) * 0.8 + e.Val(0.2)).limit(10, offset=5).select(e.K.DOCUMENT, e.K.SCORE, "title"))
        d = s.to_dict()
        assert d["filter"] == {"$or": [{"$and": [{"category": {"$eq": "science"}}, {"year": {"$gte": 2020}}]},
                                       {"#document": {"$contains": "ml"}}]}
        assert d["rank"] == {"$sum": [{"$mul": [{"$knn": {"query": [0.1, 0.2], "key": "#embedding", "limit": 16}},
                                                {"$val": 0.8}]}, {"$val": 0.2}]}
        assert d["limit"] == {"offset": 5, "limit": 10} and d["group_by"] == {}
        assert sorted(d["select"]["keys"]) == ["#document", "#score", "title"]
    ours = FRAME.expr.Rrf([FRAME.expr.Knn(query=[0.1], return_rank=True)], k=10).to_dict()
    assert ours == {"$mul": [{"$val": -1}, {"$div": {"left": {"$val": 1.0}, "right": {"$sum": [
        {"$val": 10}, {"$knn": {"query": [0.1], "key": "#embedding", "limit": 16, "return_rank": True}}]}}}]}


def test_numpy_and_sparse_queries():
    e = FRAME.expr
    knn = e.Knn(query=np.array([1, 2], dtype=np.float32), key="#embedding")
    assert knn.to_dict()["$knn"]["query"] == [1.0, 2.0]
    parsed = e.Rank.from_dict({"$knn": {"query": {"#type": "sparse_vector", "indices": [1, 4], "values": [0.5, 1]}}})
    assert isinstance(parsed.query, FRAME.SparseVector) and parsed.query.indices == [1, 4]
    with pytest.raises(ValueError, match="strictly ascending"):
        e.Rank.from_dict({"$knn": {"query": {"#type": "sparse_vector", "indices": [4, 1], "values": [0.5, 1]}}})


def test_top_level_names():
    import chromadb

    import chroma_frame

    for name in ("Search", "Key", "K", "Knn", "Rrf", "ReadLevel"):
        assert hasattr(chromadb, name) and hasattr(chroma_frame, name)
    for name in ("GroupBy", "MinK", "MaxK", "Limit", "Select", "Val"):  # what Chroma's docs import from chromadb
        assert getattr(chroma_frame, name) is getattr(chroma_frame.execution.expression, name)
    from chroma_frame.execution.expression.operator import Knn as OperatorKnn
    from chroma_frame.execution.expression.plan import Search as PlanSearch

    assert OperatorKnn is chroma_frame.Knn and PlanSearch is chroma_frame.Search
