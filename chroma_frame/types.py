"""Chroma's ``chromadb.types``: the collection model (``Collection``, loaded with pydantic on first
use) and ``IndexingStatus``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class IndexingStatus:
    """``Collection.get_indexing_status()``. Counts stored rows, one per logged record operation
    (add, update, delete) until compaction folds superseded ones away; a row is unindexed while its
    blockfile waits for a graph build (it is searched exactly meanwhile)."""

    num_indexed_ops: int
    num_unindexed_ops: int
    total_ops: int
    op_indexing_progress: float


def __getattr__(name: str) -> Any:
    if name in ("Collection", "CollectionModel"):
        from chroma_frame.collection_model import CollectionModel

        return CollectionModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Collection", "CollectionModel", "IndexingStatus"]  # noqa: F822 - Collection is loaded on first use
