"""``Collection.search`` against the slow model in ``reference.py`` over a small real collection
(a compacted blockfile plus a log tail with updates and deletes)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chroma_frame
from chroma_frame.execution.expression import (
    GroupBy,
    K,
    Knn,
    Limit,
    MaxK,
    MinK,
    Rrf,
    Search,
    Select,
    Val,
)
from tests.conftest import open_backend
from tests.execution import reference

DIM, SPACE = 4, "l2"
WORDS = ["alpha", "beta", "gamma", "delta", "omega"]


@pytest.fixture(scope="module", params=["local", "s3"])
def collection(tmp_path_factory, request):
    """The searched collection, on a local disk and on S3 (moto): the same answers from both."""
    rng = np.random.default_rng(7)
    client = open_backend(request.param, request, tmp_path_factory.mktemp("search") / "db")
    col = client.create_collection("searchable", embedding_function=None)

    def batch(start: int, stop: int) -> dict:
        ids = [f"r{i:02d}" for i in range(start, stop)]
        metas = []
        for i in range(start, stop):
            m = {"g": int(rng.integers(0, 4)), "cat": str(rng.choice(["a", "b", "c"])), "x": float(rng.random())}
            if i % 7 == 0:
                del m["cat"]
            if i % 11 == 0:
                m["g"] = float(m["g"])  # a float group value never equals an int one
            metas.append(m if i % 13 else None)
        docs = [" ".join(rng.choice(WORDS, 3)) if i % 9 else None for i in range(start, stop)]
        return dict(ids=ids, embeddings=rng.random((stop - start, DIM)).astype(np.float32), metadatas=metas,
                    documents=docs)

    col.add(**batch(0, 40))
    col.compact()
    col.add(**batch(40, 60))
    col.update(ids=["r03", "r41"], embeddings=rng.random((2, DIM)).astype(np.float32),
               metadatas=[{"g": 9, "cat": "z"}, {"x": 0.5}])
    col.delete(ids=["r05", "r44", "r50"])
    return col


@pytest.fixture(scope="module")
def records(collection):
    got = collection.get(include=["embeddings", "documents", "metadatas"])
    return [{"id": i, "embedding": np.asarray(e, np.float32), "document": d, "metadata": m}
            for i, e, d, m in zip(got["ids"], got["embeddings"], got["documents"], got["metadatas"])]


# -- strategies --------------------------------------------------------------------------------

queries = st.lists(st.floats(0, 1, width=32), min_size=DIM, max_size=DIM)
knns = st.builds(Knn, query=queries, limit=st.integers(1, 30),
                 default=st.one_of(st.none(), st.sampled_from([0.0, 2.5, 100.0])), return_rank=st.booleans())
values = st.builds(Val, st.sampled_from([0.5, 1.0, 2.0, -3.0, 10.0]))
ranks = st.recursive(
    st.one_of(knns, knns, values),
    lambda children: st.one_of(
        st.tuples(children, children).map(lambda p: p[0] + p[1]),
        st.tuples(children, children).map(lambda p: p[0] - p[1]),
        st.tuples(children, values).map(lambda p: p[0] * p[1]),
        st.tuples(children, values).map(lambda p: p[0] / p[1]),
        st.tuples(children, children).map(lambda p: p[0].max(p[1])),
        st.tuples(children, children).map(lambda p: p[0].min(p[1])),
        children.map(abs),
        st.lists(st.builds(Knn, query=queries, limit=st.integers(1, 30), return_rank=st.just(True),
                           default=st.one_of(st.none(), st.just(50.0))), min_size=1, max_size=3)
        .flatmap(lambda ks: st.builds(Rrf, st.just(ks), k=st.integers(1, 80),
                                      weights=st.one_of(st.none(), st.just([1.0 + i for i in range(len(ks))]))))
    ),
    max_leaves=5,
)
wheres = st.one_of(
    st.none(),
    st.sampled_from([
        K("g") == 1, K("g") >= 2, K("cat").is_in(["a", "b"]), K("cat") != "a", K("x") < 0.5,
        K.DOCUMENT.contains("alpha"), K.DOCUMENT.not_contains("beta"), K.DOCUMENT.regex("^ga"),
        K.ID.is_in(["r01", "r02", "r10", "r45", "r05"]), K.ID != "r07", K.ID.not_in(["r01", "r02"]),
        (K("g") == 1) | K.ID.is_in(["r20", "r21"]), (K("cat") == "b") & (K("x") > 0.2),
        (K.ID == "r30") | (K.DOCUMENT.contains("omega") & (K("g") != 0)), K("missing") == 1,
    ]),
)
group_bys = st.one_of(st.none(), st.builds(
    GroupBy, keys=st.sampled_from([K("g"), [K("cat")], [K("g"), K("cat")], K("missing")]),
    aggregate=st.one_of(st.builds(MinK, keys=st.sampled_from([K.SCORE, [K("x"), K.SCORE]]), k=st.integers(1, 3)),
                        st.builds(MaxK, keys=st.sampled_from([K.SCORE, [K("g"), K.SCORE]]), k=st.integers(1, 3)))))
selects = st.lists(st.sampled_from(["#document", "#embedding", "#metadata", "#score", "#id", "cat", "x", "nope"]),
                   max_size=4)
searches = st.builds(
    lambda w, r, g, lim, sel: Search(where=w, rank=r, group_by=g, limit=lim, select=sel),
    wheres, st.one_of(st.none(), ranks), group_bys,
    st.one_of(st.none(), st.builds(Limit, offset=st.integers(0, 10), limit=st.one_of(st.none(), st.integers(1, 20)))),
    st.builds(Select, keys=st.sets(st.sampled_from(["#document", "#embedding", "#metadata", "#score", "cat", "x"]))),
)


def assert_matches(got: dict, want: dict) -> None:
    assert got["ids"] == want["ids"]
    assert got["select"] == want["select"]
    assert got["documents"] == want["documents"]
    assert got["metadatas"] == want["metadatas"]
    for name in ("scores", "embeddings"):
        if want[name] is None:
            assert got[name] is None
        else:
            a = np.asarray(got[name], dtype=np.float64)
            b = np.asarray(want[name], dtype=np.float64)
            assert a.shape == b.shape
            assert np.allclose(a, b, rtol=1e-4, atol=1e-4, equal_nan=True), (a, b)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(searches, min_size=1, max_size=3))
def test_search_matches_the_model(collection, records, batch):
    result = collection.search(batch)
    assert len(result["ids"]) == len(batch)
    for i, search in enumerate(batch):
        want = reference.search(records, search.to_dict(), SPACE)
        got = {name: result[name][i] for name in ("ids", "documents", "embeddings", "metadatas", "scores", "select")}
        assert_matches(got, want)


def test_knn_limit_and_default_decide_what_is_ranked(collection, records):
    q1, q2 = [0.1] * DIM, [0.9] * DIM
    near1 = [r["id"] for r in sorted(records, key=lambda r: reference.distance(np.float32(q1), r["embedding"], "l2"))]
    near2 = [r["id"] for r in sorted(records, key=lambda r: reference.distance(np.float32(q2), r["embedding"], "l2"))]
    both = collection.search(Search().rank(Knn(query=q1, limit=10) + Knn(query=q2, limit=10)))["ids"][0]
    assert set(both) == set(near1[:10]) & set(near2[:10])  # default None: only records in both
    either = collection.search(Search().rank(Knn(query=q1, limit=10, default=5.0)
                                             + Knn(query=q2, limit=10, default=5.0)))["ids"][0]
    assert set(either) == set(near1[:10]) | set(near2[:10])
    one_sided = collection.search(Search().rank(Knn(query=q1, limit=10) + Knn(query=q2, limit=10, default=5.0)))
    assert set(one_sided["ids"][0]) == set(near1[:10])
    only_values = collection.search(Search().rank(Val(1.0) + Val(2.0)).select("#score"))
    assert only_values["ids"] == [[]]  # no Knn: nothing is ranked


def test_return_rank_is_zero_based_and_rrf_scores(collection):
    r = collection.search(Search().rank(Knn(query=[0.3] * DIM, limit=5, return_rank=True)).select("#score"))
    assert r["scores"][0] == [0.0, 1.0, 2.0, 3.0, 4.0]
    rrf = collection.search(Search().rank(Rrf([Knn(query=[0.3] * DIM, limit=5, return_rank=True)], k=60))
                            .select("#score"))
    assert rrf["ids"] == r["ids"]
    assert np.allclose(rrf["scores"][0], [-1 / (60 + i) for i in range(5)])


def test_search_without_rank_is_insertion_order_with_position_scores(collection, records):
    r = collection.search(Search().limit(4, offset=3).select("#score", "#document"))
    assert r["ids"][0] == [rec["id"] for rec in records[3:7]]
    assert r["scores"][0] == [0.0, 1.0, 2.0, 3.0]
    everything = collection.search(Search())
    assert everything["ids"][0] == [rec["id"] for rec in records]
    assert everything["documents"] == [None] and everything["scores"] == [None] and everything["select"] == [[]]


def test_select_fields_and_metadata_subsets(collection):
    r = collection.search(Search(where=K.ID.is_in(["r01", "r13", "r14"]), select=["cat", "#id"]))
    assert r["select"] == [["#id", "cat"]]  # predefined keys first, then fields by name; #id is a field
    by_id = dict(zip(r["ids"][0], r["metadatas"][0]))
    assert by_id["r13"] is None  # no metadata at all
    assert all(m is None or set(m) == {"cat"} for m in by_id.values())
    assert r["documents"] == [None] and r["embeddings"] == [None]


def test_log_and_exp_follow_float32(collection):
    expr = (Knn(query=[0.2] * DIM, limit=6) + 1).log() * Val(2.0) - Knn(query=[0.2] * DIM, limit=6).exp()
    got = collection.search(Search().rank(expr).select("#score"))
    plain = collection.search(Search().rank(Knn(query=[0.2] * DIM, limit=6)).select("#score"))
    d = np.asarray(plain["scores"][0], np.float32)
    want = np.log(d + np.float32(1)) * np.float32(2) - np.exp(d)
    assert np.allclose(sorted(got["scores"][0]), sorted(want.tolist()), rtol=1e-5)
    nan = collection.search(Search().rank((Knn(query=[0.2] * DIM, limit=3) - 10).log()).select("#score"))
    assert len(nan["ids"][0]) == 3 and all(s is None or math.isnan(s) for s in nan["scores"][0])


def test_invalid_searches(collection):
    with pytest.raises(chroma_frame.errors.InvalidArgumentError, match="dimension of 4, got 2"):
        collection.search(Search().rank(Knn(query=[0.1, 0.2])))
    with pytest.raises(chroma_frame.errors.InvalidArgumentError, match="'sparse' with type 'SparseVector'"):
        collection.search(Search().rank(Knn(query={"#type": "sparse_vector", "indices": [1], "values": [1.0]},
                                            key="sparse")))
    with pytest.raises(ValueError, match="read_level"):
        collection.search(Search(), read_level="everything")
    with pytest.raises(ValueError, match="Cannot embed string query for key 'body'"):
        collection.search(Search().rank(Knn(query="text", key="body")))
    with pytest.raises(ValueError, match="You must provide an embedding function"):
        collection.search(Search().rank(Knn(query="text")))
    with pytest.raises(ValueError, match="must match number of ranks"):
        collection.search(Search().rank(Rrf([Knn(query=[0.1] * DIM)], weights=[1.0, 2.0])))
    with pytest.raises(ValueError, match="Expected where operand"):
        collection.search(Search().where(K("g") == None))  # noqa: E711
    assert collection.search([]) == {"ids": [], "documents": [], "embeddings": [], "metadatas": [], "scores": [],
                                     "select": []}


def test_frames(collection):
    r = collection.search([Search().rank(Knn(query=[0.4] * DIM, limit=3)).select("#score", "cat"),
                           Search().limit(2).select("#document")])
    table = r.to_arrow()
    assert table.column_names[:4] == ["search", "rank", "id", "score"]
    assert table.column("search").to_pylist() == [0, 0, 0, 1, 1]
    assert table.column("rank").to_pylist() == [1, 2, 3, 1, 2]
    assert table.column("id").to_pylist() == r["ids"][0] + r["ids"][1]
    assert table.column("score").to_pylist()[3:] == [None, None]
    assert table.column("document").to_pylist()[:3] == [None, None, None]
    frame = r.to_polars()
    assert frame.shape[0] == 5 and "cat" in frame.columns
    rows = r.rows()
    assert [row["id"] for row in rows[0]] == r["ids"][0] and "score" in rows[0][0] and "document" not in rows[0][0]
