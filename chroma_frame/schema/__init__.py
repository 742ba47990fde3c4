"""Chroma's collection ``Schema`` and its index configurations (``chromadb.api.types`` names).

:mod:`.model` and :mod:`.configs` are the user-facing classes (pydantic: imported on first use,
so that ``import chroma_frame`` stays fast); :mod:`.reconcile` is what the engine stores (the
schema merged with defaults, kept in step with the configuration); :mod:`.sparse_write` fills
sparse vectors on write.
"""

from __future__ import annotations

from typing import Any

from chroma_frame.schema.keys import DOCUMENT_KEY, EMBEDDING_KEY  # noqa: F401  (re-exported)

_CONFIG_NAMES = {
    "BoolInvertedIndexConfig", "Cmek", "CmekProvider", "FloatInvertedIndexConfig", "FtsIndexConfig",
    "HnswIndexConfig", "IndexConfig", "IntInvertedIndexConfig", "SpannIndexConfig", "SparseVectorIndexConfig",
    "StringInvertedIndexConfig", "VectorIndexConfig",
}
_MODEL_NAMES = {
    "BOOL_INVERTED_INDEX_NAME", "BOOL_VALUE_NAME", "FLOAT_INVERTED_INDEX_NAME", "FLOAT_LIST_VALUE_NAME",
    "FLOAT_VALUE_NAME", "FTS_INDEX_NAME", "HNSW_INDEX_NAME", "INT_INVERTED_INDEX_NAME", "INT_VALUE_NAME",
    "SPANN_INDEX_NAME", "SPARSE_VECTOR_INDEX_NAME", "SPARSE_VECTOR_VALUE_NAME", "STRING_INVERTED_INDEX_NAME",
    "STRING_VALUE_NAME", "VECTOR_INDEX_NAME", "BoolInvertedIndexType", "BoolValueType", "FloatInvertedIndexType",
    "FloatListValueType", "FloatValueType", "FtsIndexType", "IntInvertedIndexType", "IntValueType", "Schema",
    "SparseVectorIndexType", "SparseVectorValueType", "StringInvertedIndexType", "StringValueType", "ValueTypes",
    "VectorIndexType",
}


def __getattr__(name: str) -> Any:
    if name in _CONFIG_NAMES:
        from chroma_frame.schema import configs

        return getattr(configs, name)
    if name in _MODEL_NAMES:
        from chroma_frame.schema import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def schema_json(schema: object) -> dict | None:
    """The JSON of a ``schema=`` argument: a Schema (ours or chromadb's), its JSON dict, or None."""
    if schema is None or isinstance(schema, dict):
        return schema
    return schema.serialize_to_json()  # type: ignore[attr-defined]


def register_schema_functions(schema: object) -> None:
    """Register the classes of a Schema's embedding functions, so the collection can rebuild them."""
    if type(schema).__module__ != "chroma_frame.schema.model":
        return
    from chroma_frame.embeddings.registry import config_from_ef, register_sparse_embedding_function

    for value_types in (schema.defaults, *schema.keys.values()):  # type: ignore[attr-defined]
        vector = value_types.float_list.vector_index if value_types.float_list else None
        if vector is not None and vector.config.embedding_function is not None:
            config_from_ef(vector.config.embedding_function)
        sparse = value_types.sparse_vector.sparse_vector_index if value_types.sparse_vector else None
        if sparse is not None and sparse.config.embedding_function is not None:
            register_sparse_embedding_function(type(sparse.config.embedding_function))


__all__ = sorted(  # noqa: PLE0605  (sorted() gives the list that ruff cannot see)
    _CONFIG_NAMES | _MODEL_NAMES | {"DOCUMENT_KEY", "EMBEDDING_KEY", "schema_json", "register_schema_functions"}
)
