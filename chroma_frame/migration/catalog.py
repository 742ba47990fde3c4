"""A Chroma collection's catalog row as chroma-frame's collection record (same id, name, metadata,
configuration, embedding function config and schema)."""

from __future__ import annotations

from typing import Any

from chroma_frame.errors import ChromaError
from chroma_frame.migration.sqlite_source import SourceCollection
from chroma_frame.schema.reconcile import configuration_from_schema, schema_from_configuration
from chroma_frame.validation.configuration import prepare_create_collection

_RENAMED = {"M": "max_neighbors"}  # chromadb 0.6's hnsw_configuration spelling


def _base_configuration(collection: SourceCollection) -> dict[str, Any]:
    """The configuration of a collection created with its metadata (legacy ``hnsw:*`` keys count),
    then the HNSW settings of its stored configuration (a directory written before Chroma kept schemas)."""
    try:
        config = prepare_create_collection(collection.name, collection.metadata, None, None)
    except (ChromaError, ValueError, TypeError):  # metadata Chroma once accepted: the defaults then
        config = prepare_create_collection(collection.name, None, None, None)
    stored = collection.config.get("hnsw") or collection.config.get("hnsw_configuration") or {}
    for key, value in stored.items():
        key = _RENAMED.get(key, key)
        if key in config["hnsw"] and value is not None:
            config["hnsw"][key] = value
    config["embedding_function"] = collection.config.get("embedding_function")
    return config


def collection_record(collection: SourceCollection) -> dict[str, Any]:
    """The record chroma-frame's catalog keeps for ``collection``."""
    config = _base_configuration(collection)
    record: dict[str, Any] = {
        "id": collection.id, "name": collection.name, "tenant": collection.tenant, "database": collection.database,
        "metadata": collection.metadata,
    }
    if collection.schema is None:  # written before Chroma kept schemas: the configuration says it all
        record["configuration_json"] = config
        return record
    config = configuration_from_schema(collection.schema, config)
    record["configuration_json"] = config
    if collection.schema != schema_from_configuration(config):  # else it is derived when read
        record["serialized_schema"] = collection.schema
    return record


def space_of(record: dict[str, Any]) -> str:
    """The distance space of a collection record (``l2``, ``cosine`` or ``ip``)."""
    return (record["configuration_json"].get("hnsw") or {}).get("space") or "l2"
