"""Sparse auto-embedding on write: chromadb's client rules, and the collection write path."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chroma_frame
from chroma_frame import SparseVector
from chroma_frame.schema.sparse_write import apply_sparse_embeddings, sparse_target
from chroma_frame.storage.records import f32_floats
from chroma_frame.utils.embedding_functions import ChromaBm25EmbeddingFunction

chromadb = pytest.importorskip("chromadb")
from chromadb.api.models.Collection import Collection as ChromaCollection  # noqa: E402
from chromadb.api.types import normalize_metadatas  # noqa: E402
from chromadb.types import Collection as ChromaModel  # noqa: E402


def _schema(source_key: str):
    config = chroma_frame.SparseVectorIndexConfig(source_key=source_key, embedding_function=ChromaBm25EmbeddingFunction(),
                                                  bm25=True)
    return chroma_frame.Schema().create_index(config, key="sp")


def _chroma_apply(schema_json: dict, metadatas, documents):
    model = ChromaModel(id=uuid.uuid4(), name="x", configuration_json={}, serialized_schema=schema_json, metadata=None,
                        dimension=None, tenant="t", database="d")
    collection = ChromaCollection(client=None, model=model, embedding_function=None)  # type: ignore[arg-type]
    return collection._apply_sparse_embeddings_to_metadatas(normalize_metadatas(metadatas), documents)


def _plain(metadatas):
    """Both sides as plain dicts (sparse vectors as wire dicts) for comparison."""
    if metadatas is None:
        return None
    return [None if m is None else {k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in m.items()}
            for m in metadatas]


_text = st.sampled_from(["", "the running dogs", "Hello, world!", "a the of", "café naïve", "runs ran run"])
_meta = st.one_of(st.none(), st.fixed_dictionaries({}, optional={
    "title": st.one_of(_text, st.integers(0, 3)),
    "sp": st.just({"#type": "sparse_vector", "indices": [1], "values": [2.0]}),
    "n": st.integers(0, 3),
}).filter(bool))


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(["#document", "title"]), st.integers(1, 4).flatmap(lambda n: st.tuples(
    st.one_of(st.none(), st.lists(_meta, min_size=n, max_size=n)),
    st.one_of(st.none(), st.lists(st.one_of(st.none(), _text), min_size=n, max_size=n)),
)))
def test_rules_match_chromadbs_client(source_key, case):
    metadatas, documents = case
    schema_json = _schema(source_key).serialize_to_json()
    expected = _chroma_apply(schema_json, metadatas, documents)
    got = apply_sparse_embeddings(sparse_target(schema_json), metadatas, documents)
    assert _plain(got) == _plain(expected)


def _stored(text: str) -> SparseVector:
    vector = ChromaBm25EmbeddingFunction()([text])[0]
    return SparseVector(vector.indices, f32_floats(vector.values))


def test_add_upsert_update_fill_the_sparse_key(client):
    col = client.create_collection("auto", schema=_schema("#document"), embedding_function=None)
    col.add(ids=["a", "b", "c"], embeddings=[[1, 0], [0, 1], [1, 1]], documents=["the running dogs", "cats", ""],
            metadatas=[None, {"sp": {"#type": "sparse_vector", "indices": [9], "values": [1.0]}}, {"n": 1}])
    got = dict(zip(*(col.get()[k] for k in ("ids", "metadatas"))))
    assert got == {"a": {"sp": _stored("the running dogs")}, "b": {"sp": SparseVector([9], [1.0])},
                   "c": {"n": 1, "sp": SparseVector([], [])}}
    col.update(ids=["b"], documents=["new words here"], embeddings=[[0, 1]])  # no metadata: computed
    col.update(ids=["c"], metadatas=[{"n": 2}])  # no document: the stored vector stays
    col.upsert(ids=["a", "d"], embeddings=[[1, 0], [2, 2]], documents=["other text", "fresh"])
    got = dict(zip(*(col.get()[k] for k in ("ids", "metadatas"))))
    assert got == {"a": {"sp": _stored("other text")}, "b": {"sp": _stored("new words here")},
                   "c": {"n": 2, "sp": SparseVector([], [])}, "d": {"sp": _stored("fresh")}}
    col.add(ids=["e"], embeddings=[[3, 3]])  # nothing to embed from
    assert col.get(ids=["e"])["metadatas"] == [None]
    assert col._embed_sparse("sp", ["running"], is_query=True) == [ChromaBm25EmbeddingFunction()(["running"])[0].to_dict()]
    with pytest.raises(ValueError, match="key not found in schema"):
        col._embed_sparse("nope", ["x"])


def test_source_key_from_metadata_and_no_schema(client):
    col = client.create_collection("title", schema=_schema("title"), embedding_function=None)
    col.add(ids=["a", "b"], embeddings=[[1, 0], [0, 1]], metadatas=[{"title": "Big dogs"}, {"title": 3}])
    assert col.get()["metadatas"] == [{"title": "Big dogs", "sp": _stored("Big dogs")}, {"title": 3}]
    plain = client.create_collection("plain", embedding_function=None)
    plain.add(ids=["a"], embeddings=[[1, 0]], documents=["Big dogs"])
    assert plain.get()["metadatas"] == [None] and plain._sparse_config("sp") is None
