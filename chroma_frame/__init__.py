"""chroma-frame: Chroma's API on Arrow, Parquet and DuckDB.

>>> import chroma_frame as chromadb
>>> client = chromadb.EphemeralClient()
"""

from typing import Any

from chroma_frame import errors
from chroma_frame.api.types import (
    Documents,
    EmbeddingFunction,
    Embeddings,
    GetResult,
    IDs,
    Include,
    Metadata,
    Metadatas,
    QueryResult,
    Where,
    WhereDocument,
)
from chroma_frame.base_types import SparseVector
from chroma_frame.client import AdminClient, Client, EphemeralClient, PersistentClient
from chroma_frame.collection import Collection
from chroma_frame.config import DEFAULT_DATABASE, DEFAULT_TENANT
from chroma_frame.embeddings.sparse import SparseEmbeddingFunction, SparseVectors
from chroma_frame.interop.results import FramedGetResult, FramedQueryResult
from chroma_frame.version import __version__ as __version__

# Chroma's Schema and index configs are pydantic models: imported on first use (cold start).
_SCHEMA_NAMES = ("Cmek", "Schema", "VectorIndexConfig", "HnswIndexConfig", "SpannIndexConfig", "FtsIndexConfig",
                 "SparseVectorIndexConfig", "StringInvertedIndexConfig", "IntInvertedIndexConfig",
                 "FloatInvertedIndexConfig", "BoolInvertedIndexConfig")
# The Search API's expressions: also on first use.
_SEARCH_NAMES = ("GroupBy", "K", "Key", "Knn", "Limit", "MaxK", "MinK", "Rrf", "Search", "Select", "Val")


def __getattr__(name: str) -> Any:
    # The HTTP clients pull in httpx; load them only when asked for.
    if name in ("HttpClient", "AsyncHttpClient"):
        from chroma_frame import http_client

        return getattr(http_client, name)
    if name in _SCHEMA_NAMES:
        from chroma_frame import schema

        return getattr(schema, name)
    if name in _SEARCH_NAMES:
        from chroma_frame.execution import expression

        return getattr(expression, name)
    if name == "Settings":  # pydantic-settings: on first use
        from chroma_frame.settings import Settings

        return Settings
    if name == "migrate":  # copy a Chroma directory (docs/migrate.md)
        from chroma_frame.migration import migrate

        return migrate
    if name == "ReadLevel":
        from chroma_frame.execution.executor.inputs import ReadLevel

        return ReadLevel
    raise AttributeError(f"module 'chroma_frame' has no attribute {name!r}")

_settings: Any = None  # made on first get_settings()


def configure(**kwargs: Any) -> None:
    """Replace the module-level settings, as ``chromadb.configure`` does."""
    global _settings
    from chroma_frame.settings import Settings

    _settings = Settings(**kwargs)


def get_settings() -> Any:
    global _settings
    if _settings is None:
        from chroma_frame.settings import Settings

        _settings = Settings()
    return _settings


__all__ = [
    "BoolInvertedIndexConfig",
    "Cmek",
    "FloatInvertedIndexConfig",
    "FtsIndexConfig",
    "HnswIndexConfig",
    "IntInvertedIndexConfig",
    "Schema",
    "SpannIndexConfig",
    "SparseEmbeddingFunction",
    "SparseVector",
    "SparseVectorIndexConfig",
    "SparseVectors",
    "StringInvertedIndexConfig",
    "VectorIndexConfig",
    "AdminClient",
    "AsyncHttpClient",
    "Client",
    "Collection",
    "DEFAULT_DATABASE",
    "DEFAULT_TENANT",
    "Documents",
    "EmbeddingFunction",
    "Embeddings",
    "EphemeralClient",
    "FramedGetResult",
    "FramedQueryResult",
    "GetResult",
    "GroupBy",
    "HttpClient",
    "IDs",
    "Include",
    "K",
    "Key",
    "Knn",
    "Limit",
    "MaxK",
    "Metadata",
    "Metadatas",
    "MinK",
    "PersistentClient",
    "QueryResult",
    "ReadLevel",
    "Rrf",
    "Search",
    "Select",
    "Settings",
    "Val",
    "Where",
    "WhereDocument",
    "configure",
    "errors",
    "get_settings",
]
