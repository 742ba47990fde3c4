"""What ``Collection.search`` accepts: one ``Search`` or a list, a read level, and text queries
to embed (as chromadb's client does before sending)."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable

from chroma_frame.execution.expression.plan import Search
from chroma_frame.execution.expression.rank import Knn, Rank, Rrf

if TYPE_CHECKING:
    from chroma_frame.embedder import Embedder


class ReadLevel(str, Enum):
    """Chroma's read levels. chroma-frame always reads the blockfiles and the whole log."""

    INDEX_AND_WAL = "index_and_wal"
    INDEX_ONLY = "index_only"
    INDEX_AND_BOUNDED_WAL = "index_and_bounded_wal"


def check_read_level(read_level: Any) -> ReadLevel:
    try:
        return ReadLevel(read_level)
    except ValueError:
        levels = ", ".join(level.value for level in ReadLevel)
        raise ValueError(f"Expected read_level to be one of {levels}, got {read_level!r}") from None


def as_searches(searches: Any) -> list[Search]:
    """``searches`` as a list (one ``Search`` is a list of one); dicts are read as payloads."""
    if searches is None:
        return []
    items = searches if isinstance(searches, list) else [searches]
    out = []
    for item in items:
        if isinstance(item, dict):
            item = Search.from_dict(item)
        if not isinstance(item, Search):
            raise TypeError(f"Expected a Search, got {type(item).__name__}")
        out.append(item)
    return out


TextEmbedder = Callable[[str, str], Any]  # (key, text) -> dense vector or sparse vector


def embed_text_queries(search: Search, embed: TextEmbedder) -> Search:
    """``search`` with every text ``Knn`` query replaced by its embedding."""
    if search._rank is None:
        return search
    return Search(where=search._where, rank=_embed_rank(search._rank, embed), group_by=search._group_by,
                  limit=search._limit, select=search._select)


def _embed_rank(rank: Any, embed: TextEmbedder) -> Any:
    if isinstance(rank, Knn):
        if not isinstance(rank.query, str):
            return rank
        key = rank.key if isinstance(rank.key, str) else rank.key.name
        return dataclasses.replace(rank, query=embed(key, rank.query))
    if isinstance(rank, Rrf):
        return dataclasses.replace(rank, ranks=[_embed_rank(r, embed) for r in rank.ranks])
    if not isinstance(rank, Rank) or not dataclasses.is_dataclass(rank):
        return rank
    changes = {}
    for field in dataclasses.fields(rank):
        value = getattr(rank, field.name)
        if isinstance(value, Rank):
            changes[field.name] = _embed_rank(value, embed)
        elif isinstance(value, list):
            changes[field.name] = [_embed_rank(r, embed) for r in value]
    return dataclasses.replace(rank, **changes) if changes else rank


def text_embedder(embedder: "Embedder") -> TextEmbedder:
    """chromadb's rule: ``#embedding`` uses the collection's embedding function (as a query);
    another key needs a sparse index with an embedding function in the schema."""

    def embed(key: str, text: str) -> Any:
        if key == "#embedding":
            rows = embedder.dense([text], is_query=True)
            if rows is None or len(rows) != 1:
                raise ValueError("Embedding function returned unexpected number of embeddings")
            return rows[0]
        config = embedder.sparse_config(key)
        if config is None:
            raise ValueError(
                f"Cannot embed string query for key '{key}': key not found in schema. Please provide an "
                "embedded vector or configure an embedding function for this key in the schema."
            )
        if config.get("embedding_function") is None:
            raise ValueError(
                f"Cannot embed string query for key '{key}': no embedding function configured for this key in "
                "the schema. Please provide an embedded vector or configure an embedding function."
            )
        vectors = embedder.sparse(key, [text], is_query=True)
        if not vectors or len(vectors) != 1:
            raise ValueError("Sparse embedding function returned unexpected number of embeddings")
        return vectors[0]

    return embed
