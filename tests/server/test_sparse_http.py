"""Sparse vectors and schemas through a real server, driven by chromadb's own HttpClient."""

from __future__ import annotations

import numpy as np
import pytest

chromadb = pytest.importorskip("chromadb")
from chromadb import Schema, SparseVectorIndexConfig  # noqa: E402
from chromadb.base_types import SparseVector  # noqa: E402
from chromadb.utils.embedding_functions import ChromaBm25EmbeddingFunction  # noqa: E402

from tests.server.conftest import Server, chroma_client  # noqa: E402


def _f32(vector):
    """What a server storing float32 values answers (the shortest decimal of each value)."""
    values = np.asarray(vector.values, np.float32).astype(str).astype(float).tolist()
    return type(vector)(vector.indices, values, vector.labels)


def _schema() -> Schema:
    config = SparseVectorIndexConfig(source_key="#document", embedding_function=ChromaBm25EmbeddingFunction(), bm25=True)
    return Schema().create_index(config, key="sparse")


EXPECTED: dict = {}  # what the round trip left, checked again after the restart (the module's last test)


def test_round_trip_with_chromadbs_client(server):
    client = chroma_client(server)
    col = client.create_collection("hybrid", schema=_schema(), embedding_function=None)
    bm25 = ChromaBm25EmbeddingFunction()
    docs = ["The quick brown fox", "jumps over the lazy dog", "running dogs run"]
    col.add(ids=["a", "b", "c"], embeddings=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], documents=docs,
            metadatas=[{"k": 1}, None, {"sparse": SparseVector([5], [0.1], ["t"])}])
    expected = {"a": {"k": 1, "sparse": _f32(bm25([docs[0]])[0])}, "b": {"sparse": _f32(bm25([docs[1]])[0])},
                "c": {"sparse": SparseVector([5], [0.1], ["t"])}}
    got = col.get()
    assert dict(zip(got["ids"], got["metadatas"])) == expected
    assert all(isinstance(m["sparse"], SparseVector) for m in got["metadatas"])  # the dataclass, as from Chroma
    hits = col.query(query_embeddings=[[1.0, 0.0]], n_results=1, where={"k": 1})
    assert hits["ids"] == [["a"]] and hits["metadatas"] == [[expected["a"]]]

    col.update(ids=["a"], documents=["a new text"], embeddings=[[1.0, 0.0]])  # the client embeds it again
    col.upsert(ids=["d"], embeddings=[[2.0, 2.0]], metadatas=[{"sparse": {"#type": "sparse_vector", "indices": [1, 2],
                                                                           "values": [1, 2]}}])
    col.delete(ids=["b"])
    expected["a"] = {"k": 1, "sparse": _f32(bm25(["a new text"])[0])}
    expected["d"] = {"sparse": SparseVector([1, 2], [1.0, 2.0])}
    del expected["b"]
    got = col.get()
    assert dict(zip(got["ids"], got["metadatas"])) == expected

    again = client.get_collection("hybrid")
    index = again.schema.keys["sparse"].sparse_vector.sparse_vector_index
    assert index.enabled and index.config.bm25 and index.config.source_key == "#document"
    assert isinstance(index.config.embedding_function, ChromaBm25EmbeddingFunction)
    assert again._model.serialized_schema["keys"]["sparse"] == _schema().serialize_to_json()["keys"]["sparse"]
    EXPECTED.update(expected)


def test_schema_errors_over_http(server):
    client = chroma_client(server)
    from chromadb import VectorIndexConfig

    with pytest.raises(chromadb.errors.InvalidArgumentError,
                       match="Failed to reconcile schema: Cannot set both collection config and schema simultaneously"):
        client.create_collection("both", schema=Schema().create_index(VectorIndexConfig(space="cosine")),
                                 configuration={"hnsw": {"space": "ip"}})
    plain = client.create_collection("plain-schema")
    assert plain.schema.keys["#embedding"].float_list.vector_index.enabled
    assert plain._model.serialized_schema["defaults"]["sparse_vector"]["sparse_vector_index"]["enabled"] is False


def test_our_http_client_round_trip(server):
    import chroma_frame
    from chroma_frame import SparseVector as OurSparseVector
    from chroma_frame.utils.embedding_functions import ChromaBm25EmbeddingFunction as OurBm25

    client = chroma_frame.HttpClient(host="127.0.0.1", port=server.port)
    config = chroma_frame.SparseVectorIndexConfig(source_key="#document", embedding_function=OurBm25(), bm25=True)
    col = client.create_collection("ours", schema=chroma_frame.Schema().create_index(config, key="sp"),
                                   embedding_function=None)
    col.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["running dogs", None],
            metadatas=[None, {"sp": OurSparseVector([3], [0.5])}])  # the server embeds "a" from its document
    got = col.get()["metadatas"]
    assert got == [{"sp": _f32(OurBm25()(["running dogs"])[0])}, {"sp": OurSparseVector([3], [0.5])}]
    assert isinstance(got[0]["sp"], OurSparseVector)
    assert col.query(query_embeddings=[[0.0, 1.0]], n_results=1)["metadatas"] == [[got[1]]]
    assert client.get_collection("ours").schema.keys["sp"].sparse_vector.sparse_vector_index.config.bm25 is True


def test_restart_keeps_vectors_and_schema(server):
    assert EXPECTED, "runs after test_round_trip_with_chromadbs_client"
    server.stop()
    restarted = Server(server.path).start()
    try:
        col = chroma_client(restarted).get_collection("hybrid")
        got = col.get()
        assert dict(zip(got["ids"], got["metadatas"])) == EXPECTED
        assert col.schema.keys["sparse"].sparse_vector.sparse_vector_index.config.bm25 is True
    finally:
        restarted.stop()
