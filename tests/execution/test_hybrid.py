"""Hybrid search: a BM25 sparse index (``Schema`` + ``ChromaBm25EmbeddingFunction``) next to dense
embeddings, fused with ``Rrf`` — against the reference model, embedded and over HTTP."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chroma_frame
from chroma_frame import K, Knn, Rrf, Search
from chroma_frame.utils.embedding_functions import ChromaBm25EmbeddingFunction
from tests.execution import reference
from tests.execution.test_executor import assert_matches
from tests.server.conftest import Server, chroma_client

DIM = 3
TEXTS = ["cats chase mice", "dogs chase cats", "the stock market fell", "markets and stocks rise",
         "a cat naps", "quantum cats", "dogs bark at night", "night markets sell food", "mice eat cheese",
         "cheese and wine markets"]


def _schema():
    config = chroma_frame.SparseVectorIndexConfig(source_key=K.DOCUMENT, embedding_function=ChromaBm25EmbeddingFunction(),
                                                  bm25=True)
    return chroma_frame.Schema().create_index(config, key="sparse_embedding")


def _fill(col) -> None:
    rng = np.random.default_rng(11)
    n = 30
    col.add(ids=[f"h{i:02d}" for i in range(n)], embeddings=rng.random((n, DIM)).tolist(),
            documents=[TEXTS[i % len(TEXTS)] + f" {i}" for i in range(n)],
            metadatas=[{"kind": ["x", "y", "z"][i % 3]} for i in range(n)])
    col.delete(ids=["h04"])


@pytest.fixture(scope="module")
def hybrid(tmp_path_factory):
    client = chroma_frame.PersistentClient(path=str(tmp_path_factory.mktemp("hybrid") / "db"))
    col = client.create_collection("hybrid", schema=_schema(), embedding_function=None)
    _fill(col)
    got = col.get(include=["embeddings", "documents", "metadatas"])
    records = [{"id": i, "embedding": np.asarray(e, np.float32), "document": d, "metadata": m}
               for i, e, d, m in zip(got["ids"], got["embeddings"], got["documents"], got["metadatas"])]
    return col, records


def _sparse(text: str) -> dict:
    return ChromaBm25EmbeddingFunction().embed_query([text])[0].to_dict()


words = st.sampled_from(["cats", "dogs chase", "markets", "cheese night", "quantum", "nothing matches"])
sparse_knns = st.builds(lambda w, limit, default, rr: Knn(query=_sparse(w), key="sparse_embedding", limit=limit,
                                                          default=default, return_rank=rr),
                        words, st.integers(1, 12), st.sampled_from([None, 40.0]), st.booleans())
dense_knns = st.builds(Knn, query=st.lists(st.floats(0, 1, width=32), min_size=DIM, max_size=DIM),
                       limit=st.integers(1, 12), default=st.sampled_from([None, 40.0]), return_rank=st.booleans())
ranks = st.one_of(
    sparse_knns,
    st.tuples(dense_knns, sparse_knns).map(lambda p: p[0] + p[1]),
    st.lists(st.one_of(dense_knns, sparse_knns), min_size=2, max_size=3).map(
        lambda ks: Rrf([Knn(query=k.query, key=k.key, limit=k.limit, default=k.default, return_rank=True) for k in ks])),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ranks, st.sampled_from([None, K("kind") == "x", K.DOCUMENT.contains("cat")]), st.integers(1, 10))
def test_hybrid_matches_the_model(hybrid, rank, where, limit):
    col, records = hybrid
    search = Search(where=where, rank=rank, limit=limit, select=["#score", "kind"])
    got = col.search(search)
    want = reference.search(records, search.to_dict(), "l2", bm25=True)
    assert_matches({name: got[name][0] for name in want}, want)


def test_text_query_is_embedded_with_the_sparse_function(hybrid):
    col, _ = hybrid
    by_text = col.search(Search().rank(Knn(query="dogs chase", key="sparse_embedding", limit=5)).select("#score"))
    by_vector = col.search(Search().rank(Knn(query=_sparse("dogs chase"), key="sparse_embedding", limit=5))
                           .select("#score"))
    assert by_text == by_vector and by_text["ids"][0]
    assert all("dogs" in d or "chase" in d for d in col.get(ids=by_text["ids"][0])["documents"])


def test_hybrid_over_http_with_chromas_client(tmp_path_factory):
    import chromadb.execution.expression as theirs
    from chromadb import Schema, SparseVectorIndexConfig
    from chromadb.utils.embedding_functions import ChromaBm25EmbeddingFunction as TheirBm25

    server = Server(tmp_path_factory.mktemp("hybrid-srv") / "data").start()
    try:
        client = chroma_client(server)
        schema = Schema().create_index(SparseVectorIndexConfig(source_key=theirs.K.DOCUMENT,
                                                               embedding_function=TheirBm25(), bm25=True),
                                       key="sparse_embedding")
        col = client.create_collection("hybrid", schema=schema, embedding_function=None)
        _fill(col)

        def searches(e):
            return [e.Search().rank(e.Rrf([e.Knn(query=[0.5] * DIM, return_rank=True, limit=8, default=20),
                                           e.Knn(query="cats markets", key="sparse_embedding", return_rank=True,
                                                 limit=8, default=20)])).limit(6).select("#score", "#metadata")]

        remote = col.search(searches(theirs))
        local = chroma_frame.PersistentClient(path=str(server.path)).get_collection("hybrid", embedding_function=None)
        embedded = local.search(searches(chroma_frame.execution.expression))
        assert remote["ids"] == embedded["ids"] and remote["scores"] == embedded["scores"]
        assert len(remote["ids"][0]) == 6
        theirs_sparse = remote["metadatas"][0][0]["sparse_embedding"]  # chromadb's SparseVector, from the wire
        ours_sparse = embedded["metadatas"][0][0]["sparse_embedding"]
        assert type(theirs_sparse).__name__ == "SparseVector" and theirs_sparse.indices == ours_sparse.indices
        # chroma-frame's own HttpClient embeds the text query with the schema's sparse function, as chromadb's does
        ours_remote = chroma_frame.HttpClient(host="127.0.0.1", port=server.port).get_collection(
            "hybrid", embedding_function=None)
        assert dict(ours_remote.search(searches(chroma_frame.execution.expression))) == dict(embedded)
    finally:
        server.stop()
