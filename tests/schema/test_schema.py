"""``Schema`` against chromadb's: same validation errors, same JSON, same stored schema."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chroma_frame
from chroma_frame.utils.embedding_functions import ChromaBm25EmbeddingFunction

chromadb = pytest.importorskip("chromadb")
from chromadb.utils.embedding_functions import ChromaBm25EmbeddingFunction as ChromaBm25  # noqa: E402


class Side:
    """One library's names, so that a case is written once for both."""

    def __init__(self, lib, bm25):
        self.lib, self.bm25 = lib, bm25

    def __getattr__(self, name):
        return getattr(self.lib, name)


OURS, THEIRS = Side(chroma_frame, ChromaBm25EmbeddingFunction), Side(chromadb, ChromaBm25)


def _sparse(m, **kw):
    return m.SparseVectorIndexConfig(embedding_function=m.bm25(), source_key="#document", **kw)


BAD = {
    "global all": lambda m: m.Schema().create_index(),
    "embedding key": lambda m: m.Schema().create_index(m.FtsIndexConfig(), key="#embedding"),
    "document non fts": lambda m: m.Schema().create_index(m.StringInvertedIndexConfig(), key="#document"),
    "reserved key": lambda m: m.Schema().create_index(m.StringInvertedIndexConfig(), key="#other"),
    "vector on key": lambda m: m.Schema().create_index(m.VectorIndexConfig(), key="emb"),
    "fts on key": lambda m: m.Schema().create_index(m.FtsIndexConfig(), key="text"),
    "fts globally": lambda m: m.Schema().create_index(m.FtsIndexConfig()),
    "sparse globally": lambda m: m.Schema().create_index(_sparse(m)),
    "all on key": lambda m: m.Schema().create_index(key="k"),
    "two sparse": lambda m: m.Schema().create_index(_sparse(m), key="a").create_index(_sparse(m), key="b"),
    "sparse source without ef": lambda m: m.Schema().create_index(m.SparseVectorIndexConfig(source_key="#document"), key="a"),
    "source key #": lambda m: m.SparseVectorIndexConfig(source_key="#embedding"),
    "source key type": lambda m: m.SparseVectorIndexConfig(source_key=3),
    "sparse ef not callable": lambda m: m.SparseVectorIndexConfig(embedding_function=3),
    "sparse extra field": lambda m: m.SparseVectorIndexConfig(foo=1),
    "sparse extra fields": lambda m: m.SparseVectorIndexConfig(foo=1, bar=2),
    "hnsw extra": lambda m: m.HnswIndexConfig(m=1),
    "vector extra": lambda m: m.VectorIndexConfig(nope=1),
    "vector space": lambda m: m.VectorIndexConfig(space="dot"),
    "vector ef": lambda m: m.VectorIndexConfig(embedding_function="x"),
    "fts extra": lambda m: m.FtsIndexConfig(x=1),
    "delete all": lambda m: m.Schema().delete_index(),
    "delete embedding": lambda m: m.Schema().delete_index(m.FtsIndexConfig(), key="#embedding"),
    "delete document other": lambda m: m.Schema().delete_index(m.IntInvertedIndexConfig(), key="#document"),
    "delete reserved": lambda m: m.Schema().delete_index(m.IntInvertedIndexConfig(), key="#x"),
    "delete vector": lambda m: m.Schema().delete_index(m.VectorIndexConfig()),
    "delete sparse": lambda m: m.Schema().delete_index(m.SparseVectorIndexConfig(), key="s"),
    "delete fts on key": lambda m: m.Schema().delete_index(m.FtsIndexConfig(), key="k"),
    "delete all on key": lambda m: m.Schema().delete_index(key="k"),
}


def _error(make, m):
    try:
        make(m)
    except Exception as e:  # noqa: BLE001
        text = str(e)
        if "errors.pydantic.dev" in text:  # the pydantic URL carries its version
            text = text.split("For further information")[0]
        return type(e).__name__, text.replace("chromadb.utils.embedding_functions.chroma_bm25_embedding_function.", "")
    return None


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_schemas_fail_like_chromadb(case):
    ours, theirs = _error(BAD[case], OURS), _error(BAD[case], THEIRS)
    assert theirs is not None
    if case == "sparse source without ef":  # the message prints the config, whose repr names the class
        assert ours[0] == theirs[0] and ours[1].split("Config:")[0] == theirs[1].split("Config:")[0]
    else:
        assert ours == theirs


GOOD = {
    "default": lambda m: m.Schema(),
    "sparse bm25": lambda m: m.Schema().create_index(_sparse(m, bm25=True), key="sparse"),
    "sparse from key": lambda m: m.Schema().create_index(
        m.SparseVectorIndexConfig(embedding_function=m.bm25(include_tokens=True), source_key="title"), key="sp"),
    "sparse no ef": lambda m: m.Schema().create_index(m.SparseVectorIndexConfig(), key="sp"),
    "cosine hnsw": lambda m: m.Schema().create_index(m.VectorIndexConfig(space="cosine", hnsw=m.HnswIndexConfig(ef_search=50))),
    "fts off": lambda m: m.Schema().delete_index(m.FtsIndexConfig(), key="#document"),
    "inverted off on key": lambda m: m.Schema().delete_index(m.StringInvertedIndexConfig(), key="title"),
    "inverted off globally": lambda m: m.Schema().delete_index(m.IntInvertedIndexConfig()),
    "no ef": lambda m: m.Schema().create_index(m.VectorIndexConfig(embedding_function=None, space="ip")),
    "spann": lambda m: m.Schema().create_index(m.VectorIndexConfig(space="cosine", spann=m.SpannIndexConfig(search_nprobe=4))),
    "cmek": lambda m: m.Schema().set_cmek(m.Cmek.gcp("projects/p/locations/l/keyRings/r/cryptoKeys/k")),
}


@pytest.mark.parametrize("case", sorted(GOOD))
def test_json_is_chromadbs_and_reads_back(case):
    ours, theirs = GOOD[case](OURS).serialize_to_json(), GOOD[case](THEIRS).serialize_to_json()
    assert json.dumps(ours) == json.dumps(theirs)  # same keys, same order
    again = chroma_frame.Schema.deserialize_from_json(theirs).serialize_to_json()
    assert again == theirs
    assert chromadb.Schema.deserialize_from_json(ours).serialize_to_json() == theirs


def _created(client, make, m, **kwargs):
    try:
        col = client.create_collection(f"s-{uuid.uuid4().hex[:8]}", schema=make(m) if make else None, **kwargs)
    except Exception as e:  # noqa: BLE001
        return type(e).__name__, str(e)
    model = col._model if m is OURS else {"serialized_schema": col._model.serialized_schema}
    return json.loads(json.dumps(col.get_model()["serialized_schema"] if m is OURS else model["serialized_schema"])), \
        col.configuration_json


STORED = [
    ("default", {}),
    ("cosine hnsw", {}),
    ("fts off", {}),
    ("inverted off on key", {}),
    ("inverted off globally", {}),
    ("no ef", {"embedding_function": None}),
    ("spann", {}),
    ("default", {"configuration": {"hnsw": {"space": "ip", "ef_search": 20}}}),
    ("default", {"embedding_function": None}),
    ("cosine hnsw", {"configuration": {"hnsw": {"space": "ip"}}}),
    ("inverted off on key", {"configuration": {"hnsw": {"ef_construction": 50}}}),
    ("default", {"metadata": {"hnsw:space": "cosine"}}),
    (None, {"configuration": {"hnsw": {"space": "cosine"}}}),
]


@pytest.mark.parametrize("case,kwargs", STORED, ids=[f"{c}-{i}" for i, (c, _) in enumerate(STORED)])
def test_stored_schema_and_configuration_match_chromadb(case, kwargs):
    theirs = _created(chromadb.EphemeralClient(), GOOD.get(case), THEIRS, **kwargs)
    ours = _created(chroma_frame.EphemeralClient(), GOOD.get(case), OURS, **kwargs)
    assert ours == theirs


def test_sparse_schema_persists_and_reopens(tmp_path):
    path = str(tmp_path / "db")
    schema = GOOD["sparse bm25"](OURS)
    col = chroma_frame.PersistentClient(path=path).create_collection("hybrid", schema=schema, embedding_function=None)
    stored = col.get_model()["serialized_schema"]
    assert stored["keys"]["sparse"] == schema.serialize_to_json()["keys"]["sparse"]
    chroma_frame.Client.clear_system_cache()
    client = chroma_frame.PersistentClient(path=path)
    again = client.get_collection("hybrid")
    assert again.get_model()["serialized_schema"] == stored
    index = again.schema.keys["sparse"].sparse_vector.sparse_vector_index
    assert index.enabled and index.config.bm25 and index.config.source_key == "#document"
    assert isinstance(index.config.embedding_function, ChromaBm25EmbeddingFunction)
    assert again._sparse_config("sparse")["bm25"] is True and again._sparse_config("other") is None
    # get_or_create with another schema returns the existing collection, as in Chroma
    same = client.get_or_create_collection("hybrid", schema=chroma_frame.Schema())
    assert same.id == again.id and same.get_model()["serialized_schema"] == stored
    # modify keeps the schema in step with the configuration
    again.modify(configuration={"hnsw": {"ef_search": 33}})
    reread = client.get_collection("hybrid").get_model()["serialized_schema"]
    assert reread["keys"]["#embedding"]["float_list"]["vector_index"]["config"]["hnsw"]["ef_search"] == 33
    assert reread["keys"]["sparse"] == stored["keys"]["sparse"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 200) | st.sampled_from(["l2", "cosine", "known", "default", "#document"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from([
        "defaults", "keys", "string", "float_list", "sparse_vector", "int", "vector_index", "sparse_vector_index",
        "fts_index", "config", "enabled", "hnsw", "spann", "#embedding", "sp", "embedding_function", "type", "name",
        "space", "source_key", "bm25", "ef_search", "other"]), inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["defaults", "keys", "cmek"]), _json, max_size=3))
def test_any_schema_json_is_stored_or_refused_cleanly(schema):
    """Whatever JSON a client sends as ``schema``, the engine stores it or raises InvalidArgumentError."""
    from chroma_frame.errors import InvalidArgumentError
    from chroma_frame.schema.reconcile import reconcile
    from chroma_frame.schema.sparse_write import sparse_target

    config = {"hnsw": {"space": "l2"}, "spann": None, "embedding_function": {"type": "known", "name": "default",
                                                                             "config": {}}}
    try:
        stored, _ = reconcile(schema, config)
    except InvalidArgumentError:
        return
    json.dumps(stored)
    sparse_target(stored)
