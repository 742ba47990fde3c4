"""``ingest`` fills the schema's sparse index the way ``add`` does (Chroma's client rule)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import chroma_frame
from chroma_frame import K, Knn, Search, SparseVector
from chroma_frame.utils.embedding_functions import ChromaBm25EmbeddingFunction

DOCS = ["cats chase mice", "dogs bark", None, "the cat naps", "stock markets", "cat food"]
METAS = [{"k": 1, "t": "cat videos"}, None, {"k": 3, "t": "cats"}, {"sp": SparseVector(indices=[1], values=[1.0])},
         {"k": 5, "t": "x"}, {"u": ["a", "b"]}]


@pytest.mark.parametrize("source_key", [K.DOCUMENT, "t"])
def test_ingest_fills_sparse_vectors_like_add(tmp_path, source_key):
    config = chroma_frame.SparseVectorIndexConfig(source_key=source_key, embedding_function=ChromaBm25EmbeddingFunction(),
                                                  bm25=True)
    schema = chroma_frame.Schema().create_index(config, key="sp")
    client = chroma_frame.PersistentClient(path=str(tmp_path))
    added = client.create_collection("added", schema=schema, embedding_function=None)
    ingested = client.create_collection("ingested", schema=schema, embedding_function=None)
    ids = [f"r{i}" for i in range(len(DOCS))]
    added.add(ids=ids, embeddings=np.eye(len(DOCS), 3, dtype=np.float32).tolist(), documents=DOCS, metadatas=METAS)

    table = added.to_arrow(include=["documents", "metadatas", "embeddings"])
    provided = pc.equal(table.column("id"), "r3")  # keeps its own vector; the others are computed by ingest
    sp = table.column("sp").combine_chunks()
    table = table.set_column(table.schema.get_field_index("sp"), "sp", pc.if_else(provided, sp, pa.nulls(len(sp), sp.type)))
    summary = ingested.ingest(table)

    assert summary.rows_written == len(DOCS)
    want = added.get(include=["metadatas", "documents"])
    got = ingested.get(include=["metadatas", "documents"])
    assert got == want
    assert got["metadatas"][3]["sp"] == SparseVector(indices=[1], values=[1.0])
    hits = ingested.search(Search().rank(Knn(query="cat", key="sp", limit=10)))["ids"][0]
    assert hits == added.search(Search().rank(Knn(query="cat", key="sp", limit=10)))["ids"][0] and hits
