"""Chroma's ``chromadb.utils.batch_utils``: split records into batches a client accepts."""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

Batch = Tuple[list, Optional[Any], Optional[list], Optional[list]]


def create_batches(api: Any, ids: list, embeddings: Optional[Any] = None, metadatas: Optional[list] = None,
                   documents: Optional[list] = None) -> List[Batch]:
    """``(ids, embeddings, metadatas, documents)`` tuples of at most ``api.get_max_batch_size()``
    records each, as Chroma's function makes them (one tuple when everything fits)."""
    size = api.get_max_batch_size()
    if len(ids) <= size:
        return [(ids, embeddings, metadatas, documents)]
    return [(ids[i:i + size], embeddings[i:i + size] if embeddings is not None else None,
             metadatas[i:i + size] if metadatas else None, documents[i:i + size] if documents else None)
            for i in range(0, len(ids), size)]


__all__ = ["create_batches"]
