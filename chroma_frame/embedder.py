"""``Embedder``: the dense and sparse embedding functions of one collection, for every surface.

``Collection`` (writes and ``query_texts``), ingest, the Search API's text queries and
``HttpClient`` embed through it: dense texts with the collection's embedding function, and the
metadata key of the schema's sparse index with that index's function.
"""

from __future__ import annotations

from typing import Any, Optional

from chroma_frame.embeddings.embed import embed
from chroma_frame.embeddings.protocol import NO_EMBEDDING_FUNCTION
from chroma_frame.schema.sparse_write import SparseTarget, embed_sparse, sparse_target

_UNSET = object()


class Embedder:
    """``embedding_function`` (dense) and the sparse index of ``schema`` (a serialized schema,
    or None: no sparse index). ``batched=False`` calls the function once on all inputs
    (chromadb's HTTP client does) instead of in batches with a progress bar."""

    __slots__ = ("embedding_function", "schema", "batched", "_target")

    def __init__(self, embedding_function: Any, schema: Optional[dict], *, batched: bool = True) -> None:
        self.embedding_function = embedding_function
        self.schema = schema
        self.batched = batched
        self._target: Any = _UNSET

    def dense(self, texts: list, is_query: bool = False) -> list:
        """Embeddings of ``texts`` (``embed_query`` for queries when the function has one)."""
        ef = self.embedding_function
        if ef is None:
            raise ValueError(NO_EMBEDDING_FUNCTION)
        if self.batched:
            return embed(ef, texts, is_query=is_query)
        if is_query and hasattr(ef, "embed_query"):
            return ef.embed_query(input=texts)
        return ef(input=texts)

    @property
    def sparse_target(self) -> Optional[SparseTarget]:
        """The schema's sparse index with its function (built once), or None."""
        if self._target is _UNSET:
            self._target = None if not self.schema else sparse_target(self.schema)
        return self._target

    def sparse_config(self, key: str) -> Optional[dict[str, Any]]:
        """``{"bm25", "source_key", "embedding_function"}`` of the sparse index on ``key``, else None."""
        target = self.sparse_target
        if target is None or target.key != key:
            return None
        return {"bm25": target.bm25, "source_key": target.source_key, "embedding_function": target.embedding_function}

    def sparse(self, key: str, texts: list[str], is_query: bool = False) -> list[dict]:
        """Sparse vectors (wire dicts) of ``texts`` with the function of the sparse index on ``key``."""
        config = self.sparse_config(key)
        if config is None:
            raise ValueError(
                f"Cannot embed string query for key '{key}': key not found in schema. Please provide an embedded "
                "vector or configure an embedding function for this key in the schema."
            )
        if config["embedding_function"] is None:
            raise ValueError(
                f"Cannot embed string query for key '{key}': the sparse index on it has no embedding function.")
        return embed_sparse(config["embedding_function"], texts, is_query=is_query)
