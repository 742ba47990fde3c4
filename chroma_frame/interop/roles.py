"""Which source column is the id, the document, the embedding, the uri, and which are metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pyarrow as pa

from chroma_frame.interop.sources import Source

_CONVENTIONAL = {"document": ("document", "documents"), "embedding": ("embedding", "embeddings"),
                 "uri": ("uri", "uris")}


@dataclass
class Roles:
    """Which source column plays which part."""

    id: str
    document: str | None
    embedding: str | None
    uri: str | None
    metadata: list[tuple[str, str]] = field(default_factory=list)  # (column, key)
    long_metadata: str | None = None  # a stored-form ``metadata`` column (from export_parquet)

    @property
    def columns(self) -> list[str]:
        cols = [self.id, self.document, self.embedding, self.uri, self.long_metadata]
        return [c for c in cols if c is not None] + [c for c, _ in self.metadata]


def resolve_roles(source: Source, id_column: str, document_column: str | None, embedding_column: str | None,
                  uri_column: str | None, metadata_columns: Sequence[str] | Mapping[str, str] | None,
                  long_metadata: bool) -> Roles:
    names = source.names

    def pick(given: str | None, part: str) -> str | None:
        if given is not None:
            if given not in names:
                raise ValueError(f"ingest: no {part} column {given!r} in the source (columns: {names})")
            return given
        return next((c for c in _CONVENTIONAL[part] if c in names), None)

    if id_column not in names:
        raise ValueError(f"ingest: no id column {id_column!r} in the source (columns: {names})")
    roles = Roles(id_column, pick(document_column, "document"), pick(embedding_column, "embedding"),
                  pick(uri_column, "uri"))
    taken = {c for c in (roles.id, roles.document, roles.embedding, roles.uri) if c}
    if metadata_columns is None:
        if long_metadata and "metadata" in names:
            roles.long_metadata = "metadata"
            taken.add("metadata")
        roles.metadata = [(c, c) for c in names if c not in taken]
    else:
        pairs = (metadata_columns.items() if isinstance(metadata_columns, Mapping)
                 else [(c, c) for c in metadata_columns])
        for column, _ in pairs:
            if column not in names:
                raise ValueError(f"ingest: no metadata column {column!r} in the source (columns: {names})")
        roles.metadata = list(pairs)
    return roles


def is_long_form(dtype: pa.DataType) -> bool:
    """A ``list<struct<key, ...>>`` column: metadata in the stored form (see export_parquet)."""
    return ((pa.types.is_list(dtype) or pa.types.is_large_list(dtype)) and pa.types.is_struct(dtype.value_type)
            and {f.name for f in dtype.value_type} >= {"key", "str_value", "int_value", "float_value", "bool_value"})
