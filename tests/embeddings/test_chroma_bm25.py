"""``ChromaBm25EmbeddingFunction`` gives exactly chromadb's sparse vectors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chroma_frame.utils.embedding_functions import ChromaBm25EmbeddingFunction, sparse_known_embedding_functions

chroma_ef = pytest.importorskip("chromadb.utils.embedding_functions")

_words = st.sampled_from(["running", "runs", "ran", "the", "The", "dog's", "dogs", "café", "naïve", "x" * 45,
                          "ÉCOLE", "don't", "généralement", "İstanbul", "42", "under_score", "a-b", "emoji🙂"])
_texts = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(_words, st.text(alphabet=st.characters(codec="utf-8"), max_size=12)), max_size=25)
    .map(" ".join),
)
_configs = st.fixed_dictionaries({}, optional={
    "k": st.floats(0.1, 3.0), "b": st.floats(0.0, 1.0), "avg_doc_length": st.floats(1.0, 500.0),
    "token_max_length": st.integers(1, 50), "include_tokens": st.booleans(),
    "stopwords": st.lists(st.sampled_from(["dog", "run", "the", "café"]), max_size=3),
})


def _same(ours, theirs) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert (a.indices, a.values, a.labels) == (b.indices, b.values, b.labels)


@settings(max_examples=150, deadline=None)
@given(st.lists(_texts, min_size=1, max_size=4), _configs)
def test_identical_to_chromadb(texts, config):
    ours = ChromaBm25EmbeddingFunction(**config)
    theirs = chroma_ef.ChromaBm25EmbeddingFunction(**config)
    _same(ours(texts), theirs(texts))
    _same(ours.embed_query(texts), theirs.embed_query(texts))
    assert ours.get_config() == theirs.get_config()


def test_config_round_trip_and_registry():
    ef = ChromaBm25EmbeddingFunction(k=1.1, stopwords=["a"], include_tokens=True)
    assert ef.name() == "chroma_bm25" and sparse_known_embedding_functions["chroma_bm25"] is ChromaBm25EmbeddingFunction
    rebuilt = ChromaBm25EmbeddingFunction.build_from_config(ef.get_config())
    assert rebuilt.get_config() == ef.get_config()
    ChromaBm25EmbeddingFunction.validate_config(ef.get_config())
    with pytest.raises(ValueError, match="Additional properties"):
        ChromaBm25EmbeddingFunction.validate_config({"nope": 1})
    with pytest.raises(ValueError, match="Expected sparse vectors to be a non-empty list"):
        ef([])  # chromadb's wrapper refuses an empty result too
    with pytest.raises(ValueError, match="Expected sparse vectors to be a non-empty list"):
        chroma_ef.ChromaBm25EmbeddingFunction()([])
