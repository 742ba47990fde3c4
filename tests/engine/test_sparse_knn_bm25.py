"""BM25 scoring end to end: Chroma's BM25 embedding function + ``sparse_knn(bm25=True)`` equals the
pure-Python reference on 3,000 real PyPI summaries (tests/fixtures/pypi_summaries_3k.json), with
part of the corpus compacted, part in the log, deletes and updates; and Chroma's own IDF numbers.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from tests.engine.sparse_reference import bm25, tf_weight
from tests.engine.sparse_support import engine_top_k, wire

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "pypi_summaries_3k.json")
KEY = "bm25"


def _bm25_function():
    try:  # the project's own, once it exists; chromadb's is the specification
        from chroma_frame.utils.embedding_functions import ChromaBm25EmbeddingFunction
    except ImportError:
        from chromadb.utils.embedding_functions import ChromaBm25EmbeddingFunction
    return ChromaBm25EmbeddingFunction()


def _tokens(text: str) -> list[int]:
    """The tokens Chroma's BM25 function hashes (stopwords out, Snowball-stemmed), as their hashes."""
    from chromadb.utils.embedding_functions.schemas.bm25_tokenizer import (
        DEFAULT_CHROMA_BM25_STOPWORDS,
        Bm25Tokenizer,
        Murmur3AbsHasher,
        get_english_stemmer,
    )

    tokenizer = Bm25Tokenizer(get_english_stemmer(), DEFAULT_CHROMA_BM25_STOPWORDS, 40)
    hasher = Murmur3AbsHasher()
    return [hasher.hash(token) for token in tokenizer.tokenize(text)]


def _as_dict(vector) -> dict[int, float]:
    return dict(zip((int(i) for i in vector.indices), (float(v) for v in vector.values)))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A collection built like a user would, and the live documents' token lists (the model)."""
    import chroma_frame

    with open(FIXTURE) as f:
        data = json.load(f)
    ids, docs = data["ids"], data["documents"]
    ef = _bm25_function()
    vectors = [_as_dict(v) for v in ef(docs)]
    client = chroma_frame.PersistentClient(path=str(tmp_path_factory.mktemp("bm25")))
    collection = client.create_collection("bm25-reference")

    def add(lo: int, hi: int) -> None:
        collection.add(ids=ids[lo:hi], embeddings=[[float(i % 7), 1.0] for i in range(lo, hi)],
                       metadatas=[{KEY: wire(v)} for v in vectors[lo:hi]])

    add(0, 2000)
    collection.compact()  # the first 2,000 are scored through postings, the rest from the log
    add(2000, 3000)
    collection.add(ids=[f"plain{i}" for i in range(20)], embeddings=[[0.0, 1.0]] * 20,
                   metadatas=[{"x": i} for i in range(20)])  # no vector: they still count in N
    model = {id_: _tokens(doc) for id_, doc in zip(ids, docs)}
    model.update({f"plain{i}": [] for i in range(20)})
    rng = np.random.default_rng(7)
    deleted = [ids[i] for i in rng.choice(3000, 150, replace=False)]
    collection.delete(ids=deleted)
    for id_ in deleted:
        del model[id_]
    survivors = [id_ for id_ in ids if id_ in model]
    updated = list(rng.choice(survivors, 100, replace=False))
    sources = rng.choice(3000, 100, replace=False)
    collection.update(ids=updated, metadatas=[{KEY: wire(vectors[s])} for s in sources])
    for id_, s in zip(updated, sources):
        model[id_] = _tokens(docs[s])
    return collection, model, data["queries"], ef


def test_scores_equal_reference(corpus):
    collection, model, queries, ef = corpus
    assert len(collection._store.snapshot().base) == 1 and collection._store.snapshot().tail is not None
    compared = 0
    for text, vector in zip(queries, ef.embed_query(queries)):
        expected = bm25(model, _tokens(text), query_weights=True)
        got = dict(engine_top_k(collection, KEY, _as_dict(vector), 10_000, bm25=True))
        assert set(got) == set(expected), text
        for id_, score in expected.items():
            assert math.isclose(1.0 - got[id_], score, rel_tol=1e-5, abs_tol=1e-5), (text, id_)
        compared += len(expected)
    assert compared > 1000  # the queries really match documents


def test_top_k_order(corpus):
    collection, model, queries, ef = corpus
    for text, vector in zip(queries[:10], ef.embed_query(queries[:10])):
        expected = sorted(bm25(model, _tokens(text), query_weights=True).items(), key=lambda p: -p[1])
        got = engine_top_k(collection, KEY, _as_dict(vector), 10, bm25=True)
        assert len(got) == min(10, len(expected))
        for (_, score), (_, ref) in zip(got, expected):
            assert math.isclose(1.0 - score, ref, rel_tol=1e-5, abs_tol=1e-5)
        assert all(a[1] <= b[1] for a, b in zip(got, got[1:]))


def test_textbook_bm25_up_to_the_query_factor(corpus):
    """Distinct query tokens: Chroma's score is w(1, |q|) times textbook BM25 (avgdl = 256)."""
    collection, model, queries, ef = corpus
    checked = 0
    for text, vector in zip(queries, ef.embed_query(queries)):
        tokens = _tokens(text)
        if len(set(tokens)) != len(tokens) or not tokens:
            continue
        factor = tf_weight(1, len(tokens))
        textbook = bm25(model, tokens)
        got = dict(engine_top_k(collection, KEY, _as_dict(vector), 10_000, bm25=True))
        for id_, score in textbook.items():
            assert math.isclose(1.0 - got[id_], factor * score, rel_tol=1e-5, abs_tol=1e-5)
        checked += 1
    assert checked >= 20


# Chroma's unit test of its IDF operator (rust/worker/src/execution/operators/idf.rs), in numbers.
CHROMA_IDF_DOCS = {
    1: {0: 2.0, 1: 1.5, 2: 3.0}, 2: {0: 2.0, 1: 1.5}, 3: {0: 2.0, 1: 1.5}, 4: {0: 2.0}, 5: {0: 2.0},
    6: {3: 1.0}, 7: {3: 1.0}, 8: {3: 1.0}, 9: {3: 1.0, 4: 0.5}, 10: {3: 1.0, 4: 0.5},
}


@pytest.mark.parametrize("deleted, expected_idf", [
    ((), {0: 0.693, 1: 1.146, 2: 1.992, 3: 0.693, 4: 1.482}),  # test_idf_basic_scaling
    ((1, 4), {0: 0.944, 1: 1.281, 2: 2.890}),  # test_idf_with_deletions
])
def test_chroma_idf_numbers(client, deleted, expected_idf):
    collection = client.create_collection("chroma-idf")
    collection.add(ids=[str(i) for i in CHROMA_IDF_DOCS], embeddings=[[1.0, 0.0]] * 10,
                   metadatas=[{KEY: wire(v)} for v in CHROMA_IDF_DOCS.values()])
    collection.compact()
    if deleted:
        collection.delete(ids=[str(i) for i in deleted])
    for dim, idf in expected_idf.items():
        got = engine_top_k(collection, KEY, {dim: 1.0}, 10, bm25=True)
        for id_, score in got:  # score = 1 - idf * value
            value = CHROMA_IDF_DOCS[int(id_)][dim]
            assert abs((1.0 - score) / value - idf) < 0.01, (dim, id_, score)
        live_with_dim = [i for i, v in CHROMA_IDF_DOCS.items() if dim in v and i not in deleted]
        assert sorted(int(i) for i, _ in got) == sorted(live_with_dim)
