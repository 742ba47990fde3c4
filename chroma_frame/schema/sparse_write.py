"""Sparse auto-embedding on write: a schema's sparse index with a ``source_key`` and an embedding
function fills ``metadata[key]`` from the document or from another metadata key.

Chroma's Python client does this in ``CollectionCommon._apply_sparse_embeddings_to_metadatas``;
the rules are the same: a record whose metadata already has the key keeps it, the source must be a
string (no document -> nothing), metadata becomes ``{}`` -> ``None`` when nothing was added.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Optional

from chroma_frame.embeddings.sparse import validate_sparse_embedding_function
from chroma_frame.schema.keys import DOCUMENT_KEY
from chroma_frame.schema.reconcile import sparse_index


@dataclass(frozen=True)
class SparseTarget:
    """The enabled sparse index of a collection."""

    key: str
    source_key: Optional[str]
    bm25: bool
    embedding_function: Any  # a SparseEmbeddingFunction, or None when there is none (or it cannot be built)


def sparse_target(schema: dict) -> Optional[SparseTarget]:
    """The schema's sparse index with its embedding function built (None: no sparse index)."""
    found = sparse_index(schema)
    if found is None:
        return None
    key, config = found
    return SparseTarget(key, config.get("source_key"), bool(config.get("bm25")), build_sparse_ef(config))


def build_sparse_ef(config: dict) -> Any:
    """The sparse function of an index config JSON, or None (with Chroma's warning if unbuildable)."""
    ef_config = config.get("embedding_function") or {}
    if ef_config.get("type") != "known":
        return None
    from chroma_frame.embeddings.registry import sparse_known_embedding_functions

    try:
        return sparse_known_embedding_functions[ef_config["name"]].build_from_config(ef_config.get("config") or {})
    except Exception as e:
        warnings.warn(
            f"Could not reconstruct sparse embedding function {ef_config.get('name', 'unknown')}: {e}. "
            "Setting to None.",
            UserWarning,
            stacklevel=3,
        )
        return None


def embed_sparse(ef: Any, texts: list[str], is_query: bool = False) -> list[dict]:
    """Sparse vectors of ``texts`` as wire dicts (``embed_query`` for queries)."""
    validate_sparse_embedding_function(ef)
    vectors = ef.embed_query(input=texts) if is_query else ef(input=texts)
    if len(vectors) != len(texts):
        raise ValueError("Sparse embedding function returned unexpected number of embeddings.")
    return [vector.to_dict() for vector in vectors]


def apply_sparse_embeddings(target: Optional[SparseTarget], metadatas: Optional[list],
                            documents: Optional[list]) -> Optional[list]:
    """``metadatas`` with ``metadata[target.key]`` computed where Chroma's client computes it."""
    if target is None or target.source_key is None or target.embedding_function is None:
        return metadatas
    if metadatas is None:
        if documents is None:
            return None
        metadatas = [{} for _ in documents]
    updated = [dict(m) if m is not None else {} for m in metadatas]
    positions, inputs = [], []
    for i, metadata in enumerate(updated):
        if target.key in metadata:
            continue
        if target.source_key == DOCUMENT_KEY:
            source = documents[i] if documents is not None and i < len(documents) else None
        else:
            source = metadata.get(target.source_key)
        if isinstance(source, str):
            positions.append(i)
            inputs.append(source)
    if inputs:
        for i, vector in zip(positions, embed_sparse(target.embedding_function, inputs)):
            updated[i][target.key] = vector
    return [m if m else None for m in updated]


__all__ = ["SparseTarget", "apply_sparse_embeddings", "build_sparse_ef", "embed_sparse", "sparse_target"]
